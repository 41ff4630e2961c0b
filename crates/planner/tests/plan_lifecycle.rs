//! Removal, ownership, unreadable places, invalid input, and the order of actions.

mod common;

use common::*;
use fb_model::plan::{Op, ResourceKind};
use fb_model::resources::{
    InvokeRole, ObservedAccount, ObservedApiDestination, ObservedConnection, ObservedRegion,
    ObservedRule, ObservedState, ObservedTarget, TargetInput,
};

fn ops_of(actions: &[fb_model::plan::Action]) -> Vec<(Op, ResourceKind, String)> {
    actions
        .iter()
        .map(|a| (a.op, a.kind, a.name.clone()))
        .collect()
}

fn op(op: Op, kind: ResourceKind, name: &str) -> (Op, ResourceKind, String) {
    (op, kind, name.to_owned())
}

#[test]
fn a_rule_removed_from_the_file_is_deleted_with_its_parts_and_the_role_stays() {
    let before = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &["gd", "inspector"])],
    )]);
    let observed = applied(&before);
    let after = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let plan = fb_planner::plan(&after, &observed);
    assert_eq!(
        ops(&plan),
        vec![
            op(
                Op::Delete,
                ResourceKind::Target,
                "fb-secops-inspector/bridge"
            ),
            op(Op::Delete, ResourceKind::Rule, "fb-secops-inspector"),
            op(
                Op::Delete,
                ResourceKind::ApiDestination,
                "fb-secops-inspector-dest"
            ),
            op(
                Op::Delete,
                ResourceKind::Connection,
                "fb-secops-inspector-conn"
            ),
        ]
    );
    assert!(plan
        .actions()
        .all(|a| a.existing_arn.is_some() && a.desired.is_none()));
    assert_converges(&after, &observed);
}

#[test]
fn the_role_is_deleted_last_once_no_rule_needs_it() {
    let before = desired(vec![account(
        ACC1,
        vec![
            relay_region(ACC1, R1, &["gd"]),
            relay_region(ACC1, R2, &["gd"]),
        ],
    )]);
    let observed = applied(&before);

    // Rules gone from one region only: the other region still needs the role.
    let one_left = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &[]), relay_region(ACC1, R2, &["gd"])],
    )]);
    let plan = fb_planner::plan(&one_left, &observed);
    assert_eq!(plan.counts(), (0, 0, 4));
    assert!(plan.accounts[0].role_actions.is_empty());

    // No rule anywhere: the role goes too, after the regions.
    let none_left = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &[]), relay_region(ACC1, R2, &[])],
    )]);
    let plan = fb_planner::plan(&none_left, &observed);
    assert_eq!(plan.counts(), (0, 0, 9));
    assert_eq!(
        plan.accounts[0].role_actions,
        vec![fb_model::plan::Action {
            op: Op::Delete,
            kind: ResourceKind::InvokeRole,
            name: "fb-secops-invoke".into(),
            changes: vec![],
            desired: None,
            existing_arn: Some(role_spec(ACC1).arn),
        }]
    );
    assert_converges(&none_left, &observed);

    // The account removed from the file altogether: same.
    let gone = desired(vec![]);
    let plan = fb_planner::plan(&gone, &observed);
    assert_eq!(plan.counts(), (0, 0, 9));
    assert_converges(&gone, &observed);
}

#[test]
fn a_role_given_by_the_file_replaces_ours() {
    let before = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let observed = applied(&before);
    let external = "arn:aws:iam::111111111111:role/TheirInvokeRole";
    let mut after = before.clone();
    after.accounts[0].invoke_role = InvokeRole::External {
        arn: external.into(),
    };
    after.accounts[0].regions[0].rules[0].targets[0].role_arn = external.into();
    let plan = fb_planner::plan(&after, &observed);
    // The target moves to their role first (region actions), then our role goes.
    assert_eq!(
        ops_of(&plan.accounts[0].regions[0].actions),
        vec![op(Op::Update, ResourceKind::Target, "fb-secops-gd/bridge")]
    );
    assert_eq!(
        ops_of(&plan.accounts[0].role_actions),
        vec![op(Op::Delete, ResourceKind::InvokeRole, "fb-secops-invoke")]
    );
    assert_converges(&after, &observed);
    // Nothing is ever planned for the external role itself.
    let after_apply = apply(&observed, &after);
    assert!(fb_planner::plan(&after, &after_apply).is_empty());
}

