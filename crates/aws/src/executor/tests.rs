use std::collections::{BTreeMap, HashSet};

use fb_model::plan::{Action, DesiredResource, Op, ResourceKind};
use fb_model::resources::{ApiDestinationSpec, RetryPolicy, TargetInput, TargetSpec};

use super::values::{build_target, bus_from_rule_arn, entry_errors};
use super::*;

fn target_spec(input: TargetInput) -> TargetSpec {
    TargetSpec {
        id: "backlog".into(),
        destination: "fb-x-gd-dest".into(),
        role_arn: "arn:aws:iam::111111111111:role/fb-x-invoke".into(),
        input,
        retry_policy: Some(RetryPolicy {
            maximum_event_age_seconds: 3600,
            maximum_retry_attempts: 5,
        }),
        dead_letter_arn: None,
    }
}

fn target_action(op: Op) -> Action {
    Action {
        op,
        kind: ResourceKind::Target,
        name: "fb-x-gd/backlog".into(),
        changes: vec![],
        desired: (op != Op::Delete).then(|| DesiredResource::Target {
            rule: "fb-x-gd".into(),
            target: target_spec(TargetInput::WholeEvent),
        }),
        existing_arn: None,
    }
}

fn delete(kind: ResourceKind, name: &str) -> Action {
    Action {
        op: Op::Delete,
        kind,
        name: name.into(),
        changes: vec![],
        desired: None,
        existing_arn: None,
    }
}

fn not_done(items: &[(ResourceKind, &str)]) -> HashSet<(ResourceKind, String)> {
    items.iter().map(|(k, n)| (*k, (*n).to_owned())).collect()
}

#[test]
fn target_waits_for_its_rule_destination_and_role() {
    let action = target_action(Op::Create);
    assert_eq!(blocked_by(&action, &not_done(&[]), None), None);
    assert_eq!(
        blocked_by(&action, &not_done(&[(ResourceKind::Rule, "fb-x-gd")]), None).as_deref(),
        Some("skipped: rule fb-x-gd failed")
    );
    assert_eq!(
        blocked_by(
            &action,
            &not_done(&[(ResourceKind::ApiDestination, "fb-x-gd-dest")]),
            None
        )
        .as_deref(),
        Some("skipped: api_destination fb-x-gd-dest failed")
    );
    assert_eq!(
        blocked_by(&action, &not_done(&[]), Some("fb-x-invoke")).as_deref(),
        Some("skipped: iam_role fb-x-invoke failed")
    );
    // Another rule's failure does not block it.
    assert_eq!(
        blocked_by(
            &action,
            &not_done(&[(ResourceKind::Rule, "fb-x-other")]),
            None
        ),
        None
    );
}

#[test]
fn destination_waits_for_its_connection() {
    let action = Action {
        op: Op::Update,
        kind: ResourceKind::ApiDestination,
        name: "fb-x-gd-dest".into(),
        changes: vec![],
        desired: Some(DesiredResource::ApiDestination(ApiDestinationSpec {
            name: "fb-x-gd-dest".into(),
            description: String::new(),
            connection: "fb-x-gd-conn".into(),
            endpoint: "https://relay.example/v1/events".into(),
            http_method: "POST".into(),
            rate_limit_per_second: 2,
        })),
        existing_arn: None,
    };
    assert_eq!(blocked_by(&action, &not_done(&[]), None), None);
    assert_eq!(
        blocked_by(
            &action,
            &not_done(&[(ResourceKind::Connection, "fb-x-gd-conn")]),
            None
        )
        .as_deref(),
        Some("skipped: connection fb-x-gd-conn failed")
    );
}

