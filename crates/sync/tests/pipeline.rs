//! The dispatcher against the in-memory fakes and a temporary store: one issue per finding
//! across repeats, reordering, concurrency, echoes, crashes and time-outs; lifecycle actions.

mod common;

use std::sync::Arc;

use common::*;
use fb_model::template::marker_line;
use fb_store::{EventOrigin, InboxEvent};
use fb_sync::testing::{Fault, Op};
use serde_json::json;

#[tokio::test]
async fn a_new_finding_becomes_one_issue_with_footer_marker_and_priority() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T1, "MEDIUM")).await;
    let report = h.process().await;
    assert_eq!((report.created, report.events_done), (1, 1));

    let issues = h.tracker.issues();
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    assert_eq!(
        issue.summary,
        "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce found at AWS account 193043430472"
    );
    assert!(issue.description.starts_with(
        "199.241.229.197 is performing SSH brute force attacks against i-0c10c2c7863d1a356.\n\nDescription:\n"
    ));
    assert!(issue
        .description
        .contains("Severity: MEDIUM\nhttps://us-east-1.console.aws.amazon.com/guardduty/"));
    let footer = format!(
        "Finding Id: {}\nProductArn: arn:aws:securityhub:us-east-1::product/aws/guardduty\nAccount: 193043430472\nRegion: us-east-1",
        finding_id(1)
    );
    assert!(issue.description.contains(&footer), "{}", issue.description);
    assert!(issue.description.ends_with(&marker_line(&finding_id(1))));
    assert_eq!(
        (issue.priority.as_str(), issue.issue_type.as_str()),
        ("Normal", "Task")
    );

    let mapping = h.store.mapping(&finding_id(1)).unwrap().expect("mapping");
    assert_eq!(mapping.issue_key.as_deref(), Some("SEC-1"));
    assert_eq!(
        (mapping.rule.as_str(), mapping.severity.as_str()),
        ("guardduty", "MEDIUM")
    );
    assert!(h.store.intent(&finding_id(1)).unwrap().is_none());
    assert_eq!(h.store.inbox_len(), 0);
    assert_eq!(h.store.outbox_len(), 1);

    let wb = h.pipeline.flush_writebacks().await.unwrap();
    assert_eq!((wb.calls, wb.sent), (1, 1));
    assert_eq!(
        h.writer.written(&finding_id(1)),
        Some((
            "NOTIFIED".into(),
            "Backlog SEC-1 https://example.backlog.test/view/SEC-1".into()
        ))
    );
    let update = &h.writer.batches()[0][0];
    assert_eq!(update.finding_id, finding_id(1));
    assert_eq!(update.format, fb_store::FindingFormat::Asff);
    let mapping = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(mapping.workflow_written.as_deref(), Some("NOTIFIED"));
    assert_eq!(h.store.outbox_len(), 0);
    assert_eq!(h.pipeline.stats().snapshot().issues_created, 1);
}

#[tokio::test]
async fn repeats_of_the_same_finding_give_one_issue() {
    let h = Harness::new();
    for round in 0..5 {
        h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
        if round % 2 == 0 {
            h.process().await;
        }
    }
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.tracker.calls(Op::Create), 1);
    assert_eq!(
        h.tracker.calls(Op::Search),
        0,
        "no intent was left, so no search"
    );
    assert_eq!(
        h.store.mapping(&finding_id(1)).unwrap().unwrap().seen_count,
        5
    );
    assert_eq!(h.pipeline.stats().snapshot().duplicates_absorbed, 4);
}

