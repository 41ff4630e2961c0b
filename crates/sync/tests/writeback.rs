//! Write-back: batching (≤ 100 per call, per format), partial failures, retries with backoff,
//! the bound on non-retryable errors, newest-wins for one finding.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use fb_store::OutboxItem;
use fb_sync::PipelineSettings;

async fn with_issues(h: &Harness, n: usize) {
    for i in 0..n {
        h.deliver(&gd_event(i, "NEW", T1, "LOW")).await;
    }
    h.drain().await;
    assert_eq!(h.store.outbox_len(), n);
}

#[tokio::test]
async fn two_hundred_fifty_write_backs_take_three_calls() {
    let h = Harness::new();
    with_issues(&h, 250).await;
    let report = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((report.calls, report.sent), (3, 250));
    let sizes: Vec<usize> = h.writer.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(h.store.outbox_len(), 0);
    for i in [0, 137, 249] {
        let m = h.store.mapping(&finding_id(i)).unwrap().unwrap();
        assert_eq!(m.workflow_written.as_deref(), Some("NOTIFIED"));
        let (workflow, note) = h.writer.written(&finding_id(i)).unwrap();
        assert_eq!(workflow, "NOTIFIED");
        assert_eq!(
            note,
            format!(
                "Backlog {0} https://example.backlog.test/view/{0}",
                m.issue_key.unwrap()
            )
        );
    }
    assert_eq!(h.pipeline.stats().snapshot().writebacks_sent, 250);
}

#[tokio::test]
async fn unprocessed_retryable_findings_are_retried_with_their_error_recorded() {
    let h = Harness::new();
    with_issues(&h, 3).await;
    h.writer
        .unprocess(&finding_id(1), "ConcurrentUpdateError", true, 1);
    let first = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((first.sent, first.retried), (2, 1));
    let pending = h.store.outbox_pending(10).unwrap();
    assert_eq!(pending.len(), 1);
    match &pending[0].1 {
        OutboxItem::WriteBack {
            finding_key,
            attempts,
            last_error,
            ..
        } => {
            assert_eq!(finding_key, &finding_id(1));
            assert_eq!(*attempts, 1);
            assert!(last_error
                .as_deref()
                .unwrap()
                .contains("ConcurrentUpdateError"));
        }
        #[allow(unreachable_patterns)]
        other => panic!("unexpected outbox item {other:?}"),
    }
    let second = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((second.sent, second.calls), (1, 1));
    assert_eq!(h.store.outbox_len(), 0);
}

#[tokio::test]
async fn non_retryable_errors_stop_after_the_bound() {
    let h = Harness::new();
    with_issues(&h, 1).await;
    h.writer
        .unprocess(&finding_id(0), "FindingNotFound", false, 100);
    let mut failed = 0;
    for _ in 0..3 {
        failed += h.pipeline.flush_writebacks().await.unwrap().failed;
    }
    assert_eq!(failed, 1);
    assert_eq!(h.store.outbox_len(), 0);
    assert_eq!(h.writer.batches().len(), 3, "three attempts, then no more");
    h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!(h.writer.batches().len(), 3);
    let m = h.store.mapping(&finding_id(0)).unwrap().unwrap();
    assert_eq!(m.workflow_written, None);
    assert_eq!(h.pipeline.stats().snapshot().writebacks_failed, 1);
}

