use std::collections::BTreeMap;

use fb_aws::ActionResult;
use fb_model::plan::{AccountPlan, RegionPlan, ResourceKind};
use fb_model::resources::{
    DesiredAccount, DesiredRegion, Naming, ObservedAccount, ObservedState, RoleSpec, RuleSpec,
};

use super::*;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn places(pairs: &[(&str, &str)], roles: &[&str]) -> ManagedPlaces {
    ManagedPlaces {
        places: pairs
            .iter()
            .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
            .collect(),
        invoke_roles: roles.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn rule(name: &str) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        description: String::new(),
        event_bus: "default".into(),
        event_pattern: serde_json::json!({}),
        state: "ENABLED".into(),
        tags: BTreeMap::new(),
        targets: Vec::new(),
    }
}

fn managed_role(account: &str) -> InvokeRole {
    InvokeRole::Managed(RoleSpec {
        name: "fb-t-invoke".into(),
        arn: format!("arn:aws:iam::{account}:role/fb-t-invoke"),
        description: String::new(),
        trust_policy: serde_json::json!({}),
        policy_name: "invoke".into(),
        policy_document: serde_json::json!({}),
    })
}

/// The file: account A with a rule in us-east-1 (and an empty eu-west-1).
fn desired() -> DesiredState {
    DesiredState {
        naming: Naming::new("t"),
        accounts: vec![DesiredAccount {
            account: A.into(),
            invoke_role: managed_role(A),
            regions: vec![
                DesiredRegion {
                    region: "us-east-1".into(),
                    connections: Vec::new(),
                    destinations: Vec::new(),
                    rules: vec![rule("fb-t-a")],
                },
                DesiredRegion {
                    region: "eu-west-1".into(),
                    connections: Vec::new(),
                    destinations: Vec::new(),
                    rules: Vec::new(),
                },
            ],
        }],
    }
}

fn delete(kind: ResourceKind, name: &str) -> Action {
    Action {
        op: Op::Delete,
        kind,
        name: name.into(),
        changes: Vec::new(),
        desired: None,
        existing_arn: Some(format!("arn:{name}")),
    }
}

fn region(name: &str, actions: Vec<Action>, error: Option<&str>) -> RegionPlan {
    RegionPlan {
        region: name.into(),
        actions,
        error: error.map(str::to_owned),
    }
}

/// A plan that removes region eu-west-2 of A and all of account B (rule, then its role).
fn removal_plan() -> Plan {
    Plan {
        prefix: "fb-t".into(),
        accounts: vec![
            AccountPlan {
                account: A.into(),
                role_actions: Vec::new(),
                regions: vec![
                    region("eu-west-1", Vec::new(), None),
                    region(
                        "eu-west-2",
                        vec![delete(ResourceKind::Rule, "fb-t-old")],
                        None,
                    ),
                    region("us-east-1", Vec::new(), None),
                ],
                error: None,
            },
            AccountPlan {
                account: B.into(),
                role_actions: vec![delete(ResourceKind::InvokeRole, "fb-t-invoke")],
                regions: vec![region(
                    "us-east-1",
                    vec![delete(ResourceKind::Connection, "fb-t-a-conn")],
                    None,
                )],
                error: None,
            },
        ],
    }
}

fn result(account: &str, region: Option<&str>, action: &Action, outcome: Outcome) -> ActionResult {
    ActionResult {
        account: account.into(),
        region: region.map(str::to_owned),
        kind: action.kind,
        name: action.name.clone(),
        op: action.op,
        outcome,
        recorded_fingerprint: None,
    }
}

/// Every action of `plan` with `outcome`.
fn report_all(plan: &Plan, outcome: &Outcome) -> ApplyReport {
    let mut results = Vec::new();
    for account in &plan.accounts {
        for region in &account.regions {
            for action in &region.actions {
                let r = Some(region.region.as_str());
                results.push(result(&account.account, r, action, outcome.clone()));
            }
        }
        for action in &account.role_actions {
            results.push(result(&account.account, None, action, outcome.clone()));
        }
    }
    ApplyReport { results }
}

fn before() -> ManagedPlaces {
    places(
        &[(A, "eu-west-2"), (A, "us-east-1"), (B, "us-east-1")],
        &[A, B],
    )
}

#[test]
fn removed_places_are_read_grouped_by_their_regions() {
    let recorded = places(
        &[
            (A, "us-east-1"),
            (A, "eu-west-2"),
            (B, "us-east-1"),
            (B, "eu-west-2"),
        ],
        &["333333333333"],
    );
    let groups = extra_places(&strings(&[A]), &strings(&["us-east-1"]), &recorded);
    let expected: BTreeMap<Vec<String>, Vec<String>> = [
        (Vec::new(), strings(&["333333333333"])),
        (strings(&["eu-west-2"]), strings(&[A])),
        (strings(&["eu-west-2", "us-east-1"]), strings(&[B])),
    ]
    .into_iter()
    .collect();
    assert_eq!(groups, expected);
}

#[test]
fn places_inside_the_file_are_not_read_twice() {
    let recorded = places(&[(A, "us-east-1")], &[A]);
    let groups = extra_places(&strings(&[A, B]), &strings(&["us-east-1"]), &recorded);
    assert!(groups.is_empty(), "{groups:?}");
}

