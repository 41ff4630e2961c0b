//! The daemon driving the real pipeline against the sync crate's in-memory fakes: concurrent
//! duplicate deliveries give one issue per finding, every finding is written back NOTIFIED
//! with its issue key, metrics count it, and a restart on the same store files nothing twice.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fb_daemon::adapters::PipelineEngine;
use fb_daemon::backend::{Backend, BoxError, Engine};
use fb_daemon::metrics::Metrics;
use fb_daemon::runtime::Runtime;
use fb_sync::testing::{FakeTracker, FakeWriter};
use fb_sync::PipelineSettings;
use futures::future::BoxFuture;
use support::{asff_event, TestDaemon};

/// Builds engines over one shared pair of fakes (they outlive reloads and restarts, like
/// Backlog and Security Hub do).
#[derive(Clone)]
struct FakesBackend {
    tracker: Arc<FakeTracker>,
    writer: Arc<FakeWriter>,
}

impl Backend for FakesBackend {
    fn prepare(
        &self,
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        _metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        let (tracker, writer) = (self.tracker.clone(), self.writer.clone());
        Box::pin(async move {
            let settings = PipelineSettings {
                retry_base: Duration::from_millis(10),
                retry_max: Duration::from_millis(100),
                ..PipelineSettings::default()
            };
            let engine = PipelineEngine::new(runtime, store, tracker, writer, settings);
            Ok(Arc::new(engine) as Arc<dyn Engine>)
        })
    }
}

const FINDINGS: usize = 20;

/// Finding n is delivered 1 + n % 3 times.
fn deliveries() -> Vec<String> {
    let mut all = Vec::new();
    for n in 0..FINDINGS {
        for _ in 0..=(n % 3) {
            all.push(asff_event(n, "GuardDuty").to_string());
        }
    }
    // Interleave deterministically (reordering without a random source).
    let len = all.len();
    (0..len).map(|i| all[(i * 7) % len].clone()).collect()
}

async fn send_all(d: &TestDaemon, bodies: Vec<String>) {
    let key = d.secrets.ingest_key.clone();
    let chunks: Vec<Vec<String>> = bodies.chunks(4).map(<[String]>::to_vec).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in chunks {
        let (http, url, key) = (d.http.clone(), d.url("/v1/events"), key.clone());
        tasks.spawn(async move {
            for body in chunk {
                let resp = http
                    .post(&url)
                    .header("x-api-key", &key)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 202);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_give_one_issue_each_and_survive_a_restart() {
    let backend = FakesBackend {
        tracker: Arc::new(FakeTracker::new()),
        writer: Arc::new(FakeWriter::new()),
    };
    let d = TestDaemon::start(Arc::new(backend.clone()), false).await;
    let bodies = deliveries();
    let total = bodies.len();
    assert_eq!(total, 39);
    send_all(&d, bodies).await;

    d.until("every finding is written back", || async {
        (0..FINDINGS).all(|n| backend.writer.written(&finding_key(n)).is_some())
    })
    .await;
    let issues = backend.tracker.issues();
    assert_eq!(issues.len(), FINDINGS, "exactly one issue per finding");
    for n in 0..FINDINGS {
        let key = finding_key(n);
        let (workflow, note) = backend.writer.written(&key).unwrap();
        assert_eq!(workflow, "NOTIFIED");
        let issue = issues
            .iter()
            .find(|i| i.description.contains(&key))
            .unwrap_or_else(|| panic!("no issue carries {key}"));
        assert!(note.contains(&issue.key), "{note} names {}", issue.key);
    }
    d.until("the inbox and outbox are empty", || async {
        let s = d.status().await;
        s.queues.inbox == 0 && s.queues.outbox == 0
    })
    .await;
    let status = d.status().await;
    assert_eq!(status.counters.events_accepted, total as u64);
    assert_eq!(status.counters.issues_created, FINDINGS as u64);
    assert_eq!(
        status.counters.duplicates_absorbed,
        (total - FINDINGS) as u64
    );
    let (_, metrics) = d.get_text("/metrics").await;
    assert!(metrics.contains(&format!("findings_bridge_issues_created_total {FINDINGS}")));
    assert!(metrics.contains(&format!(
        r#"findings_bridge_writebacks_total{{result="done"}} {FINDINGS}"#
    )));

    // Restart on the same store; every finding delivered again: nothing new is filed.
    let (result, dir, store_path) = d.stop().await;
    result.unwrap();
    let config_path = dir.path().join("findings-bridge.yaml");
    let secrets = support::Secrets::new();
    std::fs::write(
        &config_path,
        support::config_yaml(&secrets, "http://127.0.0.1:9", &store_path),
    )
    .unwrap();
    let d = TestDaemon::start_in(
        dir,
        config_path,
        store_path,
        secrets,
        Arc::new(backend.clone()),
        false,
    )
    .await;
    send_all(
        &d,
        (0..FINDINGS)
            .map(|n| asff_event(n, "GuardDuty").to_string())
            .collect(),
    )
    .await;
    d.until("the re-deliveries are absorbed", || async {
        d.status().await.counters.duplicates_absorbed == FINDINGS as u64
    })
    .await;
    assert_eq!(backend.tracker.issues().len(), FINDINGS);
    d.stop().await.0.unwrap();
}

fn finding_key(n: usize) -> String {
    format!("arn:aws:guardduty:us-east-1:111111111111:detector/d1/finding/f{n:04}")
}
