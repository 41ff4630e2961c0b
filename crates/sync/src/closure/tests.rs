//! Closure sync against the in-memory fakes: a temporary store, [`FakeBacklog`] for activities
//! and issues, [`FakeWriter`] for Security Hub.

use std::sync::Arc;

use chrono::Utc;
use fb_model::config::Config;
use fb_store::{FindingFormat, IssueStatus, Mapping, Store};

use super::fake::{FakeBacklog, HUMAN, OWN_USER};
use super::*;
use crate::testing::{FakeTracker, FakeWriter};

const YAML: &str = r#"version: 1
name: test
accounts:
  ids: ["111111111111"]
  role: FindingsBridgeExecution
  regions: [us-east-1]
security_hub:
  account: "111111111111"
  region: us-east-1
backlog:
  base_url: https://example.backlog.test
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}
relay:
  public_url: https://bridge.example.test
  api_key: env:FB_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
    issue:
      summary: "<FindingType>"
      description: "<Title>"
server:
  listen: "127.0.0.1:8080"
store:
  path: ./data
"#;

const FIXED: (i64, &str) = (0, "Fixed");
const WONT_FIX: (i64, &str) = (1, "Won't Fix");
const CLOSED: (i64, &str) = (4, "Closed");
const OPEN: (i64, &str) = (1, "Open");

struct Harness {
    store: Store,
    backlog: Arc<FakeBacklog>,
    writer: Arc<FakeWriter>,
    sync: ClosureSync,
}

fn config() -> Arc<Config> {
    Arc::new(fb_model::config::parse_str(YAML, "test.yaml").expect("test config"))
}

fn policy() -> ClosurePolicy {
    ClosurePolicy {
        closed_status_ids: [4].into(),
        suppress_resolution_ids: [1, 2, 3].into(),
    }
}

impl Harness {
    /// `issues` issues SEC-1..=SEC-n, each with one mapping (finding `f<n>`) already NOTIFIED.
    fn new(issues: usize) -> Harness {
        let store = Store::open_temporary().expect("temporary store");
        let backlog = Arc::new(FakeBacklog::new());
        let writer = Arc::new(FakeWriter::new());
        for n in 1..=issues {
            backlog.add_issue(&key(n));
            store.put_mapping(&mapping(n)).expect("mapping");
        }
        let sync = Harness::sync_over(&store, &backlog, &writer);
        Harness {
            store,
            backlog,
            writer,
            sync,
        }
    }

    fn sync_over(
        store: &Store,
        backlog: &Arc<FakeBacklog>,
        writer: &Arc<FakeWriter>,
    ) -> ClosureSync {
        let pipeline = Pipeline::new(
            store.clone(),
            Arc::new(FakeTracker::new()),
            writer.clone(),
            config(),
        );
        ClosureSync::new(pipeline, backlog.clone(), policy())
    }

    /// A new ClosureSync over the same store and fakes: a restart.
    fn restart(&mut self) {
        self.sync = Harness::sync_over(&self.store, &self.backlog, &self.writer);
    }

    fn workflow(&self, n: usize) -> Option<String> {
        self.writer.written(&finding(n)).map(|(w, _)| w)
    }

    fn stored(&self, n: usize) -> Mapping {
        self.store
            .mapping(&finding(n))
            .expect("read")
            .expect("mapping")
    }

    fn writes(&self) -> usize {
        self.writer.batches().iter().map(Vec::len).sum()
    }
}

fn key(n: usize) -> String {
    format!("SEC-{n}")
}

fn finding(n: usize) -> String {
    format!("f{n}")
}

