//! The daemon running closure sync against the sync crate's fakes: findings become issues,
//! then a webhook naming a closed issue resolves its finding, a bulk-update webhook (no single
//! issue) triggers a poll that suppresses the linked ones, a reopen goes back to NOTIFIED, and
//! the `closure_sync` job is scheduled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fb_daemon::adapters::PipelineEngine;
use fb_daemon::backend::{Backend, BoxError, Engine};
use fb_daemon::metrics::Metrics;
use fb_daemon::runtime::Runtime;
use fb_sync::closure::fake::{FakeBacklog, HUMAN};
use fb_sync::closure::ClosurePolicy;
use fb_sync::testing::{FakeTracker, FakeWriter};
use fb_sync::PipelineSettings;
use futures::future::BoxFuture;
use serde_json::json;
use support::{asff_event, TestDaemon};

#[derive(Clone)]
struct FakesBackend {
    tracker: Arc<FakeTracker>,
    writer: Arc<FakeWriter>,
    backlog: Arc<FakeBacklog>,
}

impl Backend for FakesBackend {
    fn prepare(
        &self,
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        _metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        let this = self.clone();
        Box::pin(async move {
            let settings = PipelineSettings {
                retry_base: Duration::from_millis(10),
                retry_max: Duration::from_millis(100),
                ..PipelineSettings::default()
            };
            let policy = ClosurePolicy {
                closed_status_ids: [4].into(),
                suppress_resolution_ids: [1, 2, 3].into(),
            };
            let engine = PipelineEngine::new(runtime, store, this.tracker, this.writer, settings)
                .with_closure(this.backlog, policy);
            Ok(Arc::new(engine) as Arc<dyn Engine>)
        })
    }
}

fn finding_key(n: usize) -> String {
    let event = asff_event(n, "GuardDuty");
    let parsed = fb_model::finding::parse_event(event.to_string().as_bytes()).unwrap();
    parsed.findings[0].key.clone()
}

async fn webhook(d: &TestDaemon, payload: serde_json::Value) {
    let url = d.url(&format!("/v1/backlog/webhook/{}", d.secrets.webhook_token));
    let resp = d.http.post(url).json(&payload).send().await.unwrap();
    assert_eq!(resp.status(), 204);
}

fn workflow(backend: &FakesBackend, n: usize) -> Option<String> {
    backend.writer.written(&finding_key(n)).map(|(w, _)| w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_polls_carry_closes_and_reopens_to_security_hub() {
    let backend = FakesBackend {
        tracker: Arc::new(FakeTracker::new()),
        writer: Arc::new(FakeWriter::new()),
        backlog: Arc::new(FakeBacklog::new()),
    };
    let d = TestDaemon::start(Arc::new(backend.clone()), false).await;
    for n in 0..4 {
        let key = d.secrets.ingest_key.clone();
        let (code, _) = d
            .post_event(Some(&key), asff_event(n, "GuardDuty").to_string())
            .await;
        assert_eq!(code, 202);
    }
    d.until("every finding is NOTIFIED", || async {
        (0..4).all(|n| workflow(&backend, n).as_deref() == Some("NOTIFIED"))
    })
    .await;
    let issue_of = |n: usize| {
        let key = finding_key(n);
        backend
            .tracker
            .issues()
            .into_iter()
            .find(|i| i.description.contains(&key))
            .unwrap()
            .key
    };
    for n in 0..4 {
        backend.backlog.add_issue(&issue_of(n));
    }

    // A type-2 webhook naming the issue: the hint re-reads it.
    let first = issue_of(0);
    backend
        .backlog
        .set_status(&first, HUMAN, (4, "Closed"), Some((0, "Fixed")));
    let key_id: u64 = first.trim_start_matches("SEC-").parse().unwrap();
    webhook(
        &d,
        json!({"id": 1, "type": 2, "project": {"id": 1, "projectKey": "SEC", "name": "SEC"},
               "content": {"id": key_id, "key_id": key_id, "summary": "s",
                           "changes": [{"field": "status", "new_value": "1", "old_value": "4"}]},
               "createdUser": {"id": HUMAN, "name": "someone"}}),
    )
    .await;
    d.until("the closed issue's finding is RESOLVED", || async {
        workflow(&backend, 0).as_deref() == Some("RESOLVED")
    })
    .await;
    let (_, note) = backend.writer.written(&finding_key(0)).unwrap();
    assert!(note.contains(&first), "{note}");

    // A type-14 webhook (bulk update, no single issue): a poll follows its links.
    let (second, third) = (issue_of(1), issue_of(2));
    backend
        .backlog
        .bulk_close(&[&second, &third], HUMAN, (1, "Won't Fix"));
    webhook(
        &d,
        json!({"id": 2, "type": 14, "project": {"id": 1, "projectKey": "SEC", "name": "SEC"},
               "content": {"tx_id": 9, "link": [], "changes": []},
               "createdUser": {"id": HUMAN, "name": "someone"}}),
    )
    .await;
    d.until("the bulk-closed findings are SUPPRESSED", || async {
        workflow(&backend, 1).as_deref() == Some("SUPPRESSED")
            && workflow(&backend, 2).as_deref() == Some("SUPPRESSED")
    })
    .await;

    // Reopen, delivered as a hint again.
    backend.backlog.set_status(&first, HUMAN, (1, "Open"), None);
    webhook(
        &d,
        json!({"id": 3, "type": 2, "project": {"id": 1, "projectKey": "SEC", "name": "SEC"},
               "content": {"id": key_id, "key_id": key_id}, "createdUser": {"id": HUMAN}}),
    )
    .await;
    d.until("the reopened issue's finding is NOTIFIED", || async {
        workflow(&backend, 0).as_deref() == Some("NOTIFIED")
    })
    .await;
    assert_eq!(workflow(&backend, 3).as_deref(), Some("NOTIFIED"));

    let status = d.status().await;
    assert!(status.jobs.contains_key("closure_sync"));
    assert!(status.webhook.note.contains("closure sync"));
    d.stop().await.0.unwrap();
}
