//! The managed lifecycle rule (`fb-<name>-<rule>-lifecycle`, `fb_model::compile`) meets the
//! daemon's intake decision (`Pipeline::wants`, the same test `POST /v1/events` applies): a
//! lifecycle change of a finding we track is accepted and acted on; the same change of a
//! finding we do not track is ignored, so a lifecycle event never creates an issue.

mod common;

use common::*;
use fb_model::compile::{compile, CompileInputs, LIFECYCLE_SUFFIX};
use fb_model::config::Config;
use fb_model::finding::parse_event;
use fb_model::pattern::matches;
use serde_json::{json, Value};

/// The compiled EventBridge patterns of the `guardduty` relay rule: (main, lifecycle).
fn guardduty_patterns(config: &Config) -> (Value, Value) {
    let inputs = CompileInputs {
        accounts: vec!["111111111111".into()],
        backlog: None,
    };
    let desired = compile(config, &inputs).expect("relay rules need no Backlog ids");
    let rules = &desired.accounts[0].regions[0].rules;
    let pattern = |name: &str| {
        rules
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in {rules:?}"))
            .event_pattern
            .clone()
    };
    (
        pattern("fb-test-guardduty"),
        pattern(&format!("fb-test-guardduty-{LIFECYCLE_SUFFIX}")),
    )
}

/// Finding `n` as Security Hub emits it once we wrote our note: NOTIFIED, ARCHIVED.
fn archived_with_our_note(n: usize, updated_at: &str) -> Value {
    let mut event = echo_of(&gd_event(n, "NEW", updated_at, "HIGH"));
    event["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
    event
}

fn wants(h: &Harness, event: &Value) -> bool {
    let parsed = parse_event(event.to_string().as_bytes()).expect("a Security Hub event");
    h.pipeline.wants(&parsed).expect("store readable")
}

#[tokio::test]
async fn a_tracked_findings_archive_reaches_its_issue_through_the_lifecycle_rule() {
    let h = Harness::new();
    let (main, lifecycle) = guardduty_patterns(&config("reopen"));
    h.deliver(&gd_event(1, "NEW", T1, "HIGH")).await;
    h.process().await;
    h.pipeline.flush_writebacks().await.unwrap();

    let archived = archived_with_our_note(1, T2);
    assert!(
        !matches(&main, &archived),
        "the main rule only sees NEW+ACTIVE"
    );
    assert!(matches(&lifecycle, &archived), "the lifecycle rule does");
    assert!(wants(&h, &archived), "mapped: accepted");

    h.deliver(&archived).await;
    h.process().await;
    let issue = h.tracker.issue("SEC-1").unwrap();
    assert_eq!(
        issue.status, "Closed",
        "close_issue_on defaults to [archived]"
    );
    assert!(issue.comments[0].contains("archived by its provider"));
    assert_eq!(h.tracker.issues().len(), 1);

    // Security Hub resets it to NEW on ACTIVE again and keeps our note: the lifecycle rule
    // delivers that too, and the same issue reopens.
    let mut back = echo_of(&gd_event(1, "NEW", T3, "HIGH"));
    back["detail"]["findings"][0]["Workflow"] = json!({"Status": "NEW"});
    assert!(matches(&lifecycle, &back));
    assert!(wants(&h, &back));
    h.deliver(&back).await;
    h.process().await;
    assert_eq!(h.tracker.issue("SEC-1").unwrap().status, "Open");
    assert_eq!(h.tracker.issues().len(), 1, "never a second issue");
}

#[tokio::test]
async fn lifecycle_events_of_untracked_findings_are_ignored() {
    let h = Harness::new();
    let (_, lifecycle) = guardduty_patterns(&config("reopen"));
    // Our note but no mapping here (e.g. written by another deployment, or its mapping was
    // removed): the lifecycle rule lets it through, intake must not.
    let archived = archived_with_our_note(2, T2);
    assert!(matches(&lifecycle, &archived));
    assert!(
        !wants(&h, &archived),
        "no relay rule matches and not mapped"
    );
    let mut resolved = echo_of(&gd_event(2, "NEW", T2, "HIGH"));
    resolved["detail"]["findings"][0]["Workflow"] = json!({"Status": "RESOLVED"});
    assert!(matches(&lifecycle, &resolved));
    assert!(!wants(&h, &resolved));

    // Without our note, the lifecycle rule does not even deliver it.
    let mut theirs = archived.clone();
    theirs["detail"]["findings"][0]["Note"]["UpdatedBy"] = json!("alice");
    assert!(!matches(&lifecycle, &theirs));

    // Even if such an event were stored, processing it creates no issue: rules decide.
    h.deliver(&archived).await;
    h.process().await;
    assert!(h.tracker.issues().is_empty());
    assert!(h.store.mapping(&finding_id(2)).unwrap().is_none());
}