fn mapping(n: usize) -> Mapping {
    Mapping {
        finding_key: finding(n),
        finding_id: format!("arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/{n}"),
        product_arn: Some("arn:aws:securityhub:us-east-1::product/aws/guardduty".into()),
        metadata_uid: None,
        format: FindingFormat::Asff,
        account: "111111111111".into(),
        region: "us-east-1".into(),
        rule: "guardduty".into(),
        title: format!("finding {n}"),
        issue_key: Some(key(n)),
        issue_id: Some(n as u64),
        issue_status: IssueStatus::Open,
        severity: "HIGH".into(),
        record_state: "ACTIVE".into(),
        workflow_status: "NOTIFIED".into(),
        workflow_written: Some("NOTIFIED".into()),
        finding_updated_at: None,
        seen_count: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

#[tokio::test]
async fn closing_resolves_or_suppresses_in_one_batch_then_stays_quiet() {
    let h = Harness::new(20);
    for n in 1..=10 {
        h.backlog.set_status(&key(n), HUMAN, CLOSED, Some(FIXED));
    }
    for n in 11..=15 {
        h.backlog.set_status(&key(n), HUMAN, CLOSED, Some(WONT_FIX));
    }

    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.resolved, report.suppressed), (10, 5));
    assert_eq!(report.issues_read, 15);
    assert_eq!(report.writeback.calls, 1, "15 findings fit one batch");
    for n in 1..=10 {
        assert_eq!(h.workflow(n).as_deref(), Some(RESOLVED));
        assert_eq!(h.stored(n).issue_status, IssueStatus::Closed);
        assert_eq!(h.stored(n).workflow_written.as_deref(), Some(RESOLVED));
    }
    for n in 11..=15 {
        let (workflow, note) = h.writer.written(&finding(n)).expect("written");
        assert_eq!(workflow, SUPPRESSED);
        assert!(
            note.contains(&key(n)) && note.contains("Won't Fix") && note.contains("user2"),
            "{note}"
        );
    }
    for n in 16..=20 {
        assert_eq!(h.workflow(n), None, "untouched issue {n}");
    }
    assert!(h.store.cursor(CURSOR).expect("cursor").is_some());

    // Quiet: nothing new → one activities call, no issue read, no write.
    let writes = h.writes();
    let (pages, reads) = h.backlog.calls();
    for _ in 0..3 {
        let quiet = h.sync.poll().await.expect("poll");
        assert_eq!(quiet.activities, 0);
    }
    assert_eq!(h.backlog.calls(), (pages + 3, reads));
    assert_eq!(h.writes(), writes);
}

#[tokio::test]
async fn reopening_sets_notified_again() {
    let h = Harness::new(5);
    for n in 1..=5 {
        h.backlog.set_status(&key(n), HUMAN, CLOSED, Some(FIXED));
    }
    h.sync.poll().await.expect("poll");
    for n in 1..=3 {
        h.backlog.set_status(&key(n), HUMAN, OPEN, None);
    }
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.reopened, 3);
    for n in 1..=3 {
        let (workflow, note) = h.writer.written(&finding(n)).expect("written");
        assert_eq!(workflow, NOTIFIED);
        assert!(
            note.contains("reopened") && note.contains(&key(n)),
            "{note}"
        );
        assert_eq!(h.stored(n).issue_status, IssueStatus::Open);
    }
    for n in 4..=5 {
        assert_eq!(h.workflow(n).as_deref(), Some(RESOLVED));
    }
}

#[tokio::test]
async fn our_own_activities_are_skipped_without_reading_the_issue() {
    let h = Harness::new(3);
    h.backlog.set_status(&key(1), OWN_USER, CLOSED, Some(FIXED));
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.activities, report.echoes), (1, 1));
    assert_eq!(report.issues_read, 0);
    assert_eq!(h.writes(), 0);
}

#[tokio::test]
async fn untracked_issues_are_not_read() {
    let h = Harness::new(1);
    h.backlog.add_issue("SEC-99");
    h.backlog.set_status("SEC-99", HUMAN, CLOSED, Some(FIXED));
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.issues_read, 0);
    assert_eq!(h.backlog.calls().1, 0);
}

#[tokio::test]
async fn a_deleted_issue_is_recorded_and_security_hub_left_alone() {
    let h = Harness::new(2);
    h.backlog.delete(&key(1), HUMAN);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.deleted, 1);
    assert_eq!(h.stored(1).issue_status, IssueStatus::Deleted);
    assert_eq!(h.writes(), 0);
}

#[tokio::test]
async fn a_bulk_update_acts_on_every_linked_issue() {
    let h = Harness::new(4);
    h.backlog
        .bulk_close(&[&key(1), &key(2), &key(3)], HUMAN, WONT_FIX);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.suppressed, 3);
    assert_eq!(h.workflow(4), None);
}

#[tokio::test]
async fn min_id_inclusive_or_exclusive_gives_the_same_result() {
    for exclusive in [false, true] {
        let h = Harness::new(3);
        h.backlog.set_min_id_exclusive(exclusive);
        h.backlog.set_status(&key(1), HUMAN, CLOSED, Some(FIXED));
        h.sync.poll().await.expect("poll");
        h.backlog.set_status(&key(2), HUMAN, CLOSED, Some(FIXED));
        let second = h.sync.poll().await.expect("poll");
        assert_eq!(second.activities, 1, "exclusive={exclusive}");
        assert_eq!(second.issues_read, 1, "exclusive={exclusive}");
        let third = h.sync.poll().await.expect("poll");
        assert_eq!(third.activities, 0, "exclusive={exclusive}");
        assert_eq!(h.writes(), 2, "exclusive={exclusive}");
    }
}