#[tokio::test]
async fn a_failed_call_keeps_every_item() {
    let h = Harness::new();
    with_issues(&h, 5).await;
    h.writer.fail_calls(1, true);
    let first = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((first.sent, first.retried), (0, 5));
    assert_eq!(h.store.outbox_len(), 5);
    assert_eq!(h.pipeline.flush_writebacks().await.unwrap().sent, 5);
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_their_backoff() {
    let h = Harness::with(
        "reopen",
        PipelineSettings {
            retry_base: Duration::from_secs(10),
            ..PipelineSettings::default()
        },
    );
    with_issues(&h, 1).await;
    h.writer.fail_calls(1, true);
    assert_eq!(h.pipeline.flush_writebacks().await.unwrap().retried, 1);
    let early = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((early.deferred, early.calls), (1, 0));
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(h.pipeline.flush_writebacks().await.unwrap().sent, 1);
}

#[tokio::test]
async fn the_newest_item_for_a_finding_wins() {
    let h = Harness::new();
    with_issues(&h, 1).await;
    h.store
        .push_outbox(&OutboxItem::WriteBack {
            finding_key: finding_id(0),
            workflow: "RESOLVED".into(),
            note: "Backlog SEC-1 closed".into(),
            attempts: 0,
            last_error: None,
            created_at: Utc::now(),
        })
        .unwrap();
    let report = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((report.superseded, report.sent, report.calls), (1, 1, 1));
    assert_eq!(h.writer.written(&finding_id(0)).unwrap().0, "RESOLVED");
}

#[tokio::test]
async fn ocsf_findings_go_in_their_own_batches() {
    let h = Harness::new();
    let mut ocsf = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    let f = &mut ocsf["detail"]["findings"][0];
    f["status_id"] = serde_json::json!(1);
    f["severity_id"] = serde_json::json!(3);
    with_issues(&h, 2).await;
    h.deliver(&ocsf).await;
    h.drain().await;
    assert_eq!(h.pipeline.flush_writebacks().await.unwrap().calls, 2);
    let formats: Vec<_> = h
        .writer
        .batches()
        .iter()
        .map(|b| (b[0].format, b.len()))
        .collect();
    assert!(
        formats.contains(&(fb_store::FindingFormat::Ocsf, 1)),
        "{formats:?}"
    );
    assert!(
        formats.contains(&(fb_store::FindingFormat::Asff, 2)),
        "{formats:?}"
    );
    let ocsf_update = h
        .writer
        .batches()
        .into_iter()
        .flatten()
        .find(|u| u.format == fb_store::FindingFormat::Ocsf)
        .unwrap();
    assert_eq!(ocsf_update.account, "869728294964");
    assert_eq!(
        ocsf_update.product_arn.as_deref(),
        Some("arn:aws:securityhub:us-east-1::productv2/aws/guardduty")
    );
}

/// The OCSF fixture as a NEW finding, with its `metadata.uid` and `finding_info.uid`.
fn ocsf_event() -> (serde_json::Value, String, String) {
    let mut ocsf = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    let f = &mut ocsf["detail"]["findings"][0];
    f["status_id"] = serde_json::json!(1);
    let metadata_uid = f["metadata"]["uid"].as_str().unwrap().to_owned();
    let info_uid = f["finding_info"]["uid"].as_str().unwrap().to_owned();
    (ocsf, metadata_uid, info_uid)
}

fn ocsf_updates(h: &Harness) -> Vec<fb_sync::WorkflowUpdate> {
    h.writer
        .batches()
        .into_iter()
        .flatten()
        .filter(|u| u.format == fb_store::FindingFormat::Ocsf)
        .collect()
}

#[tokio::test]
async fn an_ocsf_write_back_carries_the_findings_metadata_uid() {
    let h = Harness::new();
    let (ocsf, metadata_uid, info_uid) = ocsf_event();
    assert_ne!(
        metadata_uid, info_uid,
        "the fixture must tell the two apart"
    );
    h.deliver(&ocsf).await;
    h.drain().await;
    let mapping = h.store.mapping(&info_uid).unwrap().expect("mapping");
    assert_eq!(mapping.metadata_uid.as_deref(), Some(metadata_uid.as_str()));
    assert_eq!(h.pipeline.flush_writebacks().await.unwrap().sent, 1);
    let updates = ocsf_updates(&h);
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].metadata_uid.as_deref(),
        Some(metadata_uid.as_str())
    );
    assert_eq!(updates[0].finding_id, info_uid);
    assert_eq!(updates[0].workflow, "NOTIFIED");
}

#[tokio::test]
async fn a_mapping_recorded_without_the_metadata_uid_learns_it_from_the_next_delivery() {
    let h = Harness::new();
    let (mut ocsf, metadata_uid, info_uid) = ocsf_event();
    h.deliver(&ocsf).await;
    h.drain().await;
    // As recorded by a release that did not keep the uid.
    let mut old = h.store.mapping(&info_uid).unwrap().expect("mapping");
    old.metadata_uid = None;
    h.store.put_mapping(&old).unwrap();
    h.pipeline.flush_writebacks().await.unwrap();
    let sent = ocsf_updates(&h);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].metadata_uid, None,
        "nothing to send but the fallback"
    );

    ocsf["detail"]["findings"][0]["finding_info"]["modified_time_dt"] =
        serde_json::json!("2099-01-01T00:00:00.000Z");
    h.deliver(&ocsf).await;
    h.drain().await;
    let learnt = h.store.mapping(&info_uid).unwrap().expect("mapping");
    assert_eq!(learnt.metadata_uid.as_deref(), Some(metadata_uid.as_str()));
}
