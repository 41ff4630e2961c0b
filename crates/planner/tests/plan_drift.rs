//! Drift on every compared field, one case each: exactly one in-place update naming that field
//! with its old and new value, on the observed ARN; applying it converges. Then the secret.

mod common;

use common::*;
use fb_model::plan::{FieldChange, Op, ResourceKind};
use fb_model::resources::{
    DesiredState, ObservedApiDestination, ObservedConnection, ObservedRole, ObservedRule,
    ObservedState, ObservedTarget, TargetInput,
};
use serde_json::{json, Value};

struct Case {
    what: &'static str,
    mutate: Box<dyn Fn(&mut ObservedState)>,
    kind: ResourceKind,
    name: &'static str,
    field: &'static str,
    old: Value,
    new: Value,
}

fn base() -> DesiredState {
    desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])])
}

fn role(o: &mut ObservedState) -> &mut ObservedRole {
    account_mut(o, ACC1).role.as_mut().expect("role applied")
}
fn conn(o: &mut ObservedState) -> &mut ObservedConnection {
    &mut region_mut(o, ACC1, R1).connections[0]
}
fn dest(o: &mut ObservedState) -> &mut ObservedApiDestination {
    &mut region_mut(o, ACC1, R1).destinations[0]
}
fn rule_of(o: &mut ObservedState) -> &mut ObservedRule {
    &mut region_mut(o, ACC1, R1).rules[0]
}
fn target_of(o: &mut ObservedState) -> &mut ObservedTarget {
    &mut rule_of(o).targets[0]
}

fn case(
    what: &'static str,
    kind: ResourceKind,
    field: &'static str,
    old: Value,
    new: Value,
    mutate: impl Fn(&mut ObservedState) + 'static,
) -> Case {
    let name = match kind {
        ResourceKind::InvokeRole => "fb-secops-invoke",
        ResourceKind::Connection => "fb-secops-gd-conn",
        ResourceKind::ApiDestination => "fb-secops-gd-dest",
        ResourceKind::Rule => "fb-secops-gd",
        ResourceKind::Target => "fb-secops-gd/bridge",
    };
    Case {
        what,
        mutate: Box::new(mutate),
        kind,
        name,
        field,
        old,
        new,
    }
}