#[tokio::test]
async fn reordered_deliveries_keep_the_newest_state_and_one_issue() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.deliver(&gd_event(1, "NEW", T1, "MEDIUM")).await;
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    let m = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(m.finding_updated_at.as_deref(), Some(T2));
    assert_eq!(
        m.severity, "HIGH",
        "an older delivery must not lower the state"
    );
    assert!(h.tracker.issues()[0].comments.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_duplicates_give_one_issue() {
    let h = Arc::new(Harness::new());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.deliver(&gd_event(7, "NEW", T1, "HIGH")).await;
            // Some deliveries race with passes run from other tasks.
            if i % 5 == 0 {
                h.process().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.tracker.calls(Op::Create), 1);
    assert_eq!(
        h.store.mapping(&finding_id(7)).unwrap().unwrap().seen_count,
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distinct_findings_are_handled_concurrently_each_once() {
    let h = Harness::new();
    for n in 0..40 {
        for _ in 0..(1 + n % 3) {
            h.deliver(&gd_event(n, "NEW", T1, "LOW")).await;
        }
    }
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 40);
    assert_eq!(h.store.mapping_count(), 40);
}

#[tokio::test]
async fn our_own_echoes_change_nothing() {
    let h = Harness::new();
    let event = gd_event(1, "NEW", T1, "HIGH");
    h.deliver(&event).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();
    let before = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    let calls = (
        h.tracker.calls(Op::Create),
        h.tracker.calls(Op::Update),
        h.tracker.calls(Op::Comment),
    );

    h.deliver(&echo_of(&event)).await;
    h.deliver(&echo_of(&event)).await;
    let report = h.process().await;
    assert_eq!(report.echoes, 2);
    assert_eq!(h.store.mapping(&finding_id(1)).unwrap().unwrap(), before);
    assert_eq!(
        (
            h.tracker.calls(Op::Create),
            h.tracker.calls(Op::Update),
            h.tracker.calls(Op::Comment)
        ),
        calls
    );
    assert_eq!(h.store.outbox_len(), 0, "no further write-back");
}

#[tokio::test]
async fn crash_after_create_before_record_does_not_file_a_second_issue() {
    let mut h = Harness::new();
    // The tracker creates the issue but the answer never arrives: as if the process died
    // between Backlog's create and recording the mapping.
    h.tracker.fail(Op::Create, Fault::AmbiguousAfterCreate, 1);
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    let first = h.process().await;
    assert_eq!((first.retry, first.events_kept), (1, 1));
    assert_eq!(h.tracker.issues().len(), 1);
    assert!(h.store.mapping(&finding_id(1)).unwrap().is_none());
    assert!(
        h.store.intent(&finding_id(1)).unwrap().is_some(),
        "the intent survives"
    );

    h.restart();
    let report = h.drain().await;
    assert_eq!(report.adopted, 1);
    assert_eq!(h.tracker.issues().len(), 1, "no second issue");
    assert_eq!(h.tracker.calls(Op::Create), 1);
    assert_eq!(h.tracker.calls(Op::Search), 1);
    let m = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(m.issue_key.as_deref(), Some("SEC-1"));
    assert!(h.store.intent(&finding_id(1)).unwrap().is_none());
    assert_eq!(
        h.store.outbox_len(),
        1,
        "write-back queued for the adopted issue"
    );
}

#[tokio::test]
async fn time_out_after_create_then_retry_in_the_same_process() {
    let h = Harness::new();
    h.tracker.fail(Op::Create, Fault::AmbiguousAfterCreate, 1);
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.tracker.calls(Op::Create), 1);
    assert_eq!(h.pipeline.stats().snapshot().issues_adopted, 1);
}

#[tokio::test]
async fn time_out_before_create_searches_then_creates() {
    let h = Harness::new();
    // Another finding whose key extends this one's: keyword search returns it, the exact check
    // must reject it.
    h.deliver(&gd_event(10, "NEW", T1, "LOW")).await;
    h.process().await;
    h.tracker.fail(Op::Create, Fault::Ambiguous, 1);
    h.deliver(&gd_event(1, "NEW", T1, "LOW")).await;
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 2);
    assert_eq!(h.tracker.calls(Op::Search), 1);
    assert_eq!(
        h.store
            .mapping(&finding_id(1))
            .unwrap()
            .unwrap()
            .issue_key
            .as_deref(),
        Some("SEC-2")
    );
}

