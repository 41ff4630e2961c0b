//! The in-memory AWS refuses what AWS would: so the "plan again is empty" checks elsewhere also
//! check the order and shape of the actions.

mod common;

use common::*;
use fb_model::plan::{Op, Plan, ResourceKind};
use fb_model::resources::ObservedState;
use fb_planner::testing::simulate;

fn removal_plan() -> (ObservedState, Plan) {
    let before = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let observed = applied(&before);
    let plan = fb_planner::plan(
        &desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &[])])]),
        &observed,
    );
    (observed, plan)
}

fn refusal(observed: &ObservedState, plan: &Plan) -> String {
    simulate(observed, plan).expect_err("refused").reason
}

#[test]
fn deleting_a_rule_before_its_targets_is_refused() {
    let (observed, mut plan) = removal_plan();
    let actions = &mut plan.accounts[0].regions[0].actions;
    assert_eq!(
        (actions[0].kind, actions[1].kind),
        (ResourceKind::Target, ResourceKind::Rule)
    );
    actions.swap(0, 1);
    assert_eq!(refusal(&observed, &plan), "the rule still has targets");
}

#[test]
fn deleting_a_connection_still_in_use_is_refused() {
    let (observed, mut plan) = removal_plan();
    let actions = &mut plan.accounts[0].regions[0].actions;
    assert_eq!(
        (actions[2].kind, actions[3].kind),
        (ResourceKind::ApiDestination, ResourceKind::Connection)
    );
    actions.swap(2, 3);
    assert_eq!(
        refusal(&observed, &plan),
        "a destination still uses the connection"
    );
}

#[test]
fn creating_twice_or_acting_on_the_wrong_arn_is_refused() {
    let d = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let create = fb_planner::plan(&d, &ObservedState::default());
    let observed = applied(&d);
    assert_eq!(refusal(&observed, &create), "already exists");

    let (observed, mut plan) = removal_plan();
    plan.accounts[0].regions[0].actions[1].existing_arn =
        Some("arn:aws:events:us-east-1:111111111111:rule/x".into());
    assert_eq!(refusal(&observed, &plan), "existing_arn does not match");
}

#[test]
fn an_action_on_a_foreign_name_is_refused() {
    let (observed, mut plan) = removal_plan();
    let action = &mut plan.accounts[0].regions[0].actions[1];
    assert_eq!(action.op, Op::Delete);
    action.name = "fb-secopsx-gd".into();
    assert_eq!(refusal(&observed, &plan), "a name we do not own");
}