#[tokio::test]
async fn full_pages_are_followed_to_the_end() {
    let h = Harness::new(250);
    for n in 1..=250 {
        h.backlog.set_status(&key(n), HUMAN, CLOSED, Some(FIXED));
    }
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.activities, 250);
    assert_eq!(report.resolved, 250);
    assert!(report.pages >= 3);
    assert!(h.writer.batches().iter().all(|b| b.len() <= 100));
    assert_eq!(h.writes(), 250);
}

#[tokio::test]
async fn a_failed_issue_read_keeps_the_cursor_and_the_next_poll_finishes() {
    let h = Harness::new(2);
    h.backlog.set_status(&key(1), HUMAN, CLOSED, Some(FIXED));
    h.backlog.set_status(&key(2), HUMAN, CLOSED, Some(FIXED));
    h.backlog.fail_issue_reads(1);
    assert!(matches!(h.sync.poll().await, Err(ClosureError::Backlog(_))));
    assert_eq!(h.store.cursor(CURSOR).expect("cursor"), None);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.resolved, 2);
    assert_eq!(h.workflow(1).as_deref(), Some(RESOLVED));
    assert_eq!(h.workflow(2).as_deref(), Some(RESOLVED));
}

#[tokio::test]
async fn a_restart_goes_on_from_the_persisted_cursor() {
    let mut h = Harness::new(3);
    h.backlog.set_status(&key(1), HUMAN, CLOSED, Some(FIXED));
    h.sync.poll().await.expect("poll");
    h.restart();
    h.backlog.set_status(&key(2), HUMAN, CLOSED, Some(WONT_FIX));
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.activities, report.issues_read), (1, 1));
    assert_eq!(h.workflow(2).as_deref(), Some(SUPPRESSED));
}

#[tokio::test]
async fn a_failed_write_stays_queued_and_is_not_requeued_by_quiet_polls() {
    let h = Harness::new(1);
    h.backlog.set_status(&key(1), HUMAN, CLOSED, Some(FIXED));
    h.writer.fail_calls(1, true);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.writeback.retried, 1);
    assert_eq!(h.store.outbox_len(), 1);
    assert_eq!(h.stored(1).issue_status, IssueStatus::Closed);
    // The flush after a later poll (backoff is real time: call the pipeline's flush directly
    // once the item is due is not needed; the item is still the only one queued).
    h.sync.poll().await.expect("poll");
    assert_eq!(
        h.store.outbox_len(),
        1,
        "no second item for the same change"
    );
}

#[tokio::test]
async fn a_hint_re_reads_the_issue_and_ignores_untracked_ones() {
    let h = Harness::new(2);
    h.backlog.set_status(&key(1), HUMAN, CLOSED, Some(FIXED));
    let report = h.sync.hint(&key(1), Some(HUMAN)).await.expect("hint");
    assert_eq!(report.resolved, 1);
    assert_eq!(h.workflow(1).as_deref(), Some(RESOLVED));
    let unknown = h.sync.hint("SEC-404", None).await.expect("hint");
    assert_eq!(unknown.issues_read, 0);
    // The poll that follows sees the same activity and writes nothing more.
    let writes = h.writes();
    let poll = h.sync.poll().await.expect("poll");
    assert_eq!((poll.issues_read, poll.unchanged), (1, 1));
    assert_eq!(h.writes(), writes);
}

#[tokio::test]
async fn a_hint_about_our_own_change_is_skipped() {
    let h = Harness::new(1);
    h.backlog.set_status(&key(1), OWN_USER, CLOSED, Some(FIXED));
    let report = h.sync.hint(&key(1), Some(OWN_USER)).await.expect("hint");
    assert_eq!((report.echoes, report.issues_read), (1, 0));
    assert_eq!(h.writes(), 0);
}

// --- Adoption of direct-delivery issues.