#[test]
fn an_unreadable_account_fails_in_the_regions_it_was_read_in() {
    let recorded = places(&[(A, "eu-west-2"), (B, "eu-west-2")], &[B]);
    let regions = read_regions(&strings(&[A]), &strings(&["us-east-1"]), &recorded);
    let expected: BTreeMap<String, Vec<String>> = [
        (A.to_owned(), strings(&["us-east-1", "eu-west-2"])),
        (B.to_owned(), strings(&["eu-west-2"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(regions, expected);
}

fn observed(account: &str, regions: &[&str], error: Option<&str>) -> ObservedAccount {
    ObservedAccount {
        account: account.into(),
        role: None,
        regions: regions
            .iter()
            .map(|r| ObservedRegion {
                region: (*r).to_owned(),
                ..ObservedRegion::default()
            })
            .collect(),
        error: error.map(str::to_owned),
    }
}

/// A region's name and error.
type RegionSummary = (String, Option<String>);

fn observation(accounts: Vec<ObservedAccount>, places_read: usize) -> Observation {
    Observation {
        state: ObservedState { accounts },
        stats: ObserveStats {
            calls: 3,
            places_read,
            places_failed: 0,
        },
    }
}

#[test]
fn a_second_read_adds_regions_and_accounts_and_carries_an_open_failure_to_its_regions() {
    let mut into = observation(
        vec![
            observed(A, &["us-east-1"], None),
            observed(B, &["us-east-1"], None),
        ],
        2,
    );
    let more = observation(
        vec![
            observed(A, &["eu-west-2"], None),
            observed(B, &[], Some("AccessDenied")),
            observed("333333333333", &["eu-west-2"], None),
        ],
        2,
    );
    merge(&mut into, more, &strings(&["eu-west-2"]));
    let summary: Vec<(String, Vec<RegionSummary>)> = into
        .state
        .accounts
        .iter()
        .map(|a| {
            let regions = a
                .regions
                .iter()
                .map(|r| (r.region.clone(), r.error.clone()))
                .collect();
            (a.account.clone(), regions)
        })
        .collect();
    let region = |r: &str, e: Option<&str>| (r.to_owned(), e.map(str::to_owned));
    assert_eq!(
        summary,
        [
            (
                A.to_owned(),
                vec![region("us-east-1", None), region("eu-west-2", None)]
            ),
            (
                B.to_owned(),
                vec![
                    region("us-east-1", None),
                    region("eu-west-2", Some("AccessDenied"))
                ]
            ),
            ("333333333333".to_owned(), vec![region("eu-west-2", None)]),
        ]
    );
    assert_eq!(into.stats.calls, 6);
    assert_eq!(into.stats.places_read, 4);
}

#[test]
fn places_emptied_by_a_successful_apply_are_forgotten() {
    let plan = removal_plan();
    let report = report_all(&plan, &Outcome::Ok);
    let after = places_after(&desired(), &plan, Some(&report), &before());
    assert_eq!(after, places(&[(A, "us-east-1")], &[A]));
}

#[test]
fn places_whose_deletes_failed_or_were_skipped_are_kept() {
    let plan = removal_plan();
    let failed = Outcome::Failed {
        error: "ThrottlingException".into(),
        retryable: true,
    };
    let after = places_after(
        &desired(),
        &plan,
        Some(&report_all(&plan, &failed)),
        &before(),
    );
    assert_eq!(after, before());
    let skipped = Outcome::Skipped {
        reason: "an earlier action failed".into(),
    };
    let after = places_after(
        &desired(),
        &plan,
        Some(&report_all(&plan, &skipped)),
        &before(),
    );
    assert_eq!(after, before());
}

#[test]
fn a_plan_not_applied_keeps_every_place_it_would_delete_from() {
    let after = places_after(&desired(), &removal_plan(), None, &before());
    assert_eq!(after, before());
}

#[test]
fn unreadable_places_keep_their_record_and_the_file_s_places_are_added() {
    let plan = Plan {
        prefix: "fb-t".into(),
        accounts: vec![
            AccountPlan {
                account: A.into(),
                role_actions: Vec::new(),
                regions: vec![
                    region("eu-west-2", Vec::new(), Some("AccessDenied: ListRules")),
                    region("us-east-1", Vec::new(), None),
                ],
                error: None,
            },
            AccountPlan {
                account: B.into(),
                role_actions: Vec::new(),
                regions: Vec::new(),
                error: Some("cannot assume role".into()),
            },
        ],
    };
    // Nothing of A was recorded yet (first reconcile since the record exists): the file's
    // place and role are added; B keeps what it had.
    let recorded = places(&[(A, "eu-west-2"), (B, "us-east-1")], &[B]);
    let after = places_after(&desired(), &plan, None, &recorded);
    assert_eq!(
        after,
        places(
            &[(A, "eu-west-2"), (A, "us-east-1"), (B, "us-east-1")],
            &[A, B]
        )
    );
}

#[test]
fn a_recorded_role_stays_while_a_region_of_its_account_is_unreadable() {
    let plan = Plan {
        prefix: "fb-t".into(),
        accounts: vec![AccountPlan {
            account: B.into(),
            role_actions: Vec::new(),
            regions: vec![
                region("eu-west-2", Vec::new(), Some("AccessDenied: ListRules")),
                region(
                    "us-east-1",
                    vec![delete(ResourceKind::Rule, "fb-t-a")],
                    None,
                ),
            ],
            error: None,
        }],
    };
    let recorded = places(&[(B, "eu-west-2"), (B, "us-east-1")], &[B]);
    let report = report_all(&plan, &Outcome::Ok);
    let after = places_after(&desired(), &plan, Some(&report), &recorded);
    assert_eq!(
        after,
        places(&[(A, "us-east-1"), (B, "eu-west-2")], &[A, B])
    );
}