#[tokio::test]
async fn search_failure_keeps_the_event_and_never_creates_blindly() {
    let h = Harness::new();
    h.tracker.fail(Op::Create, Fault::AmbiguousAfterCreate, 1);
    h.tracker.fail(Op::Search, Fault::Retryable, 2);
    h.deliver(&gd_event(1, "NEW", T1, "LOW")).await;
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.tracker.calls(Op::Search), 3);
}

#[tokio::test]
async fn retryable_and_permanent_create_failures() {
    let h = Harness::new();
    h.tracker.fail(Op::Create, Fault::Retryable, 2);
    h.deliver(&gd_event(1, "NEW", T1, "LOW")).await;
    h.deliver(&gd_event(1, "NEW", T2, "LOW")).await;
    let first = h.process().await;
    assert_eq!(
        (first.retry, first.events_kept),
        (1, 2),
        "the later event waits behind the first"
    );
    assert!(
        h.store.intent(&finding_id(1)).unwrap().is_none(),
        "nothing was created"
    );
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.tracker.calls(Op::Search), 0);
    assert_eq!(
        h.store
            .mapping(&finding_id(1))
            .unwrap()
            .unwrap()
            .finding_updated_at
            .as_deref(),
        Some(T2),
        "both events handled, in order"
    );

    h.tracker.fail(Op::Create, Fault::Permanent, 1);
    h.deliver(&gd_event(2, "NEW", T1, "LOW")).await;
    let report = h.process().await;
    assert_eq!((report.failed, report.events_done), (1, 1));
    assert!(h.store.intent(&finding_id(2)).unwrap().is_none());
    assert_eq!(h.pipeline.stats().snapshot().findings_failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_key_backs_off_while_others_proceed() {
    let h = Harness::with(
        "reopen",
        fb_sync::PipelineSettings {
            retry_base: std::time::Duration::from_secs(30),
            ..fb_sync::PipelineSettings::default()
        },
    );
    h.tracker.fail(Op::Create, Fault::Retryable, 1);
    h.deliver(&gd_event(1, "NEW", T1, "LOW")).await;
    assert_eq!(h.process().await.retry, 1);
    h.deliver(&gd_event(2, "NEW", T1, "LOW")).await;
    let second = h.process().await;
    assert_eq!((second.deferred, second.created), (1, 1));
    assert_eq!(
        second.retry_in_ms,
        Some(30_000),
        "paused time: exactly the backoff"
    );
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    assert_eq!(h.process().await.created, 1);
    assert_eq!(h.tracker.issues().len(), 2);
}

#[tokio::test]
async fn a_raised_severity_comments_and_changes_priority() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T1, "MEDIUM")).await;
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.drain().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(issue.priority, "High");
    assert_eq!(issue.comments.len(), 1, "{:?}", issue.comments);
    assert!(issue.comments[0].contains("Severity raised from MEDIUM to HIGH"));
    assert!(issue.comments[0].contains("Priority set to High"));

    // Lowered: recorded, no action. Raised within the same priority: a comment, no priority.
    h.deliver(&gd_event(1, "NEW", T3, "LOW")).await;
    h.drain().await;
    assert_eq!(
        h.store.mapping(&finding_id(1)).unwrap().unwrap().severity,
        "LOW"
    );
    assert_eq!(h.tracker.issue("SEC-1").unwrap().comments.len(), 1);
    assert_eq!(h.tracker.issues().len(), 1);
    assert_eq!(h.pipeline.stats().snapshot().severity_raised, 1);
}

async fn notified_then_closed(h: &Harness) {
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();
    h.tracker.set_status("SEC-1", "Closed");
}