fn cases(applied: &ObservedState) -> Vec<Case> {
    use ResourceKind::*;
    let spec = role_spec(ACC1);
    let mut probe = applied.clone();
    let conn_arn = conn(&mut probe).arn.clone();
    let dest_arn = dest(&mut probe).arn.clone();
    let other_arn =
        "arn:aws:events:us-east-1:111111111111:connection/x/00000000-0000-4000-8000-999999999999";
    vec![
        case(
            "role description",
            InvokeRole,
            "description",
            json!("edited"),
            json!(spec.description),
            |o| role(o).description = "edited".into(),
        ),
        case(
            "role trust policy",
            InvokeRole,
            "trust_policy",
            json!({}),
            spec.trust_policy.clone(),
            |o| role(o).trust_policy = json!({}),
        ),
        case(
            "role inline policy gone",
            InvokeRole,
            "policy_document",
            Value::Null,
            spec.policy_document.clone(),
            |o| role(o).policies.clear(),
        ),
        case(
            "role extra inline policy",
            InvokeRole,
            "extra_inline_policies",
            json!(["admin"]),
            json!([]),
            |o| {
                let wide = json!({"Statement": [{"Effect": "Allow", "Action": "*"}]});
                role(o).policies.insert("admin".into(), wide);
            },
        ),
        case(
            "connection description",
            Connection,
            "description",
            json!("x"),
            json!("findings-bridge rule gd"),
            |o| conn(o).description = "x".into(),
        ),
        case(
            "connection auth type",
            Connection,
            "authorization_type",
            json!("BASIC"),
            json!("API_KEY"),
            |o| conn(o).authorization_type = "BASIC".into(),
        ),
        case(
            "connection header",
            Connection,
            "api_key_name",
            json!("Authorization"),
            json!("X-Api-Key"),
            |o| conn(o).api_key_name = Some("Authorization".into()),
        ),
        case(
            "connection query keys",
            Connection,
            "query_parameter_keys",
            json!(["apiKey"]),
            json!([]),
            |o| conn(o).query_parameter_keys = vec!["apiKey".into()],
        ),
        case(
            "connection deauthorized",
            Connection,
            "state",
            json!("DEAUTHORIZED"),
            json!("AUTHORIZED"),
            |o| conn(o).state = "DEAUTHORIZED".into(),
        ),
        case(
            "destination connection",
            ApiDestination,
            "connection",
            json!(other_arn),
            json!(conn_arn),
            move |o| dest(o).connection_arn = other_arn.into(),
        ),
        case(
            "destination endpoint",
            ApiDestination,
            "endpoint",
            json!("https://evil.example/x"),
            json!("https://bridge.example.com/v1/events"),
            |o| dest(o).endpoint = "https://evil.example/x".into(),
        ),
        case(
            "destination method",
            ApiDestination,
            "http_method",
            json!("GET"),
            json!("POST"),
            |o| dest(o).http_method = "GET".into(),
        ),
        case(
            "destination rate unset",
            ApiDestination,
            "rate_limit_per_second",
            Value::Null,
            json!(2),
            |o| dest(o).rate_limit_per_second = None,
        ),
        case(
            "destination rate",
            ApiDestination,
            "rate_limit_per_second",
            json!(50),
            json!(2),
            |o| dest(o).rate_limit_per_second = Some(50),
        ),
        case(
            "destination description",
            ApiDestination,
            "description",
            json!(""),
            json!("findings-bridge rule gd"),
            |o| dest(o).description = String::new(),
        ),
        case(
            "rule pattern",
            Rule,
            "event_pattern",
            pattern(&["CRITICAL"]),
            pattern(&["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            |o| rule_of(o).event_pattern = Some(pattern(&["CRITICAL"]).to_string()),
        ),
        case(
            "rule pattern unparsable",
            Rule,
            "event_pattern",
            json!("{not json"),
            pattern(&["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            |o| rule_of(o).event_pattern = Some("{not json".into()),
        ),
        case(
            "rule pattern missing",
            Rule,
            "event_pattern",
            Value::Null,
            pattern(&["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            |o| rule_of(o).event_pattern = None,
        ),
        case(
            "rule state",
            Rule,
            "state",
            json!("DISABLED"),
            json!("ENABLED"),
            |o| rule_of(o).state = "DISABLED".into(),
        ),
        case(
            "rule description",
            Rule,
            "description",
            json!("mine now"),
            json!("findings-bridge rule gd"),
            |o| rule_of(o).description = "mine now".into(),
        ),
        case(
            "rule bus",
            Rule,
            "event_bus",
            json!("other-bus"),
            json!("default"),
            |o| rule_of(o).event_bus = "other-bus".into(),
        ),
        case(
            "rule tags",
            Rule,
            "tags",
            json!({}),
            json!({"findings-bridge": "secops"}),
            |o| rule_of(o).tags.clear(),
        ),
        case(
            "target arn",
            Target,
            "arn",
            json!("arn:aws:sqs:us-east-1:111111111111:q"),
            json!(dest_arn),
            |o| target_of(o).arn = "arn:aws:sqs:us-east-1:111111111111:q".into(),
        ),
        case(
            "target role",
            Target,
            "role_arn",
            Value::Null,
            json!(spec.arn),
            |o| target_of(o).role_arn = None,
        ),
        case(
            "target input",
            Target,
            "input",
            json!({"kind": "other", "description": "InputPath $.detail"}),
            json!({"kind": "whole_event"}),
            |o| {
                target_of(o).input = TargetInput::Other {
                    description: "InputPath $.detail".into(),
                }
            },
        ),
        case(
            "target retry",
            Target,
            "retry_policy",
            Value::Null,
            json!({"maximum_event_age_seconds": 3600, "maximum_retry_attempts": 10}),
            |o| target_of(o).retry_policy = None,
        ),
        case(
            "target dlq",
            Target,
            "dead_letter_arn",
            json!("arn:aws:sqs:us-east-1:111111111111:dlq"),
            Value::Null,
            |o| {
                target_of(o).dead_letter_arn = Some("arn:aws:sqs:us-east-1:111111111111:dlq".into())
            },
        ),
    ]
}

/// The ARN the update must act on: the observed resource's.
fn observed_arn(o: &mut ObservedState, kind: ResourceKind) -> String {
    match kind {
        ResourceKind::InvokeRole => role(o).arn.clone(),
        ResourceKind::Connection => conn(o).arn.clone(),
        ResourceKind::ApiDestination => dest(o).arn.clone(),
        ResourceKind::Rule => rule_of(o).arn.clone(),
        // A target has no ARN of its own: its rule's.
        ResourceKind::Target => rule_of(o).arn.clone(),
    }
}

#[test]
fn drift_on_every_compared_field_is_one_in_place_update() {
    let d = base();
    let applied = applied(&d);
    let cases = cases(&applied);
    assert_eq!(cases.len(), 27);
    for c in cases {
        let mut observed = applied.clone();
        (c.mutate)(&mut observed);
        let plan = fb_planner::plan(&d, &observed);
        let action = only_action(&plan);
        assert_eq!(
            (action.op, action.kind, action.name.as_str()),
            (Op::Update, c.kind, c.name),
            "{}",
            c.what
        );
        assert_eq!(
            action.changes,
            vec![FieldChange {
                field: c.field.into(),
                old: c.old,
                new: c.new
            }],
            "{}",
            c.what
        );
        assert_eq!(
            action.existing_arn,
            Some(observed_arn(&mut observed, c.kind)),
            "{}",
            c.what
        );
        assert!(action.desired.is_some(), "{}", c.what);
        assert_converges(&d, &observed);
    }
}

#[test]
fn a_stray_target_on_our_rule_is_removed() {
    let d = base();
    let mut observed = applied(&d);
    let mut stray = target_of(&mut observed).clone();
    stray.id = "added-by-hand".into();
    stray.arn = "arn:aws:sqs:us-east-1:111111111111:q".into();
    rule_of(&mut observed).targets.push(stray);
    let plan = fb_planner::plan(&d, &observed);
    let action = only_action(&plan);
    assert_eq!(
        (action.op, action.kind, action.name.as_str()),
        (
            Op::Delete,
            ResourceKind::Target,
            "fb-secops-gd/added-by-hand"
        )
    );
    assert_eq!(
        action.existing_arn,
        Some(rule_of(&mut observed).arn.clone())
    );
    assert_converges(&d, &observed);
}

fn secret_change(d: &DesiredState, observed: &ObservedState) -> Vec<FieldChange> {
    let plan = fb_planner::plan(d, observed);
    let action = only_action(&plan);
    assert_eq!(
        (action.op, action.kind),
        (Op::Update, ResourceKind::Connection)
    );
    action.changes.clone()
}

#[test]
fn a_changed_secret_updates_the_connection_without_showing_it() {
    let mut d = base();
    let observed = applied(&d);
    d.accounts[0].regions[0].connections[0].secret_fingerprint = Some("fp-2".into());
    let changes = secret_change(&d, &observed);
    assert_eq!(
        changes,
        vec![FieldChange {
            field: "secret".into(),
            old: json!("(recorded)"),
            new: json!("(changed)")
        }]
    );
    let text = fb_planner::render::text(&fb_planner::plan(&d, &observed));
    assert!(!text.contains("fp-"), "fingerprints are not shown: {text}");
    assert!(
        text.contains("\n        secret: (recorded) → (changed)\n"),
        "{text}"
    );
    assert_converges(&d, &observed);
}

#[test]
fn a_missing_secret_record_updates_the_connection() {
    let d = base();
    let mut observed = applied(&d);
    region_mut(&mut observed, ACC1, R1)
        .recorded_fingerprints
        .clear();
    let changes = secret_change(&d, &observed);
    assert_eq!(
        changes,
        vec![FieldChange {
            field: "secret".into(),
            old: json!("(unknown)"),
            new: json!("(changed)")
        }]
    );
    assert_converges(&d, &observed);
}

#[test]
fn an_unchecked_secret_is_not_compared() {
    let mut d = base();
    let mut observed = applied(&d);
    region_mut(&mut observed, ACC1, R1)
        .recorded_fingerprints
        .insert("fb-secops-gd-conn".into(), "old".into());
    d.accounts[0].regions[0].connections[0].secret_fingerprint = None;
    assert!(fb_planner::plan(&d, &observed).is_empty());
    region_mut(&mut observed, ACC1, R1)
        .recorded_fingerprints
        .clear();
    assert!(fb_planner::plan(&d, &observed).is_empty());
}
