//! Backfill: NEW findings the rules match are read page by page and fed to the inbox (origin
//! Backfill); known ones are skipped; the pipeline then files their issues.

mod common;

use common::*;
use fb_store::EventOrigin;
use fb_sync::testing::Op;
use serde_json::{json, Value};

fn finding_of(event: &Value) -> Value {
    event["detail"]["findings"][0].clone()
}

#[tokio::test]
async fn backfill_feeds_unknown_matching_findings_into_the_inbox() {
    let h = Harness::new();
    // Finding 1 already has its issue.
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.drain().await;

    h.writer.set_page_size(2);
    for n in [1, 2, 3] {
        h.writer
            .add_finding(finding_of(&gd_event(n, "NEW", T1, "HIGH")));
    }
    // Filtered out by GetFindings (not NEW) and by the rules (INFORMATIONAL is not matched).
    h.writer
        .add_finding(finding_of(&gd_event(4, "NOTIFIED", T1, "HIGH")));
    h.writer
        .add_finding(finding_of(&gd_event(5, "NEW", T1, "INFORMATIONAL")));

    let report = h.pipeline.backfill().await.unwrap();
    assert_eq!(
        (
            report.pages,
            report.fetched,
            report.queued,
            report.known,
            report.unmatched
        ),
        (2, 4, 2, 1, 1)
    );
    let query = &h.writer.queries()[0];
    assert_eq!(query.workflow_statuses, vec!["NEW".to_string()]);
    assert_eq!(query.record_states, vec!["ACTIVE".to_string()]);
    assert!(
        query.product_names.is_empty(),
        "the raw-pattern rule needs every product: {query:?}"
    );
    let inbox = h.store.inbox_pending(10).unwrap();
    assert_eq!(inbox.len(), 2);
    assert!(inbox.iter().all(|(_, e)| e.origin == EventOrigin::Backfill));

    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 3);
    assert_eq!(h.tracker.calls(Op::Create), 3);
    assert_eq!(h.pipeline.stats().snapshot().backfill_queued, 2);

    // Run again: everything is known now.
    let again = h.pipeline.backfill().await.unwrap();
    assert_eq!((again.queued, again.known), (0, 3));
}

#[tokio::test]
async fn backfill_query_filters_products_when_every_rule_names_them() {
    let yaml = config_yaml("reopen");
    let start = yaml.find("  - name: controls").unwrap();
    let end = yaml.find("server:").unwrap();
    let only_guardduty = format!("{}{}", &yaml[..start], &yaml[end..]);
    let config = fb_model::config::parse_str(&only_guardduty, "t.yaml").expect("valid");
    let h = Harness::new();
    h.pipeline.set_config(std::sync::Arc::new(config));
    h.writer.add_finding(json!({"not": "a finding"}));
    let report = h.pipeline.backfill().await.unwrap();
    assert_eq!(
        h.writer.queries()[0].product_names,
        vec!["GuardDuty".to_string()]
    );
    assert_eq!(report.fetched, 0, "the fake filters by product too");
}

#[tokio::test]
async fn invalid_findings_are_skipped() {
    let h = Harness::new();
    h.writer
        .add_finding(json!({"Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE"}));
    let report = h.pipeline.backfill().await.unwrap();
    assert_eq!((report.invalid, report.queued), (1, 0));
    assert_eq!(h.store.inbox_len(), 0);
}

#[tokio::test]
async fn unfinished_intents_without_a_delivery_are_resolved_at_backfill() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.drain().await;

    // An orphaned intent as a crash leaves it: no inbox event, the issue exists in the tracker.
    let orphan = finding_id(2);
    h.store
        .put_intent(&fb_store::CreateIntent {
            finding_key: orphan.clone(),
            rule: "guardduty".into(),
            started_at: chrono::Utc::now(),
            attempts: 1,
        })
        .await
        .unwrap();
    let issue = fb_sync::NewIssue {
        summary: "created before the crash".into(),
        description: fb_model::template::append_marker("body", &orphan),
        issue_type: "Task".into(),
        priority: "High".into(),
    };
    use fb_sync::IssueTracker;
    h.tracker.create_issue(&issue).await.unwrap();
    h.writer
        .add_finding(finding_of(&gd_event(2, "NEW", T1, "HIGH")));
    // And a stale intent whose mapping already has the issue.
    h.store
        .put_intent(&fb_store::CreateIntent {
            finding_key: finding_id(1),
            rule: "guardduty".into(),
            started_at: chrono::Utc::now(),
            attempts: 1,
        })
        .await
        .unwrap();

    let report = h.pipeline.backfill().await.unwrap();
    assert_eq!((report.stale_intents, report.intents_requeued), (1, 1));
    assert!(h.store.intent(&finding_id(1)).unwrap().is_none());
    h.drain().await;
    assert_eq!(
        h.tracker.issues().len(),
        2,
        "the orphan's issue is adopted, not created again"
    );
    let m = h.store.mapping(&orphan).unwrap().unwrap();
    assert_eq!(m.issue_key.as_deref(), Some("SEC-2"));
    assert!(h.store.intent(&orphan).unwrap().is_none());
}

/// A writer that ignores the `Id` filter must not make intent resolution queue other findings.
#[tokio::test]
async fn intent_resolution_queues_only_the_asked_findings() {
    struct Unfiltered(fb_sync::testing::FakeWriter);
    #[async_trait::async_trait]
    impl fb_sync::FindingsWriter for Unfiltered {
        async fn batch_update(
            &self,
            updates: &[fb_sync::WorkflowUpdate],
        ) -> Result<fb_sync::BatchResult, fb_sync::WriterError> {
            self.0.batch_update(updates).await
        }
        async fn get_findings(
            &self,
            query: &fb_sync::FindingQuery,
        ) -> Result<fb_sync::FindingsPage, fb_sync::WriterError> {
            let everything = fb_sync::FindingQuery {
                finding_ids: Vec::new(),
                ..query.clone()
            };
            self.0.get_findings(&everything).await
        }
    }
    let inner = fb_sync::testing::FakeWriter::new();
    for n in [1, 2, 3] {
        inner.add_finding(finding_of(&gd_event(n, "NOTIFIED", T1, "HIGH")));
    }
    let store = fb_store::Store::open_temporary().unwrap();
    store
        .put_intent(&fb_store::CreateIntent {
            finding_key: finding_id(2),
            rule: "guardduty".into(),
            started_at: chrono::Utc::now(),
            attempts: 1,
        })
        .await
        .unwrap();
    let pipeline = fb_sync::Pipeline::with_settings(
        store.clone(),
        std::sync::Arc::new(fb_sync::testing::FakeTracker::new()),
        std::sync::Arc::new(Unfiltered(inner)),
        config("reopen"),
        fast_settings(),
    );
    let report = pipeline.backfill().await.unwrap();
    assert_eq!(report.intents_requeued, 1);
    let queued = store.inbox_pending(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].1.body.contains(&finding_id(2)));
}
