//! The deployment's IAM is exactly what the code needs (issue 6, "Tests"): the CloudFormation
//! templates grant every AWS operation `fb_aws::OPERATIONS` lists and nothing else (give or take
//! the documented exceptions below), and every listed operation is really called in
//! `crates/aws/src` while every operation the code labels is listed — so neither the templates
//! nor the list can drift from the code.
//!
//! Must not: call AWS; these are file checks.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{files_under, read};
use fb_e2e::workspace_root;
use regex::Regex;
use serde_json::Value;

/// Listed operations that need no IAM permission, so no template grants them.
const NEEDS_NO_PERMISSION: &[&str] = &[
    // "No permissions are required to perform this operation" (STS API reference).
    "sts:GetCallerIdentity",
];

/// Permissions the templates must grant although the code makes no such call: AWS checks them
/// on the caller during a listed operation. (trigger operation, implied action)
const IMPLIED: &[(&str, &str)] = &[
    // EventBridge creates AWSServiceRoleForAmazonEventBridgeApiDestinations (which keeps the
    // connection secrets in Secrets Manager) on the first CreateConnection in an account.
    ("events:CreateConnection", "iam:CreateServiceLinkedRole"),
];

/// Operation labels in the code that are authorized by another IAM action.
const AUTHORIZED_AS: &[(&str, &str)] = &[
    // "BatchUpdateFindings and BatchUpdateFindingsV2 both use securityhub:BatchUpdateFindings".
    (
        "securityhub:BatchUpdateFindingsV2",
        "securityhub:BatchUpdateFindings",
    ),
];

/// The actions of a statement (`Action` is a string or a list).
fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list
            .iter()
            .map(|a| a.as_str().expect("an action string").to_owned())
            .collect(),
        other => panic!("Action {other}"),
    }
}

/// Every `Action` of every statement in a template's permission policies (trust policies,
/// `AssumeRolePolicyDocument`, say who may assume, not what the daemon may do). Only `Allow`
/// statements are expected: a `Deny` would make "granted" depend on evaluation order.
fn granted_actions(resources: &Value, out: &mut BTreeSet<String>) {
    let mut statements = Vec::new();
    collect_statements(resources, &mut statements);
    for statement in statements {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        out.extend(actions(&statement));
    }
}

#[test]
fn templates_grant_exactly_the_operations_the_code_calls() {
    let mut granted = BTreeSet::new();
    for path in files_under(&workspace_root().join("deploy/cloudformation")) {
        let template: Value = serde_json::from_str(&read(&path)).unwrap();
        granted_actions(&template["Resources"], &mut granted);
    }
    let mut expected: BTreeSet<String> = fb_aws::OPERATIONS
        .iter()
        .filter(|op| !NEEDS_NO_PERMISSION.contains(op))
        .map(|op| (*op).to_owned())
        .collect();
    for (trigger, implied) in IMPLIED {
        assert!(
            fb_aws::OPERATIONS.contains(trigger),
            "{trigger} is no longer called"
        );
        expected.insert((*implied).to_owned());
    }
    let missing: Vec<_> = expected.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not granted by deploy/cloudformation: {missing:?}; granted but never called: {extra:?}"
    );
}

/// `ListOrganizationalUnitsForParent` → `list_organizational_units_for_parent`, the SDK's name.
fn snake_case(operation: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in operation.chars() {
        // A capital starts a word; digits stay with theirs (`V2` → `v2`).
        let boundary = prev.is_some_and(|p| c.is_ascii_uppercase() && !p.is_ascii_uppercase());
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        prev = Some(c);
    }
    out
}

/// The source of crates/aws/src, without `lib.rs` (where OPERATIONS itself is written).
fn aws_sources() -> String {
    let src = workspace_root().join("crates/aws/src");
    files_under(&src)
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("rs"))
        .filter(|p| p != &src.join("lib.rs"))
        .map(|p| read(&p))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_listed_operation_is_called_in_the_aws_crate() {
    let source = aws_sources();
    // Calls not made through a fluent `client.operation()`: how the code makes them instead.
    let evidence: BTreeMap<&str, &str> = [
        ("sts:AssumeRole", "AssumeRoleProvider::builder("),
        // PassRole is checked when PutTargets hands EventBridge the invoke role.
        ("iam:PassRole", ".role_arn(&spec.role_arn)"),
    ]
    .into();
    let mut not_called = Vec::new();
    for op in fb_aws::OPERATIONS {
        let (_, name) = op.split_once(':').expect("service:Operation");
        let needle = evidence
            .get(op)
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| format!(".{}()", snake_case(name)));
        if !source.contains(&needle) {
            not_called.push(format!("{op} (looked for `{needle}`)"));
        }
    }
    assert!(
        not_called.is_empty(),
        "listed but not called: {not_called:?}"
    );

    // The other way: every operation the code labels (errors and metrics) is listed.
    let labels = Regex::new(
        r#""((?:sts|iam|events|securityhub|organizations|secretsmanager):[A-Za-z0-9]+)""#,
    )
    .unwrap();
    let mut unlisted = BTreeSet::new();
    for label in labels.captures_iter(&source).map(|c| c[1].to_owned()) {
        let action = AUTHORIZED_AS
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(label.as_str(), |(_, a)| *a);
        if !fb_aws::OPERATIONS.contains(&action) {
            unlisted.insert(label);
        }
    }
    assert!(
        unlisted.is_empty(),
        "called but not in OPERATIONS: {unlisted:?}"
    );
}

#[test]
fn snake_case_follows_the_sdk_names() {
    assert_eq!(snake_case("PutRule"), "put_rule");
    assert_eq!(
        snake_case("ListOrganizationalUnitsForParent"),
        "list_organizational_units_for_parent"
    );
    assert_eq!(
        snake_case("BatchUpdateFindingsV2"),
        "batch_update_findings_v2"
    );
}

/// Least privilege in the member accounts: every statement is limited to `fb-*` resources
/// (`${ResourcePrefix}`), except the ones AWS cannot scope: List calls, Security Hub's finding
/// calls (administrator account only) and the one service-linked role, named in full.
#[test]
fn member_role_statements_are_limited_to_managed_resources() {
    let path = workspace_root().join("deploy/cloudformation/member-execution-role.json");
    let template: Value = serde_json::from_str(&read(&path)).unwrap();
    let mut statements = Vec::new();
    collect_statements(&template["Resources"], &mut statements);
    assert!(statements.len() >= 5, "{statements:?}");
    for statement in statements {
        let actions = actions(&statement);
        let resource = statement["Resource"].to_string();
        let unscopable = actions.iter().all(|a| {
            a.starts_with("events:List")
                || a.starts_with("securityhub:")
                || a == "iam:CreateServiceLinkedRole"
        });
        if unscopable {
            if actions.iter().any(|a| a == "iam:CreateServiceLinkedRole") {
                assert!(
                    resource.contains("AWSServiceRoleForAmazonEventBridgeApiDestinations"),
                    "{statement}"
                );
            }
            continue;
        }
        assert!(
            resource.contains("${ResourcePrefix}*"),
            "not limited to fb-* resources: {statement}"
        );
    }
}

/// Every statement of every permission policy (trust policies excluded).
fn collect_statements(node: &Value, out: &mut Vec<Value>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "AssumeRolePolicyDocument" => {}
                    "PolicyDocument" => {
                        out.extend(value["Statement"].as_array().into_iter().flatten().cloned())
                    }
                    _ => collect_statements(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_statements(v, out)),
        _ => {}
    }
}