#[tokio::test]
async fn a_returning_finding_reopens_its_closed_issue() {
    let h = Harness::new();
    notified_then_closed(&h).await;
    // Security Hub reset the finding to NEW (e.g. ARCHIVED → ACTIVE).
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(issue.status, "Open");
    assert!(
        issue.comments[0].contains("back in Security Hub"),
        "{:?}",
        issue.comments
    );
    assert_eq!(h.tracker.issues().len(), 1);
    let m = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(m.issue_status, fb_store::IssueStatus::Open);
    assert_eq!(h.store.outbox_len(), 1, "NOTIFIED again");
    assert_eq!(h.pipeline.stats().snapshot().issues_reopened, 1);

    // The same return delivered again does nothing more.
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    assert_eq!(h.tracker.issue("SEC-1").unwrap().comments.len(), 1);
}

#[tokio::test]
async fn archived_then_active_again_reopens() {
    let h = Harness::new();
    notified_then_closed(&h).await;
    let mut archived = gd_event(1, "NOTIFIED", T2, "HIGH");
    archived["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
    h.deliver(&archived).await;
    h.process().await;
    assert_eq!(h.tracker.issue("SEC-1").unwrap().status, "Closed");
    h.deliver(&gd_event(1, "NEW", T3, "HIGH")).await;
    h.process().await;
    assert_eq!(h.tracker.issue("SEC-1").unwrap().status, "Open");
}

#[tokio::test]
async fn a_return_with_an_open_issue_only_notifies_again() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    assert!(h.tracker.issue("SEC-1").unwrap().comments.is_empty());
    assert_eq!(h.store.outbox_len(), 1);
}

#[tokio::test]
async fn on_recurrence_comment_and_new_issue() {
    let h = Harness::with("comment", fast_settings());
    notified_then_closed(&h).await;
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!((issue.status.as_str(), issue.comments.len()), ("Closed", 1));

    let h = Harness::with("new_issue", fast_settings());
    notified_then_closed(&h).await;
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    assert_eq!(h.tracker.issues().len(), 2);
    assert_eq!(h.tracker.issue("SEC-1").unwrap().status, "Closed");
    let m = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(m.issue_key.as_deref(), Some("SEC-2"));
    // Delivered again: the new issue is known, no third one.
    h.deliver(&gd_event(1, "NEW", T2, "HIGH")).await;
    h.process().await;
    assert_eq!(h.tracker.issues().len(), 2);
}

#[tokio::test]
async fn unmatched_findings_are_ignored_and_malformed_events_dropped() {
    let h = Harness::new();
    let mut other = gd_event(1, "NEW", T1, "HIGH");
    other["detail"]["findings"][0]["ProductName"] = json!("Inspector");
    h.deliver(&other).await;
    let notified = gd_event(2, "NOTIFIED", T1, "HIGH");
    h.deliver(&notified).await;
    h.store
        .accept(InboxEvent {
            received_at: chrono::Utc::now(),
            origin: EventOrigin::Relay,
            body: "{not json".into(),
        })
        .await
        .unwrap();
    let report = h.process().await;
    assert_eq!(
        (report.ignored, report.malformed, report.events_done),
        (2, 1, 3)
    );
    assert!(h.tracker.issues().is_empty());
    assert_eq!(h.store.inbox_len(), 0);
    assert_eq!(h.store.mapping_count(), 0);
}

#[tokio::test]
async fn raw_pattern_rule_with_per_rule_vars_and_fixed_priority() {
    let h = Harness::new();
    h.deliver(&fixture(
        "securityhub-findings-imported-asff-control-afsbp-ec2.7.json",
    ))
    .await;
    h.process().await;
    let issues = h.tracker.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].summary, "EC2.7 failed in 111111111111");
    assert_eq!(issues[0].priority, "Low");
    let key = "arn:aws:securityhub:us-east-1:111111111111:subscription/aws-foundational-security-best-practices/v/1.0.0/EC2.7/finding/0003b335-cf3f-4f93-a025-6b1a7baced06";
    assert_eq!(h.store.mapping(key).unwrap().unwrap().rule, "controls");
}

