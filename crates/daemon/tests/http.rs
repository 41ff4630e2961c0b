//! The HTTP surface of an in-process daemon: intake answers, nothing stored for bad input,
//! readiness transitions, metrics after a known scenario, webhook tokens, graceful stop.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;
use support::{asff_event, FakeBackend, FakeControl, TestDaemon};

fn fake() -> (Arc<FakeControl>, FakeBackend) {
    let control = Arc::new(FakeControl::default());
    (control.clone(), FakeBackend(control))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_answers_and_stores_only_accepted_events() {
    let (_control, backend) = fake();
    let d = TestDaemon::start(Arc::new(backend), false).await;
    let key = d.secrets.ingest_key.clone();
    let good = asff_event(1, "GuardDuty").to_string();

    // 401: no key, wrong key (even with a valid body).
    let (s, body) = d.post_event(None, good.clone()).await;
    assert_eq!(s, 401);
    assert!(body["error"].as_str().unwrap().contains("X-Api-Key"));
    let (s, _) = d.post_event(Some("not-the-key"), good.clone()).await;
    assert_eq!(s, 401);
    let (s, _) = d.post_event(Some(&format!("{key}x")), good.clone()).await;
    assert_eq!(s, 401);

    // 413 with a JSON error body.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let (s, body) = d.post_event(Some(&key), big).await;
    assert_eq!(s, 413);
    assert!(body["error"].as_str().unwrap().contains("262144"), "{body}");

    // 400: not JSON, JSON but not an object, an object that is not a findings event.
    for bad in [
        "not json".to_owned(),
        "[1,2]".to_owned(),
        r#"{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}"#
            .to_owned(),
    ] {
        let (s, body) = d.post_event(Some(&key), bad.clone()).await;
        assert_eq!(s, 400, "{bad}");
        assert!(body["error"].is_string(), "{bad} → {body}");
    }

    // 202 ignored: a finding no relay rule matches (another product).
    let (s, body) = d
        .post_event(Some(&key), asff_event(2, "Inspector").to_string())
        .await;
    assert_eq!((s, body["result"].as_str()), (202, Some("ignored")));

    // 202 accepted, twice the same finding (dedupe is the pipeline's job), one other.
    for body in [
        good.clone(),
        good.clone(),
        asff_event(3, "GuardDuty").to_string(),
    ] {
        let (s, answer) = d.post_event(Some(&key), body).await;
        assert_eq!((s, answer["result"].as_str()), (202, Some("accepted")));
    }
    let status = d.status().await;
    assert_eq!(status.queues.inbox, 3);
    assert_eq!(status.counters.events_accepted, 3);
    assert_eq!(status.counters.events_ignored, 1);
    assert_eq!(status.counters.events_rejected, 7);

    let (result, _dir, store_path) = d.stop().await;
    result.unwrap();
    // Exactly the accepted bodies are in the inbox, in order.
    let store = fb_store::Store::open(&store_path).unwrap();
    let pending = store.inbox_pending(100).unwrap();
    let bodies: Vec<Value> = pending
        .iter()
        .map(|(_, e)| serde_json::from_str(&e.body).unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![
            asff_event(1, "GuardDuty"),
            asff_event(1, "GuardDuty"),
            asff_event(3, "GuardDuty")
        ]
    );
    assert!(pending
        .iter()
        .all(|(_, e)| e.origin == fb_store::EventOrigin::Relay));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_backlog_then_the_worker_drains() {
    let (control, backend) = fake();
    control.fail_prepare.store(true, Ordering::SeqCst);
    control.drain.store(true, Ordering::SeqCst);
    let d = TestDaemon::start(Arc::new(backend), false).await;

    let (s, _) = d.get_text("/healthz").await;
    assert_eq!(s, 200);
    d.until("prepare failed at least once", || async {
        control.prepares.load(Ordering::SeqCst) >= 1
    })
    .await;
    let (s, text) = d.get_text("/readyz").await;
    assert_eq!(s, 503);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["ready"], false);
    let reasons = body["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{body}");
    assert!(reasons[0]
        .as_str()
        .unwrap()
        .contains("backlog: Backlog: connection refused"));

    let status = d.status().await;
    let engine = &status.tasks["engine"];
    assert_eq!(engine.state, "preparing");
    assert_eq!(
        engine.last_error.as_deref(),
        Some("Backlog: connection refused")
    );
    assert!(status.problems().len() >= 2, "{:?}", status.problems());

    // Events are accepted durably while not ready; nothing is processed yet.
    let key = d.secrets.ingest_key.clone();
    let (s, _) = d
        .post_event(Some(&key), asff_event(1, "GuardDuty").to_string())
        .await;
    assert_eq!(s, 202);
    assert_eq!(control.processed.load(Ordering::SeqCst), 0);

    control.fail_prepare.store(false, Ordering::SeqCst);
    d.until("ready", || async { d.get_text("/readyz").await.0 == 200 })
        .await;
    d.until("the waiting event is processed", || async {
        control.processed.load(Ordering::SeqCst) == 1
    })
    .await;
    // Backfill runs once at start once ready.
    d.until("backfill ran at start", || async {
        d.status()
            .await
            .jobs
            .get("backfill")
            .is_some_and(|j| j.runs == 1)
    })
    .await;
    let status = d.status().await;
    assert!(status.ready);
    assert!(status.not_ready_reasons.is_empty());
    assert_eq!(status.queues.inbox, 0);
    assert_eq!(status.tasks["engine"].state, "ready");
    assert_eq!(status.tasks["engine"].last_error, None);
    assert!(status.tasks["worker"].runs >= 1);
    assert!(status.problems().is_empty(), "{:?}", status.problems());
    assert!(
        !status.jobs.contains_key("closure_sync"),
        "closure sync is not scheduled in this build"
    );
    d.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_known_scenario() {
    let (control, backend) = fake();
    control.drain.store(true, Ordering::SeqCst);
    let d = TestDaemon::start(Arc::new(backend), false).await;
    let key = d.secrets.ingest_key.clone();
    for n in 0..4 {
        let (s, _) = d
            .post_event(Some(&key), asff_event(n, "GuardDuty").to_string())
            .await;
        assert_eq!(s, 202);
    }
    d.post_event(Some(&key), asff_event(9, "Macie").to_string())
        .await;
    d.post_event(None, "{}").await;
    d.post_event(Some(&key), "{").await;
    d.until("all four processed", || async {
        control.processed.load(Ordering::SeqCst) == 4
    })
    .await;
    d.until("ready", || async { d.get_text("/readyz").await.0 == 200 })
        .await;
    d.until("issues counted", || async {
        d.status().await.counters.issues_created == 4
    })
    .await;

    let (s, text) = d.get_text("/metrics").await;
    assert_eq!(s, 200);
    for line in [
        r#"findings_bridge_events_total{result="accepted",reason=""} 4"#,
        r#"findings_bridge_events_total{result="ignored",reason=""} 1"#,
        r#"findings_bridge_events_total{result="rejected",reason="unauthorized"} 1"#,
        r#"findings_bridge_events_total{result="rejected",reason="malformed"} 1"#,
        "findings_bridge_issues_created_total 4",
        r#"findings_bridge_queue_depth{queue="inbox"} 0"#,
        "findings_bridge_ready 1",
        r#"findings_bridge_job_runs_total{job="backfill",result="ok"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
    d.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_needs_its_token_and_keeps_a_hint() {
    let (_control, backend) = fake();
    let d = TestDaemon::start(Arc::new(backend), false).await;
    let payload =
        r#"{"id":7,"type":2,"project":{"projectKey":"SEC"},"content":{"key_id":12,"summary":"x"}}"#;
    let post = |path: String| {
        d.http
            .post(d.url(&path))
            .header("content-type", "application/json")
            .body(payload)
            .send()
    };
    assert_eq!(
        post("/v1/backlog/webhook/wrong".into())
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        post("/v1/backlog/webhook/".into()).await.unwrap().status(),
        404
    );
    let token = d.secrets.webhook_token.clone();
    let resp = post(format!("/v1/backlog/webhook/{token}")).await.unwrap();
    assert_eq!(resp.status(), 204);
    let status = d.status().await;
    assert_eq!(status.webhook.hints_received, 1);
    assert!(status.webhook.note.contains("not enabled"));
    let text = serde_json::to_string(&status).unwrap();
    assert!(!text.contains(&token), "the token is never shown");
    assert!(!text.contains(&d.secrets.ingest_key));
    d.stop().await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_config_identity_reconcile_places_and_jobs() {
    let (control, backend) = fake();
    let d = TestDaemon::start(Arc::new(backend), false).await;
    d.until("ready", || async { d.get_text("/readyz").await.0 == 200 })
        .await;
    let status = d.status().await;
    let bytes = std::fs::read(&d.config_path).unwrap();
    assert_eq!(status.config.hash, fb_daemon::runtime::sha256_hex(&bytes));
    assert!(status.config.loaded_at.is_some());
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    // The reconcile runs once at start, then waits for its schedule.
    d.until("the start-up reconcile", || async {
        d.status().await.jobs["reconcile"].runs == 1
    })
    .await;
    assert_eq!(control.reconciles.load(Ordering::SeqCst), 1);
    assert!(d.status().await.jobs["reconcile"].next_run.is_some());
    d.stop().await.0.unwrap();
}