/// Foreign resources in a region, some with names close to ours.
fn foreign_region() -> ObservedRegion {
    let target = ObservedTarget {
        id: "t".into(),
        arn: "arn:aws:events:us-east-1:111111111111:api-destination/fb-secopsx-gd-dest/u".into(),
        role_arn: None,
        input: TargetInput::WholeEvent,
        retry_policy: None,
        dead_letter_arn: None,
    };
    let rule = |name: &str| ObservedRule {
        name: name.into(),
        arn: format!("arn:aws:events:us-east-1:111111111111:rule/{name}"),
        event_bus: "default".into(),
        event_pattern: Some("{}".into()),
        state: "ENABLED".into(),
        description: String::new(),
        tags: Default::default(),
        targets: vec![target.clone()],
    };
    let conn = |name: &str| ObservedConnection {
        name: name.into(),
        arn: format!("arn:aws:events:us-east-1:111111111111:connection/{name}/u"),
        description: String::new(),
        authorization_type: "BASIC".into(),
        api_key_name: None,
        query_parameter_keys: vec![],
        state: "AUTHORIZED".into(),
    };
    let dest = |name: &str| ObservedApiDestination {
        name: name.into(),
        arn: format!("arn:aws:events:us-east-1:111111111111:api-destination/{name}/u"),
        connection_arn: "arn:aws:events:us-east-1:111111111111:connection/x/u".into(),
        endpoint: "https://x".into(),
        http_method: "GET".into(),
        rate_limit_per_second: None,
        description: String::new(),
    };
    ObservedRegion {
        region: R1.into(),
        connections: vec![
            conn("fb-secopsx-gd-conn"),
            conn("fb-secops"),
            conn("other-conn"),
        ],
        destinations: vec![dest("fb-secopsx-gd-dest"), dest("FB-SECOPS-gd-dest")],
        rules: vec![
            rule("fb-secopsx-gd"),
            rule("test-security-events-guardduty"),
            rule("fb-secops"),
            rule("xfb-secops-gd"),
        ],
        recorded_fingerprints: Default::default(),
        error: None,
    }
}

#[test]
fn foreign_resources_are_never_planned() {
    let mut observed = ObservedState {
        accounts: vec![ObservedAccount {
            account: ACC1.into(),
            role: None,
            regions: vec![foreign_region()],
            error: None,
        }],
    };
    // Nothing wanted: nothing to delete either.
    assert!(fb_planner::plan(&desired(vec![]), &observed).is_empty());

    // Our rules next to theirs: only ours are created, and theirs survive the apply.
    let d = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let plan = fb_planner::plan(&d, &observed);
    assert_eq!(plan.counts(), (5, 0, 0));
    assert!(plan.actions().all(|a| a.name.starts_with("fb-secops-")));
    let after = apply(&observed, &d);
    let region = &after.accounts[0].regions[0];
    assert_eq!(region.rules.len(), 5);
    assert_eq!(region.connections.len(), 4);
    assert_eq!(region.destinations.len(), 3);
    assert!(fb_planner::plan(&d, &after).is_empty());

    // A foreign role in the role slot is not ours either.
    account_mut(&mut observed, ACC1).role = Some(fb_model::resources::ObservedRole {
        name: "fb-secopsx-invoke".into(),
        arn: "arn:aws:iam::111111111111:role/fb-secopsx-invoke".into(),
        description: String::new(),
        trust_policy: serde_json::json!({}),
        policies: Default::default(),
    });
    assert!(fb_planner::plan(&desired(vec![]), &observed).is_empty());
}

#[test]
fn an_unreadable_account_or_region_is_reported_and_the_others_planned() {
    let d = two_by_two();
    let mut observed = ObservedState::default();
    observed.accounts.push(ObservedAccount {
        account: ACC2.into(),
        role: None,
        regions: vec![],
        error: Some("AccessDenied: cannot assume FindingsBridgeExecution".into()),
    });
    observed.accounts.push(ObservedAccount {
        account: ACC1.into(),
        role: None,
        regions: vec![ObservedRegion {
            region: R2.into(),
            error: Some("timeout".into()),
            ..ObservedRegion::default()
        }],
        error: None,
    });
    let plan = fb_planner::plan(&d, &observed);
    assert_eq!(
        plan.errors(),
        vec![
            (format!("{ACC1}/{R2}"), "timeout"),
            (
                ACC2.to_owned(),
                "AccessDenied: cannot assume FindingsBridgeExecution"
            ),
        ]
    );
    let acc2 = &plan.accounts[1];
    assert!(acc2.role_actions.is_empty() && acc2.regions.is_empty());
    let acc1 = &plan.accounts[0];
    assert_eq!(acc1.regions[0].region, R2);
    assert!(acc1.regions[0].actions.is_empty());
    assert_eq!(acc1.regions[1].actions.len(), 8);
    assert_eq!(plan.counts(), (9, 0, 0));
    assert_converges(&d, &observed);
}