#[tokio::test]
async fn one_guardduty_finding_in_two_formats_is_one_issue() {
    let h = Harness::new();
    let raw = fixture("guardduty-finding-event-raw-sample-o7conseils.json");
    let arn = raw["detail"]["arn"].as_str().unwrap().to_string();
    let mut asff = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    asff["Id"] = json!(arn);
    asff["ProductName"] = json!("GuardDuty");
    h.deliver(&raw).await;
    h.deliver(&wrap(asff)).await;
    h.drain().await;
    assert_eq!(h.tracker.issues().len(), 1);
    let m = h.store.mapping(&arn).unwrap().unwrap();
    assert_eq!(
        m.product_arn.as_deref(),
        Some("arn:aws:securityhub:ca-central-1::product/aws/guardduty")
    );
}

#[tokio::test]
async fn wants_matching_or_mapped_findings_only() {
    let h = Harness::new();
    let parse =
        |v: &serde_json::Value| fb_model::finding::parse_event(v.to_string().as_bytes()).unwrap();
    let new = gd_event(1, "NEW", T1, "HIGH");
    let mut other = new.clone();
    other["detail"]["findings"][0]["ProductName"] = json!("Inspector");
    assert!(h.pipeline.wants(&parse(&new)).unwrap());
    assert!(!h.pipeline.wants(&parse(&other)).unwrap());
    assert!(
        !h.pipeline.wants(&parse(&echo_of(&new))).unwrap(),
        "not ours yet"
    );
    h.deliver(&new).await;
    h.process().await;
    assert!(
        h.pipeline.wants(&parse(&echo_of(&new))).unwrap(),
        "mapped: its changes matter"
    );
    assert_eq!(
        fb_sync::matching_rule(&config("reopen"), &parse(&new)).map(|r| r.name.clone()),
        Some("guardduty".to_string())
    );
}

/// The store on disk is closed and reopened between the create and the next attempt, as a
/// restart after a crash would: the intent on disk makes the new process search first.
#[tokio::test]
async fn restart_from_disk_after_create_without_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tracker = Arc::new(fb_sync::testing::FakeTracker::new());
    let writer = Arc::new(fb_sync::testing::FakeWriter::new());
    tracker.fail(Op::Create, Fault::AmbiguousAfterCreate, 1);
    {
        let store = fb_store::Store::open(dir.path()).expect("open");
        let pipeline = fb_sync::Pipeline::with_settings(
            store.clone(),
            tracker.clone(),
            writer.clone(),
            config("reopen"),
            fast_settings(),
        );
        store
            .accept(InboxEvent {
                received_at: chrono::Utc::now(),
                origin: EventOrigin::Relay,
                body: gd_event(1, "NEW", T1, "HIGH").to_string(),
            })
            .await
            .unwrap();
        assert_eq!(pipeline.process_pending().await.unwrap().retry, 1);
    }
    let store = fb_store::Store::open(dir.path()).expect("reopen");
    assert_eq!(store.inbox_len(), 1, "the delivery is still pending");
    let pipeline = fb_sync::Pipeline::with_settings(
        store.clone(),
        tracker.clone(),
        writer,
        config("reopen"),
        fast_settings(),
    );
    let report = pipeline.process_pending().await.unwrap();
    assert_eq!((report.adopted, report.events_done), (1, 1));
    assert_eq!(tracker.issues().len(), 1);
    assert_eq!(tracker.calls(Op::Create), 1);
    assert_eq!(
        store
            .mapping(&finding_id(1))
            .unwrap()
            .unwrap()
            .issue_key
            .as_deref(),
        Some("SEC-1")
    );
}

