//! Planning from nothing, the no-op plan, and the severity split into priority rules.

mod common;

use common::*;
use fb_model::plan::{Op, ResourceKind};
use fb_model::resources::{ObservedState, TargetInput};

#[test]
fn from_nothing_creates_everything_in_dependency_order() {
    let d = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &["inspector", "gd"])],
    )]);
    let plan = fb_planner::plan(&d, &ObservedState::default());
    let c = |kind, name: &str| (Op::Create, kind, name.to_owned());
    assert_eq!(
        ops(&plan),
        vec![
            c(ResourceKind::InvokeRole, "fb-secops-invoke"),
            c(ResourceKind::Connection, "fb-secops-gd-conn"),
            c(ResourceKind::Connection, "fb-secops-inspector-conn"),
            c(ResourceKind::ApiDestination, "fb-secops-gd-dest"),
            c(ResourceKind::ApiDestination, "fb-secops-inspector-dest"),
            c(ResourceKind::Rule, "fb-secops-gd"),
            c(ResourceKind::Rule, "fb-secops-inspector"),
            c(ResourceKind::Target, "fb-secops-gd/bridge"),
            c(ResourceKind::Target, "fb-secops-inspector/bridge"),
        ]
    );
    assert_eq!(plan.counts(), (9, 0, 0));
    assert!(plan
        .actions()
        .all(|a| a.desired.is_some() && a.existing_arn.is_none() && a.changes.is_empty()));
    assert_converges(&d, &ObservedState::default());
}

#[test]
fn planning_again_after_apply_is_a_no_op() {
    let d = two_by_two();
    let observed = applied(&d);
    let plan = fb_planner::plan(&d, &observed);
    assert!(plan.is_empty(), "{}", fb_planner::render::text(&plan));
    assert_eq!(plan.counts(), (0, 0, 0));
    // Every place is still listed (with no action), so callers see what was checked.
    assert_eq!(plan.accounts.len(), 2);
    assert!(plan.accounts.iter().all(|a| a.regions.len() == 2));
}

#[test]
fn json_is_compared_parsed_not_as_text() {
    let d = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let mut observed = applied(&d);
    let r = region_mut(&mut observed, ACC1, R1);
    // AWS hands back the pattern as text, maybe with other key order and spacing.
    let reordered = r#"{ "detail": {"findings": {"Severity": {"Label": ["LOW","MEDIUM","HIGH","CRITICAL"]},
        "Workflow": {"Status": ["NEW"]}, "RecordState": ["ACTIVE"], "ProductName": ["GuardDuty"]}},
        "detail-type": ["Security Hub Findings - Imported"], "source": ["aws.securityhub"] }"#;
    r.rules[0].event_pattern = Some(reordered.to_owned());
    let plan = fb_planner::plan(&d, &observed);
    assert!(plan.is_empty(), "{}", fb_planner::render::text(&plan));
}

/// Direct delivery with `priority: {CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low}`:
/// one connection and destination, one rule (and target) per priority.
fn split_region(split: &[(&str, &[&str], u32)]) -> fb_model::resources::DesiredRegion {
    let mut conn = connection("gd");
    conn.auth = fb_model::resources::ConnectionAuth::BacklogQueryKey {
        header: "X-Findings-Bridge".into(),
        header_value: "direct".into(),
        param: "apiKey".into(),
        key: fb_model::secret::SecretRef::parse("env:BACKLOG_API_KEY").expect("valid reference"),
    };
    let mut dest = destination("gd");
    dest.endpoint = "https://example.backlog.jp/api/v2/issues".into();
    let rules = split
        .iter()
        .map(|(suffix, severities, priority_id)| {
            let input = TargetInput::Transformer {
                paths: [("Title".to_owned(), "$.detail.findings[0].Title".to_owned())].into(),
                template: format!(r#"{{"projectId":1,"issueTypeId":2,"priorityId":{priority_id},"summary":"<Title>"}}"#),
            };
            rule(ACC1, "gd", suffix, severities, input)
        })
        .collect();
    fb_model::resources::DesiredRegion {
        region: R1.into(),
        connections: vec![conn],
        destinations: vec![dest],
        rules,
    }
}

#[test]
fn severity_split_into_priority_rules() {
    let three: &[(&str, &[&str], u32)] = &[
        ("high", &["HIGH", "CRITICAL"], 2),
        ("normal", &["MEDIUM"], 3),
        ("low", &["LOW"], 4),
    ];
    let d = desired(vec![account(ACC1, vec![split_region(three)])]);
    let plan = fb_planner::plan(&d, &ObservedState::default());
    let names = |kind| -> Vec<String> {
        plan.actions()
            .filter(|a| a.kind == kind)
            .map(|a| a.name.clone())
            .collect()
    };
    assert_eq!(names(ResourceKind::Connection), ["fb-secops-gd-conn"]);
    assert_eq!(names(ResourceKind::ApiDestination), ["fb-secops-gd-dest"]);
    assert_eq!(
        names(ResourceKind::Rule),
        [
            "fb-secops-gd-high",
            "fb-secops-gd-low",
            "fb-secops-gd-normal"
        ]
    );
    assert_eq!(
        names(ResourceKind::Target),
        [
            "fb-secops-gd-high/bridge",
            "fb-secops-gd-low/bridge",
            "fb-secops-gd-normal/bridge"
        ]
    );
    let observed = applied(&d);

    // LOW now maps to Normal too: the low rule goes, the normal rule's pattern widens, the
    // shared connection and destination stay.
    let two: &[(&str, &[&str], u32)] = &[
        ("high", &["HIGH", "CRITICAL"], 2),
        ("normal", &["LOW", "MEDIUM"], 3),
    ];
    let d2 = desired(vec![account(ACC1, vec![split_region(two)])]);
    let plan = fb_planner::plan(&d2, &observed);
    let c = |op, kind, name: &str| (op, kind, name.to_owned());
    assert_eq!(
        ops(&plan),
        vec![
            c(Op::Update, ResourceKind::Rule, "fb-secops-gd-normal"),
            c(Op::Delete, ResourceKind::Target, "fb-secops-gd-low/bridge"),
            c(Op::Delete, ResourceKind::Rule, "fb-secops-gd-low"),
        ]
    );
    let update = plan.actions().next().expect("one update");
    assert_eq!(update.changes.len(), 1);
    assert_eq!(update.changes[0].field, "event_pattern");
    assert_eq!(update.changes[0].new, pattern(&["LOW", "MEDIUM"]));
    assert_converges(&d2, &observed);
}
