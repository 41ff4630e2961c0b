//! Config reload on file change: a broken file is refused (old config keeps running, errors in
//! status and metrics), a good one is swapped in and triggers a reconcile.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::{asff_event, config_yaml, FakeBackend, FakeControl, Secrets, TestDaemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_file_is_refused_and_good_file_is_applied() {
    let control = Arc::new(FakeControl::default());
    let d = TestDaemon::start(Arc::new(FakeBackend(control.clone())), true).await;
    d.until("ready", || async { d.get_text("/readyz").await.0 == 200 })
        .await;
    d.until("the start-up reconcile ran", || async {
        d.status()
            .await
            .jobs
            .get("reconcile")
            .is_some_and(|j| j.runs == 1)
    })
    .await;
    let first = d.status().await;
    let old_key = d.secrets.ingest_key.clone();
    let event = asff_event(1, "GuardDuty").to_string();

    // A broken file: two problems, both reported; the old config keeps running.
    let good_text = std::fs::read_to_string(&d.config_path).unwrap();
    let broken = good_text
        .replace("version: 1", "version: 7")
        .replace("regions: [us-east-1]", "regions: [mars-north-1]");
    std::fs::write(&d.config_path, &broken).unwrap();
    d.until("the broken file is refused", || async {
        d.status().await.last_config_error.is_some()
    })
    .await;
    let status = d.status().await;
    let refused = status.last_config_error.clone().unwrap();
    assert!(
        refused.errors.iter().any(|e| e.contains("version")),
        "{refused:?}"
    );
    assert!(
        refused.errors.iter().any(|e| e.contains("mars-north-1")),
        "{refused:?}"
    );
    assert_eq!(
        refused.hash,
        Some(fb_daemon::runtime::sha256_hex(broken.as_bytes()))
    );
    assert_eq!(
        status.config.hash, first.config.hash,
        "the old config still runs"
    );
    assert!(status.problems().iter().any(|p| p.contains("refused")));
    assert_eq!(d.post_event(Some(&old_key), event.clone()).await.0, 202);
    let (_, metrics) = d.get_text("/metrics").await;
    assert!(metrics.contains(r#"findings_bridge_config_reloads_total{result="refused"}"#));
    assert_eq!(
        control.reconciles.load(Ordering::SeqCst),
        1,
        "a refused file triggers no reconcile (the one run is the start-up run)"
    );

    // A good file with a new ingest key: swapped in, reconcile triggered.
    let new_secrets = Secrets::new();
    let new_text = config_yaml(&new_secrets, "http://127.0.0.1:9", &d.store_path);
    std::fs::write(&d.config_path, &new_text).unwrap();
    let new_hash = fb_daemon::runtime::sha256_hex(new_text.as_bytes());
    d.until("the new file is applied", || async {
        d.status().await.config.hash == new_hash
    })
    .await;
    d.until("the reload triggered a reconcile", || async {
        d.status()
            .await
            .jobs
            .get("reconcile")
            .is_some_and(|j| j.runs >= 2)
    })
    .await;
    let status = d.status().await;
    assert_eq!(
        status.last_config_error, None,
        "a good config clears the refusal"
    );
    assert_eq!(status.reconcile.len(), 1);
    assert_eq!(status.reconcile[0].drift, 2);
    assert!(control.prepares.load(Ordering::SeqCst) >= 2);
    assert_eq!(d.post_event(Some(&old_key), event.clone()).await.0, 401);
    assert_eq!(
        d.post_event(Some(&new_secrets.ingest_key), event).await.0,
        202
    );
    let (_, metrics) = d.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"findings_bridge_drift{account="111111111111",region="us-east-1"} 2"#)
    );
    d.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_whose_backend_cannot_prepare_is_refused() {
    let control = Arc::new(FakeControl::default());
    let d = TestDaemon::start(Arc::new(FakeBackend(control.clone())), true).await;
    d.until("ready", || async { d.get_text("/readyz").await.0 == 200 })
        .await;
    let before = d.status().await.config.hash;
    // The file is valid, but its Backlog side cannot be prepared (say, a priority renamed).
    control.fail_prepare.store(true, Ordering::SeqCst);
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    std::fs::write(
        &d.config_path,
        text.replace("rate_limit_per_second: 2", "rate_limit_per_second: 3"),
    )
    .unwrap();
    d.until("the change is refused", || async {
        d.status().await.last_config_error.is_some()
    })
    .await;
    let status = d.status().await;
    let errors = status.last_config_error.unwrap().errors;
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("cannot prepare the new configuration: Backlog: connection refused"));
    assert_eq!(status.config.hash, before, "the old config keeps running");
    assert!(status.ready, "the running engine is still ready");
    d.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_schedules_rebuild_the_scheduler_and_keep_its_history() {
    let control = Arc::new(FakeControl::default());
    let d = TestDaemon::start(Arc::new(FakeBackend(control.clone())), true).await;
    d.until("the start-up backfill and reconcile ran", || async {
        let jobs = d.status().await.jobs;
        jobs.get("backfill").is_some_and(|j| j.runs == 1)
            && jobs.get("reconcile").is_some_and(|j| j.runs == 1)
    })
    .await;
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    let changed = text.replace(
        "  reconcile: \"0 0 0 1 1 * 2099\"",
        "  reconcile: \"0 0 0 1 1 * 2098\"",
    );
    assert_ne!(changed, text);
    std::fs::write(&d.config_path, changed).unwrap();
    d.until("the rebuilt scheduler triggered a reconcile", || async {
        d.status()
            .await
            .jobs
            .get("reconcile")
            .is_some_and(|j| j.runs == 2)
    })
    .await;
    let jobs = d.status().await.jobs;
    assert_eq!(
        jobs["reconcile"].next_run,
        Some("2098-01-01T00:00:00Z".parse().unwrap()),
        "the new schedule is in force"
    );
    assert!(jobs["backfill"].runs >= 1, "the history is kept: {jobs:?}");
    assert_eq!(control.reconciles.load(Ordering::SeqCst), 2);
    d.stop().await.0.unwrap();
}