#[tokio::test]
async fn an_unknown_create_outcome_is_not_searched_before_it_settles() {
    let h = Harness::with(
        "reopen",
        fb_sync::PipelineSettings {
            intent_settle: std::time::Duration::from_secs(3600),
            ..fast_settings()
        },
    );
    h.tracker.fail(Op::Create, Fault::AmbiguousAfterCreate, 1);
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    for _ in 0..3 {
        assert_eq!(h.process().await.events_kept, 1);
    }
    assert_eq!(
        h.tracker.calls(Op::Search),
        0,
        "too early to trust a search"
    );
    assert_eq!(h.tracker.calls(Op::Create), 1, "and never create blindly");
    assert!(h.store.intent(&finding_id(1)).unwrap().is_some());
}

#[tokio::test]
async fn a_fixed_priority_rule_gets_a_comment_but_keeps_its_priority() {
    let h = Harness::new();
    let control = fixture("securityhub-findings-imported-asff-control-afsbp-ec2.7.json");
    h.deliver(&control).await;
    let mut raised = control.clone();
    let f = &mut raised["detail"]["findings"][0];
    f["Severity"] = json!({"Label": "HIGH", "Normalized": 70});
    f["UpdatedAt"] = json!("2021-02-18T00:00:00Z");
    h.deliver(&raised).await;
    h.drain().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(issue.priority, "Low");
    assert_eq!(issue.comments.len(), 1);
    assert!(issue.comments[0].contains("from INFORMATIONAL to HIGH"));
    assert!(!issue.comments[0].contains("Priority set"));
}

#[tokio::test]
async fn ocsf_echoes_are_recognised_without_an_updated_by() {
    let h = Harness::new();
    let mut event = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    event["detail"]["findings"][0]["status_id"] = json!(1);
    h.deliver(&event).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();
    // BatchUpdateFindingsV2 StatusId 2 keeps modified_time: the echo differs only in status.
    let mut echo = event.clone();
    echo["detail"]["findings"][0]["status_id"] = json!(2);
    h.deliver(&echo).await;
    assert_eq!(h.process().await.echoes, 1);
    assert_eq!(h.tracker.issues().len(), 1);
}

#[tokio::test]
async fn an_archived_finding_closes_its_issue_and_its_return_reopens_it() {
    let h = Harness::new();
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();
    let mut archived = gd_event(1, "NOTIFIED", T2, "HIGH");
    archived["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
    h.deliver(&archived).await;
    h.deliver(&archived).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(
        issue.status, "Closed",
        "close_issue_on defaults to [archived]"
    );
    assert_eq!(issue.comments.len(), 1, "once: {:?}", issue.comments);
    assert!(issue.comments[0].contains("archived by its provider"));
    let m = h.store.mapping(&finding_id(1)).unwrap().unwrap();
    assert_eq!(
        (m.record_state.as_str(), m.issue_status),
        ("ARCHIVED", fb_store::IssueStatus::Closed)
    );

    // Security Hub resets it to NEW when it turns ACTIVE again: the same issue reopens.
    h.deliver(&gd_event(1, "NEW", T3, "HIGH")).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(issue.status, "Open");
    assert_eq!(h.tracker.issues().len(), 1);
    let stats = h.pipeline.stats().snapshot();
    assert_eq!((stats.issues_closed, stats.issues_reopened), (1, 1));
}

#[tokio::test]
async fn resolved_outside_backlog_is_noted_but_not_closed_by_default() {
    let h = Harness::new();
    let control = fixture("securityhub-findings-imported-asff-control-afsbp-ec2.7.json");
    h.deliver(&control).await;
    h.process().await;
    let mut passed = control.clone();
    let f = &mut passed["detail"]["findings"][0];
    f["Workflow"] = json!({"Status": "RESOLVED"});
    f["Compliance"] = json!({"Status": "PASSED"});
    f["UpdatedAt"] = json!("2021-02-18T00:00:00Z");
    h.deliver(&passed).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(issue.status, "Open");
    assert_eq!(issue.comments.len(), 1);
    assert!(issue.comments[0]
        .contains("resolved outside Backlog (Workflow RESOLVED, Compliance PASSED"));
}