#[test]
fn deletes_wait_for_what_may_still_reference_them() {
    let failed_target = not_done(&[(ResourceKind::Target, "fb-x-gd/backlog")]);
    let rule = delete(ResourceKind::Rule, "fb-x-gd");
    assert!(blocked_by(&rule, &failed_target, None).is_some());
    let other_rule = delete(ResourceKind::Rule, "fb-x-other");
    assert_eq!(blocked_by(&other_rule, &failed_target, None), None);
    let dest = delete(ResourceKind::ApiDestination, "fb-x-gd-dest");
    assert!(blocked_by(&dest, &failed_target, None).is_some());
    let conn = delete(ResourceKind::Connection, "fb-x-gd-conn");
    assert!(blocked_by(
        &conn,
        &not_done(&[(ResourceKind::ApiDestination, "fb-x-gd-dest")]),
        None
    )
    .is_some());
    assert_eq!(blocked_by(&conn, &not_done(&[]), None), None);
}

#[test]
fn whole_event_target_has_no_input_and_transformer_is_sent() {
    let t = build_target(&target_spec(TargetInput::WholeEvent), "arn:dest".into()).unwrap();
    assert_eq!(t.arn(), "arn:dest");
    assert!(t.input_transformer().is_none() && t.input().is_none());
    assert_eq!(
        t.retry_policy().and_then(|p| p.maximum_retry_attempts()),
        Some(5)
    );

    let paths = BTreeMap::from([("Title".to_owned(), "$.detail.findings[0].Title".to_owned())]);
    let spec = target_spec(TargetInput::Transformer {
        paths,
        template: "{\"summary\":\"<Title>\"}".into(),
    });
    let t = build_target(&spec, "arn:dest".into()).unwrap();
    let tr = t.input_transformer().unwrap();
    assert_eq!(tr.input_template(), "{\"summary\":\"<Title>\"}");
    assert_eq!(
        tr.input_paths_map()
            .unwrap()
            .get("Title")
            .map(String::as_str),
        Some("$.detail.findings[0].Title")
    );
}

#[test]
fn other_input_is_never_written() {
    let spec = target_spec(TargetInput::Other {
        description: "InputPath $.detail".into(),
    });
    let err = build_target(&spec, "arn:dest".into()).unwrap_err();
    assert!(error_chain(&err).contains("never writes"), "{err}");
}

#[test]
fn failed_entries_are_reported_and_classified() {
    let e = entry_errors(
        "events:PutTargets",
        [(Some("ConcurrentModificationException"), Some("busy"))].into_iter(),
    );
    assert!(e.retryable);
    assert!(e.message.contains("busy"));
    let e = entry_errors(
        "events:PutTargets",
        [
            (Some("ConcurrentModificationException"), Some("busy")),
            (Some("ValidationException"), Some("bad arn")),
        ]
        .into_iter(),
    );
    assert!(!e.retryable);
    assert!(
        e.message.contains("ValidationException: bad arn"),
        "{}",
        e.message
    );
}

#[test]
fn rule_arn_names_its_bus() {
    assert_eq!(
        bus_from_rule_arn("arn:aws:events:us-east-1:1:rule/fb-x-gd"),
        None
    );
    assert_eq!(
        bus_from_rule_arn("arn:aws:events:us-east-1:1:rule/custom/fb-x-gd").as_deref(),
        Some("custom")
    );
}

#[test]
fn report_counts_and_failure() {
    let ok = ActionResult {
        account: "1".into(),
        region: Some("us-east-1".into()),
        kind: ResourceKind::Connection,
        name: "c".into(),
        op: Op::Create,
        outcome: Outcome::Ok,
        recorded_fingerprint: Some(RecordedFingerprint {
            account: "1".into(),
            region: "us-east-1".into(),
            connection: "c".into(),
            fingerprint: "ab".into(),
        }),
    };
    let mut report = ApplyReport {
        results: vec![ok.clone()],
    };
    assert!(!report.failed());
    assert_eq!(report.recorded_fingerprints().count(), 1);
    report.results.push(ActionResult {
        outcome: Outcome::Skipped {
            reason: "skipped: connection c failed".into(),
        },
        recorded_fingerprint: None,
        ..ok
    });
    assert!(report.failed());
    assert_eq!(report.counts(), (1, 0, 1));
}