#[test]
fn an_unreadable_region_keeps_the_role() {
    let before = desired(vec![account(
        ACC1,
        vec![
            relay_region(ACC1, R1, &["gd"]),
            relay_region(ACC1, R2, &["gd"]),
        ],
    )]);
    let mut observed = applied(&before);
    region_mut(&mut observed, ACC1, R2).error = Some("throttled".into());
    let nothing = desired(vec![account(ACC1, vec![])]);
    let plan = fb_planner::plan(&nothing, &observed);
    assert!(plan.accounts[0].role_actions.is_empty());
    assert_eq!(plan.counts(), (0, 0, 4));
}

#[test]
fn a_desired_name_we_do_not_own_is_refused_for_that_region() {
    let mut d = two_by_two();
    d.accounts[0].regions[0].rules[0].name = "someone-elses-rule".into();
    let plan = fb_planner::plan(&d, &ObservedState::default());
    let region = plan.accounts[0]
        .regions
        .iter()
        .find(|r| r.region == R1)
        .expect("planned");
    assert!(region.actions.is_empty());
    assert!(
        region
            .error
            .as_deref()
            .is_some_and(|e| e.contains("someone-elses-rule")),
        "{region:?}"
    );
    // Other places are planned as usual.
    assert_eq!(plan.accounts[1].regions[0].actions.len(), 8);
}

#[test]
fn a_connection_created_again_keeps_the_destination_in_place() {
    let d = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let mut observed = applied(&d);
    region_mut(&mut observed, ACC1, R1).connections.clear();
    let plan = fb_planner::plan(&d, &observed);
    let actions: Vec<_> = plan.actions().collect();
    assert_eq!(
        ops(&plan),
        vec![
            op(Op::Create, ResourceKind::Connection, "fb-secops-gd-conn"),
            op(
                Op::Update,
                ResourceKind::ApiDestination,
                "fb-secops-gd-dest"
            ),
        ]
    );
    assert_eq!(
        actions[1].changes[0].new,
        serde_json::json!("(known after apply)")
    );
    assert_converges(&d, &observed);
}

/// Phase of an action in a region: creates/updates by dependency, then deletes reversed.
fn phase(op: Op, kind: ResourceKind) -> usize {
    let rank = match kind {
        ResourceKind::Connection => 0,
        ResourceKind::ApiDestination => 1,
        ResourceKind::Rule => 2,
        ResourceKind::Target => 3,
        ResourceKind::InvokeRole => unreachable!("roles are account actions"),
    };
    if op == Op::Delete {
        7 - rank
    } else {
        rank
    }
}

#[test]
fn actions_are_ordered_and_the_plan_is_deterministic() {
    let before = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &["b", "d", "c"])],
    )]);
    let mut observed = applied(&before);
    let r = region_mut(&mut observed, ACC1, R1);
    r.rules
        .iter_mut()
        .for_each(|rule| rule.state = "DISABLED".into());
    r.destinations
        .iter_mut()
        .for_each(|d| d.rate_limit_per_second = None);
    r.connections.iter_mut().for_each(|c| c.description.clear());
    let after = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &["a", "c", "e", "b"])],
    )]);
    let plan = fb_planner::plan(&after, &observed);
    let actions = ops(&plan);
    let phases: Vec<usize> = actions.iter().map(|(o, k, _)| phase(*o, *k)).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{actions:?}");
    for w in actions.windows(2) {
        if phase(w[0].0, w[0].1) == phase(w[1].0, w[1].1) {
            assert!(
                w[0].2 < w[1].2,
                "sorted by name within a phase: {actions:?}"
            );
        }
    }
    assert_eq!(plan.counts(), (8, 6, 4));

    // Same plan whatever order the inputs list things in.
    let mut shuffled_desired = after.clone();
    let dr = &mut shuffled_desired.accounts[0].regions[0];
    dr.rules.reverse();
    dr.connections.rotate_left(1);
    dr.destinations.reverse();
    let mut shuffled_observed = observed.clone();
    let or = region_mut(&mut shuffled_observed, ACC1, R1);
    or.rules.reverse();
    or.connections.reverse();
    or.destinations.rotate_left(1);
    assert_eq!(
        fb_planner::plan(&shuffled_desired, &shuffled_observed),
        plan
    );
    assert_converges(&after, &observed);
}

#[test]
fn a_destination_created_again_repoints_the_target_in_place() {
    let d = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let mut observed = applied(&d);
    region_mut(&mut observed, ACC1, R1).destinations.clear();
    let plan = fb_planner::plan(&d, &observed);
    assert_eq!(
        ops(&plan),
        vec![
            op(
                Op::Create,
                ResourceKind::ApiDestination,
                "fb-secops-gd-dest"
            ),
            op(Op::Update, ResourceKind::Target, "fb-secops-gd/bridge"),
        ]
    );
    let update = plan.actions().nth(1).expect("the target update");
    assert_eq!(update.changes.len(), 1);
    assert_eq!(update.changes[0].field, "arn");
    assert_eq!(
        update.changes[0].new,
        serde_json::json!("(known after apply)")
    );
    assert_converges(&d, &observed);
}