fn direct_config() -> Arc<Config> {
    let yaml = YAML.replace(
        "  - name: guardduty\n    match:",
        "  - name: guardduty\n    delivery: direct\n    match:",
    );
    let yaml = yaml.replace(
        "      description: \"<Title>\"\n",
        "      description: \"<Title>\"\n      priority: Normal\n",
    );
    Arc::new(fb_model::config::parse_str(&yaml, "direct.yaml").expect("direct config"))
}

fn direct_id(n: usize) -> String {
    format!("arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/direct{n}")
}

fn asff(n: usize) -> serde_json::Value {
    serde_json::json!({
        "SchemaVersion": "2018-10-08",
        "Id": direct_id(n),
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "ProductName": "GuardDuty",
        "GeneratorId": "d",
        "AwsAccountId": "111111111111",
        "Region": "us-east-1",
        "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        "CreatedAt": "2026-01-01T00:00:00.000Z",
        "UpdatedAt": "2026-01-01T00:00:00.000Z",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": format!("direct finding {n}"),
        "Description": "d",
        "Resources": [{"Type": "AwsEc2Instance", "Id": "i-1"}],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    })
}

/// The description the compiled direct template produces: the body, then the marker line.
fn direct_description(n: usize) -> String {
    format!(
        "direct finding {n}\n\n{}",
        fb_model::template::marker_line(&direct_id(n))
    )
}

/// A harness whose config has a direct rule and whose Security Hub holds direct findings 1..=n.
fn direct_harness(findings: usize) -> Harness {
    let store = Store::open_temporary().expect("temporary store");
    let backlog = Arc::new(FakeBacklog::new());
    let writer = Arc::new(FakeWriter::new());
    for n in 1..=findings {
        writer.add_finding(asff(n));
    }
    let pipeline = Pipeline::new(
        store.clone(),
        Arc::new(FakeTracker::new()),
        writer.clone(),
        direct_config(),
    );
    let sync = ClosureSync::new(pipeline, backlog.clone(), policy());
    Harness {
        store,
        backlog,
        writer,
        sync,
    }
}

#[tokio::test]
async fn direct_issues_are_adopted_notified_and_then_follow_closure_sync() {
    let h = direct_harness(3);
    for n in 1..=3 {
        h.backlog.create(&key(n), &direct_description(n), OWN_USER);
    }
    let report = h.sync.poll().await.expect("poll");
    assert_eq!(report.adopted, 3);
    assert_eq!(h.writer.get_calls(), 1, "one batched GetFindings");
    for n in 1..=3 {
        let m = h
            .store
            .mapping(&direct_id(n))
            .expect("read")
            .expect("mapping");
        assert_eq!(m.issue_key.as_deref(), Some(key(n).as_str()));
        assert_eq!(m.rule, "guardduty");
        let (workflow, note) = h.writer.written(&direct_id(n)).expect("written");
        assert_eq!(workflow, NOTIFIED);
        assert!(note.contains(&format!("Backlog {}", key(n))), "{note}");
    }
    h.backlog.set_status(&key(2), HUMAN, CLOSED, Some(FIXED));
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.adopted, report.resolved), (0, 1));
    assert_eq!(
        h.writer.written(&direct_id(2)).expect("written").0,
        RESOLVED
    );
}

#[tokio::test]
async fn a_second_issue_for_one_finding_is_closed_as_duplication_once() {
    let h = direct_harness(1);
    h.backlog.create("SEC-1", &direct_description(1), OWN_USER);
    h.backlog.create("SEC-2", &direct_description(1), OWN_USER);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.adopted, report.duplicates_closed), (1, 1));
    let m = h
        .store
        .mapping(&direct_id(1))
        .expect("read")
        .expect("mapping");
    assert_eq!(
        m.issue_key.as_deref(),
        Some("SEC-1"),
        "the first one is the original"
    );
    let duplicates = h.backlog.duplicates();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].0, "SEC-2");
    assert!(duplicates[0].1.contains("SEC-1"), "{}", duplicates[0].1);

    // Our own close of the duplicate is an echo: nothing more happens.
    let writes = h.writes();
    let again = h.sync.poll().await.expect("poll");
    assert_eq!((again.echoes, again.issues_read), (1, 0));
    assert_eq!(h.backlog.duplicates().len(), 1);
    assert_eq!(h.writes(), writes);
}

