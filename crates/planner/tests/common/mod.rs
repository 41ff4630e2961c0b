//! Builders for the planner tests: a desired state shaped like the compiler's output (one
//! connection and destination per file rule, one EventBridge rule per priority), and helpers to
//! look at plans. Built by hand so each test says exactly what it feeds the planner.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;

use fb_model::plan::{Action, Op, Plan, ResourceKind};
use fb_model::resources::{
    ApiDestinationSpec, ConnectionAuth, ConnectionSpec, DesiredAccount, DesiredRegion,
    DesiredState, InvokeRole, Naming, ObservedState, RetryPolicy, RoleSpec, RuleSpec, TargetInput,
    TargetSpec,
};
use fb_model::secret::SecretRef;
use fb_planner::testing::simulate;
use serde_json::json;

pub const ACC1: &str = "111111111111";
pub const ACC2: &str = "222222222222";
pub const R1: &str = "us-east-1";
pub const R2: &str = "ap-northeast-1";
pub const TARGET_ID: &str = "bridge";

pub fn naming() -> Naming {
    Naming::new("secops")
}

pub fn role_spec(account: &str) -> RoleSpec {
    let name = naming().invoke_role();
    RoleSpec {
        arn: format!("arn:aws:iam::{account}:role/{name}"),
        name,
        description: "findings-bridge: EventBridge invokes API destinations".into(),
        trust_policy: json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        }),
        policy_name: "invoke-api-destinations".into(),
        policy_document: json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "events:InvokeApiDestination",
                "Resource": format!("arn:aws:events:*:{account}:api-destination/fb-secops-*")}]
        }),
    }
}

/// The pattern the compiler makes from a `match` block with these severities.
pub fn pattern(severities: &[&str]) -> serde_json::Value {
    json!({
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Imported"],
        "detail": {"findings": {
            "ProductName": ["GuardDuty"],
            "RecordState": ["ACTIVE"],
            "Workflow": {"Status": ["NEW"]},
            "Severity": {"Label": severities}
        }}
    })
}

pub fn connection(rule: &str) -> ConnectionSpec {
    ConnectionSpec {
        name: naming().connection(rule),
        description: format!("findings-bridge rule {rule}"),
        auth: ConnectionAuth::RelayApiKey {
            header: "X-Api-Key".into(),
            key: SecretRef::parse("env:FB_INGEST_KEY").expect("valid reference"),
        },
        secret_fingerprint: Some("fp-1".into()),
    }
}

pub fn destination(rule: &str) -> ApiDestinationSpec {
    ApiDestinationSpec {
        name: naming().destination(rule),
        description: format!("findings-bridge rule {rule}"),
        connection: naming().connection(rule),
        endpoint: "https://bridge.example.com/v1/events".into(),
        http_method: "POST".into(),
        rate_limit_per_second: 2,
    }
}

/// One EventBridge rule (`suffix` non-empty for a priority split) with its one target.
pub fn rule(
    account: &str,
    rule: &str,
    suffix: &str,
    severities: &[&str],
    input: TargetInput,
) -> RuleSpec {
    RuleSpec {
        name: naming().rule(rule, suffix),
        description: format!("findings-bridge rule {rule}"),
        event_bus: "default".into(),
        event_pattern: pattern(severities),
        state: "ENABLED".into(),
        tags: BTreeMap::from([("findings-bridge".to_owned(), "secops".to_owned())]),
        targets: vec![TargetSpec {
            id: TARGET_ID.into(),
            destination: naming().destination(rule),
            role_arn: role_spec(account).arn,
            input,
            retry_policy: Some(RetryPolicy {
                maximum_event_age_seconds: 3600,
                maximum_retry_attempts: 10,
            }),
            dead_letter_arn: None,
        }],
    }
}

/// A relay region holding the given file rules (all severities, one EventBridge rule each).
pub fn relay_region(account: &str, region: &str, rules: &[&str]) -> DesiredRegion {
    DesiredRegion {
        region: region.into(),
        connections: rules.iter().map(|r| connection(r)).collect(),
        destinations: rules.iter().map(|r| destination(r)).collect(),
        rules: rules
            .iter()
            .map(|r| {
                rule(
                    account,
                    r,
                    "",
                    &["LOW", "MEDIUM", "HIGH", "CRITICAL"],
                    TargetInput::WholeEvent,
                )
            })
            .collect(),
    }
}

pub fn account(account: &str, regions: Vec<DesiredRegion>) -> DesiredAccount {
    DesiredAccount {
        account: account.into(),
        invoke_role: InvokeRole::Managed(role_spec(account)),
        regions,
    }
}

pub fn desired(accounts: Vec<DesiredAccount>) -> DesiredState {
    DesiredState {
        naming: naming(),
        accounts,
    }
}

/// The usual file: two accounts × two regions, rules `gd` and `inspector`.
pub fn two_by_two() -> DesiredState {
    desired(
        [ACC1, ACC2]
            .iter()
            .map(|a| {
                account(
                    a,
                    vec![
                        relay_region(a, R1, &["gd", "inspector"]),
                        relay_region(a, R2, &["gd", "inspector"]),
                    ],
                )
            })
            .collect(),
    )
}

/// What the inventory reads after a successful apply of `desired` on empty accounts.
pub fn applied(desired: &DesiredState) -> ObservedState {
    apply(&ObservedState::default(), desired)
}

/// Plans and applies in memory; panics (failing the test) when the simulated AWS refuses.
pub fn apply(observed: &ObservedState, desired: &DesiredState) -> ObservedState {
    let plan = fb_planner::plan(desired, observed);
    simulate(observed, &plan).unwrap_or_else(|e| panic!("plan does not apply: {e}\n{plan:#?}"))
}

/// Asserts the fixed point: applying `plan(desired, observed)` then planning again is empty.
pub fn assert_converges(desired: &DesiredState, observed: &ObservedState) {
    let after = apply(observed, desired);
    let again = fb_planner::plan(desired, &after);
    assert!(
        again.is_empty(),
        "second plan not empty:\n{}",
        fb_planner::render::text(&again)
    );
}

/// `(op, kind, name)` of every action, in plan order.
pub fn ops(plan: &Plan) -> Vec<(Op, ResourceKind, String)> {
    plan.actions()
        .map(|a| (a.op, a.kind, a.name.clone()))
        .collect()
}

pub fn only_action(plan: &Plan) -> &Action {
    let all: Vec<&Action> = plan.actions().collect();
    assert_eq!(
        all.len(),
        1,
        "expected one action:\n{}",
        fb_planner::render::text(plan)
    );
    all[0]
}

pub fn region_mut<'a>(
    observed: &'a mut ObservedState,
    account: &str,
    region: &str,
) -> &'a mut fb_model::resources::ObservedRegion {
    observed
        .accounts
        .iter_mut()
        .find(|a| a.account == account)
        .and_then(|a| a.regions.iter_mut().find(|r| r.region == region))
        .expect("account and region observed")
}

pub fn account_mut<'a>(
    observed: &'a mut ObservedState,
    account: &str,
) -> &'a mut fb_model::resources::ObservedAccount {
    observed
        .accounts
        .iter_mut()
        .find(|a| a.account == account)
        .expect("account observed")
}