#[tokio::test]
async fn issues_the_relay_pipeline_filed_or_is_filing_are_not_adopted() {
    let h = direct_harness(2);
    // Finding 1: the pipeline recorded its issue. Finding 2: its create is in flight.
    let mut recorded = mapping(1);
    recorded.finding_key = direct_id(1);
    recorded.finding_id = direct_id(1);
    h.store.put_mapping(&recorded).expect("mapping");
    h.store
        .put_intent(&fb_store::CreateIntent {
            finding_key: direct_id(2),
            rule: "guardduty".into(),
            started_at: Utc::now(),
            attempts: 1,
        })
        .await
        .expect("intent");
    h.backlog.create(&key(1), &direct_description(1), OWN_USER);
    h.backlog.create(&key(2), &direct_description(2), OWN_USER);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.adopted, report.duplicates_closed), (0, 0));
    assert!(h.store.mapping(&direct_id(2)).expect("read").is_none());
    assert!(h.backlog.duplicates().is_empty());
}

#[tokio::test]
async fn without_direct_rules_creations_are_not_read() {
    let h = Harness::new(0);
    h.writer.add_finding(asff(1));
    h.backlog.create("SEC-1", &direct_description(1), OWN_USER);
    let report = h.sync.poll().await.expect("poll");
    assert_eq!((report.activities, report.adopted), (0, 0));
    assert_eq!(h.writer.get_calls(), 0);
}

// --- Re-reading the findings behind tracked issues.

/// Security Hub's copy of mapping `n`'s finding, with this record state and workflow.
fn hub_copy(n: usize, record_state: &str, workflow: &str) -> serde_json::Value {
    let m = mapping(n);
    serde_json::json!({
        "SchemaVersion": "2018-10-08",
        "Id": m.finding_id,
        "ProductArn": m.product_arn,
        "ProductName": "GuardDuty",
        "GeneratorId": "d",
        "AwsAccountId": "111111111111",
        "Region": "us-east-1",
        "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        "CreatedAt": "2026-01-01T00:00:00.000Z",
        "UpdatedAt": "2026-01-01T00:00:00.000Z",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": m.title,
        "Description": "d",
        "Resources": [{"Type": "AwsEc2Instance", "Id": "i-1"}],
        "Workflow": {"Status": workflow},
        "RecordState": record_state
    })
}

#[tokio::test]
async fn recheck_queues_only_findings_that_moved_on() {
    let h = Harness::new(4);
    for n in 1..=4 {
        let mut m = h.stored(n);
        m.finding_updated_at = Some("2026-01-01T00:00:00.000Z".into());
        h.store.put_mapping(&m).expect("mapping");
    }
    // 1 archived by its provider, 2 unchanged, 3 carrying the RESOLVED we wrote (our echo),
    // 4 reset to NEW by Security Hub.
    h.writer.add_finding(hub_copy(1, "ARCHIVED", "NOTIFIED"));
    h.writer.add_finding(hub_copy(2, "ACTIVE", "NOTIFIED"));
    let mut ours = h.stored(3);
    ours.workflow_written = Some(RESOLVED.into());
    h.store.put_mapping(&ours).expect("mapping");
    h.writer.add_finding(hub_copy(3, "ACTIVE", "RESOLVED"));
    h.writer.add_finding(hub_copy(4, "ACTIVE", "NEW"));

    let report = h.sync.recheck_findings().await.expect("recheck");
    assert_eq!((report.checked, report.calls), (4, 1));
    assert_eq!((report.queued, report.missing), (2, 0));
    let queued: Vec<String> = h
        .store
        .inbox_pending(10)
        .expect("inbox")
        .into_iter()
        .map(|(_, e)| e.body)
        .collect();
    assert_eq!(queued.len(), 2);
    assert!(queued
        .iter()
        .any(|b| b.contains(&mapping(1).finding_id) && b.contains("ARCHIVED")));
    assert!(queued.iter().any(|b| b.contains(&mapping(4).finding_id)));
}

#[tokio::test]
async fn recheck_reads_at_most_100_ids_per_call_and_skips_deleted_issues() {
    let h = Harness::new(250);
    let mut gone = h.stored(1);
    gone.issue_status = IssueStatus::Deleted;
    h.store.put_mapping(&gone).expect("mapping");
    let report = h.sync.recheck_findings().await.expect("recheck");
    assert_eq!(report.checked, 249);
    assert_eq!(report.calls, 3);
    assert_eq!(
        report.missing, 249,
        "the fake Security Hub has none of them"
    );
    assert!(h
        .writer
        .queries()
        .iter()
        .all(|q| !q.finding_ids.is_empty() && q.finding_ids.len() <= 100));
}
