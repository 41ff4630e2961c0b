//! The inventory and the executor against moto (started by the `fb-e2e` harness on 127.0.0.1):
//! create everything in two accounts × two regions through assumed roles, read it back, update
//! in place (ARNs kept), delete; an account whose role cannot be assumed fails alone; a missing
//! secret fails its connection and skips what depends on it.
//!
//! Plans are written by hand here so these tests exercise this crate alone (the planner has its
//! own tests, and the end-to-end tests run both together).

use std::collections::BTreeMap;

use fb_aws::executor::{execute, Outcome};
use fb_aws::inventory::{observe, ObserveScope};
use fb_aws::Sessions;
use fb_e2e::moto::Moto;
use fb_model::config::types::RoleTarget;
use fb_model::plan::{AccountPlan, Action, DesiredResource, Op, Plan, RegionPlan, ResourceKind};
use fb_model::resources::{
    ApiDestinationSpec, ConnectionAuth, ConnectionSpec, Naming, RoleSpec, RuleSpec, TargetInput,
    TargetSpec,
};
use fb_model::secret::{Secret, SecretRef, SecretResolveError};
use serde_json::json;

const ROLE: &str = "FindingsBridgeExecution";
const GOOD: [&str; 2] = ["111111111111", "222222222222"];
const LOCKED: &str = "333333333333";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const SECRET_VALUE: &str = "s3cret-backlog-key";

fn resolver(r: &SecretRef) -> Result<Secret, SecretResolveError> {
    match r {
        SecretRef::Env(name) if name == "FB_TEST_BACKLOG_KEY" => Ok(Secret::new(SECRET_VALUE)),
        SecretRef::Env(name) => Err(SecretResolveError::EnvMissing { name: name.clone() }),
        SecretRef::File(p) => Err(SecretResolveError::FileEmpty {
            path: p.display().to_string(),
        }),
    }
}

fn naming() -> Naming {
    Naming::new("t")
}

fn role_spec(account: &str, description: &str) -> RoleSpec {
    let n = naming();
    RoleSpec {
        name: n.invoke_role(),
        arn: format!("arn:aws:iam::{account}:role/{}", n.invoke_role()),
        description: description.into(),
        trust_policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        policy_name: "invoke-api-destinations".into(),
        policy_document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": format!("arn:aws:events:*:{account}:api-destination/fb-t-*")}]}),
    }
}

fn connection(key_env: &str, description: &str) -> ConnectionSpec {
    ConnectionSpec {
        name: naming().connection("gd"),
        description: description.into(),
        auth: ConnectionAuth::BacklogQueryKey {
            header: "X-Dummy".into(),
            header_value: "dummy".into(),
            param: "apiKey".into(),
            key: SecretRef::Env(key_env.into()),
        },
        secret_fingerprint: Some("fp-1".into()),
    }
}

fn destination(rate: u32) -> ApiDestinationSpec {
    ApiDestinationSpec {
        name: naming().destination("gd"),
        description: "to Backlog".into(),
        connection: naming().connection("gd"),
        endpoint: "https://example.backlog.jp/api/v2/issues".into(),
        http_method: "POST".into(),
        rate_limit_per_second: rate,
    }
}

fn rule(severities: &[&str], tags: &[(&str, &str)]) -> RuleSpec {
    RuleSpec {
        name: naming().rule("gd", ""),
        description: "GuardDuty findings".into(),
        event_bus: "default".into(),
        event_pattern: json!({"source": ["aws.securityhub"],
            "detail-type": ["Security Hub Findings - Imported"],
            "detail": {"findings": {"Severity": {"Label": severities}}}}),
        state: "ENABLED".into(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        targets: vec![],
    }
}

fn target(account: &str, template: &str) -> TargetSpec {
    TargetSpec {
        id: "backlog".into(),
        destination: naming().destination("gd"),
        role_arn: role_spec(account, "").arn,
        input: TargetInput::Transformer {
            paths: BTreeMap::from([("Title".into(), "$.detail.findings[0].Title".into())]),
            template: template.into(),
        },
        retry_policy: None,
        dead_letter_arn: None,
    }
}

fn action(op: Op, kind: ResourceKind, name: &str, desired: Option<DesiredResource>) -> Action {
    Action {
        op,
        kind,
        name: name.into(),
        changes: vec![],
        desired,
        existing_arn: None,
    }
}

/// Everything for one rule, created (or updated) in every region of `accounts`.
fn write_plan(accounts: &[&str], op: Op, v: &Version) -> Plan {
    let accounts = accounts
        .iter()
        .map(|account| {
            let rule_spec = rule(&v.severities, &v.tags);
            let regions = REGIONS
                .iter()
                .map(|region| RegionPlan {
                    region: (*region).into(),
                    actions: vec![
                        action(
                            op,
                            ResourceKind::Connection,
                            &naming().connection("gd"),
                            Some(DesiredResource::Connection(connection(
                                v.key_env,
                                v.description,
                            ))),
                        ),
                        action(
                            op,
                            ResourceKind::ApiDestination,
                            &naming().destination("gd"),
                            Some(DesiredResource::ApiDestination(destination(v.rate))),
                        ),
                        action(
                            op,
                            ResourceKind::Rule,
                            &rule_spec.name,
                            Some(DesiredResource::Rule(rule_spec.clone())),
                        ),
                        action(
                            op,
                            ResourceKind::Target,
                            &format!("{}/backlog", rule_spec.name),
                            Some(DesiredResource::Target {
                                rule: rule_spec.name.clone(),
                                target: target(account, v.template),
                            }),
                        ),
                    ],
                    error: None,
                })
                .collect();
            AccountPlan {
                account: (*account).into(),
                role_actions: vec![action(
                    op,
                    ResourceKind::InvokeRole,
                    &naming().invoke_role(),
                    Some(DesiredResource::Role(role_spec(account, v.description))),
                )],
                regions,
                error: None,
            }
        })
        .collect();
    Plan {
        prefix: naming().prefix,
        accounts,
    }
}

fn delete_plan(accounts: &[&str]) -> Plan {
    let n = naming();
    let del = |kind, name: &str| action(Op::Delete, kind, name, None);
    Plan {
        prefix: n.prefix.clone(),
        accounts: accounts
            .iter()
            .map(|a| AccountPlan {
                account: (*a).into(),
                role_actions: vec![del(ResourceKind::InvokeRole, &n.invoke_role())],
                regions: REGIONS
                    .iter()
                    .map(|r| RegionPlan {
                        region: (*r).into(),
                        actions: vec![
                            del(
                                ResourceKind::Target,
                                &format!("{}/backlog", n.rule("gd", "")),
                            ),
                            del(ResourceKind::Rule, &n.rule("gd", "")),
                            del(ResourceKind::ApiDestination, &n.destination("gd")),
                            del(ResourceKind::Connection, &n.connection("gd")),
                        ],
                        error: None,
                    })
                    .collect(),
                error: None,
            })
            .collect(),
    }
}

struct Version {
    severities: Vec<&'static str>,
    tags: Vec<(&'static str, &'static str)>,
    rate: u32,
    description: &'static str,
    template: &'static str,
    key_env: &'static str,
}

async fn setup() -> (Moto, Sessions) {
    let moto = Moto::start().expect("moto starts (run ./scripts/test.sh once for .venv)");
    for account in GOOD {
        moto.create_execution_role(account, ROLE).await.unwrap();
    }
    let sessions = Sessions::new(
        moto.base_config("us-east-1"),
        RoleTarget::Name(ROLE.into()),
        None,
    );
    (moto, sessions)
}

fn scope<'a>(
    naming: &'a Naming,
    accounts: &'a [String],
    regions: &'a [String],
) -> ObserveScope<'a> {
    ObserveScope {
        naming,
        accounts,
        regions,
        read_invoke_role: true,
        concurrency: 3,
    }
}

#[tokio::test]
async fn create_read_update_in_place_and_delete() {
    let (_moto, sessions) = setup().await;
    let n = naming();
    let accounts: Vec<String> = GOOD
        .iter()
        .map(|s| s.to_string())
        .chain([LOCKED.to_string()])
        .collect();
    let regions: Vec<String> = REGIONS.iter().map(|s| s.to_string()).collect();
    let v1 = Version {
        severities: vec!["HIGH", "CRITICAL"],
        tags: vec![("team", "secops"), ("managed-by", "findings-bridge")],
        rate: 2,
        description: "v1",
        template: "{\"summary\":\"<Title>\"}",
        key_env: "FB_TEST_BACKLOG_KEY",
    };

    // Create: the locked account fails alone, with the reason, every other action succeeds.
    let all: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let report = execute(&sessions, &write_plan(&all, Op::Create, &v1), &resolver, 4).await;
    for r in &report.results {
        if r.account == LOCKED {
            let Outcome::Failed { error, .. } = &r.outcome else {
                panic!("{r:?}")
            };
            assert!(error.contains(LOCKED) && error.contains(ROLE), "{error}");
        } else {
            assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        }
    }
    assert!(report.failed());
    let fps: Vec<_> = report.recorded_fingerprints().collect();
    assert_eq!(fps.len(), GOOD.len() * REGIONS.len());
    assert!(fps
        .iter()
        .all(|f| f.fingerprint == "fp-1" && f.connection == n.connection("gd")));
    let shown = format!("{report:?} {}", serde_json::to_string(&report).unwrap());
    assert!(!shown.contains(SECRET_VALUE));

    // Read back.
    let ticks = std::sync::Mutex::new(Vec::new());
    let seen = observe(&sessions, scope(&n, &accounts, &regions), |done, total| {
        ticks.lock().unwrap().push((done, total))
    })
    .await;
    let ticks = ticks.into_inner().unwrap();
    let places = accounts.len() * regions.len();
    assert_eq!(ticks.last(), Some(&(places, places)));
    assert!(ticks.windows(2).all(|w| w[0].0 < w[1].0), "{ticks:?}");
    let locked = seen
        .state
        .accounts
        .iter()
        .find(|a| a.account == LOCKED)
        .unwrap();
    assert!(locked.error.as_deref().unwrap().contains(ROLE));
    // Per account: GetRole, ListRolePolicies, GetRolePolicy. Per region with one rule: three
    // lists, two describes, ListTargetsByRule, ListTagsForResource.
    assert_eq!(
        seen.stats.calls,
        GOOD.len() * 3 + GOOD.len() * REGIONS.len() * 7
    );
    assert_eq!(seen.stats.places_read, GOOD.len() * REGIONS.len());
    assert!(!format!("{:?}", seen.state).contains(SECRET_VALUE));
    let mut first_arns = Vec::new();
    for account in seen.state.accounts.iter().filter(|a| a.account != LOCKED) {
        assert_eq!(account.error, None);
        let role = account.role.as_ref().expect("role read");
        let want = role_spec(&account.account, "v1");
        assert_eq!(
            (role.arn.as_str(), role.description.as_str()),
            (want.arn.as_str(), "v1")
        );
        assert_eq!(role.trust_policy, want.trust_policy);
        assert_eq!(
            role.policies,
            BTreeMap::from([(want.policy_name, want.policy_document)])
        );
        assert_eq!(account.regions.len(), REGIONS.len());
        for region in &account.regions {
            assert_eq!(region.error, None);
            let c = &region.connections[0];
            assert_eq!(c.authorization_type, "API_KEY");
            assert_eq!(c.api_key_name.as_deref(), Some("X-Dummy"));
            assert_eq!(c.query_parameter_keys, vec!["apiKey"]);
            let d = &region.destinations[0];
            assert_eq!(d.connection_arn, c.arn);
            assert_eq!(d.rate_limit_per_second, Some(2));
            assert_eq!(d.http_method, "POST");
            let r = &region.rules[0];
            let pattern: serde_json::Value =
                serde_json::from_str(r.event_pattern.as_deref().unwrap()).unwrap();
            assert_eq!(pattern, rule(&v1.severities, &[]).event_pattern);
            assert_eq!(r.tags.get("team").map(String::as_str), Some("secops"));
            assert_eq!(r.targets.len(), 1);
            assert_eq!(r.targets[0].arn, d.arn);
            assert_eq!(r.targets[0].role_arn.as_deref(), Some(role.arn.as_str()));
            assert_eq!(
                r.targets[0].input,
                target(&account.account, v1.template).input
            );
            first_arns.push((c.arn.clone(), d.arn.clone()));
        }
    }

    // Update in place: ARNs stay, changed fields and tags follow.
    let v2 = Version {
        severities: vec!["MEDIUM", "HIGH", "CRITICAL"],
        tags: vec![("team", "blue"), ("env", "prod")],
        rate: 5,
        description: "v2",
        template: "{\"summary\":\"[GD] <Title>\"}",
        key_env: "FB_TEST_BACKLOG_KEY",
    };
    let report = execute(&sessions, &write_plan(&GOOD, Op::Update, &v2), &resolver, 4).await;
    assert!(!report.failed(), "{report:#?}");
    let seen = observe(&sessions, scope(&n, &accounts[..2], &regions), |_, _| {}).await;
    let mut second_arns = Vec::new();
    for account in &seen.state.accounts {
        assert_eq!(account.role.as_ref().unwrap().description, "v2");
        for region in &account.regions {
            let (c, d, r) = (
                &region.connections[0],
                &region.destinations[0],
                &region.rules[0],
            );
            assert_eq!(c.description, "v2");
            assert_eq!(d.rate_limit_per_second, Some(5));
            let pattern: serde_json::Value =
                serde_json::from_str(r.event_pattern.as_deref().unwrap()).unwrap();
            assert_eq!(pattern, rule(&v2.severities, &[]).event_pattern);
            let want_tags: BTreeMap<String, String> = v2
                .tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            assert_eq!(r.tags, want_tags);
            assert_eq!(
                r.targets[0].input,
                target(&account.account, v2.template).input
            );
            second_arns.push((c.arn.clone(), d.arn.clone()));
        }
    }
    assert_eq!(first_arns, second_arns);

    // Delete everything, role last.
    let report = execute(&sessions, &delete_plan(&GOOD), &resolver, 4).await;
    assert!(!report.failed(), "{report:#?}");
    let seen = observe(&sessions, scope(&n, &accounts[..2], &regions), |_, _| {}).await;
    for account in &seen.state.accounts {
        assert_eq!(account.role, None);
        for region in &account.regions {
            assert!(
                region.connections.is_empty()
                    && region.destinations.is_empty()
                    && region.rules.is_empty(),
                "{region:?}"
            );
        }
    }
    // Deleting what is already gone succeeds.
    let report = execute(&sessions, &delete_plan(&GOOD[..1]), &resolver, 4).await;
    assert!(!report.failed(), "{report:#?}");
}

#[tokio::test]
async fn a_missing_secret_fails_its_connection_and_skips_dependents() {
    let (_moto, sessions) = setup().await;
    let v = Version {
        severities: vec!["HIGH"],
        tags: vec![],
        rate: 1,
        description: "d",
        template: "{\"summary\":\"<Title>\"}",
        key_env: "FB_TEST_UNSET_KEY",
    };
    let report = execute(
        &sessions,
        &write_plan(&GOOD[..1], Op::Create, &v),
        &resolver,
        2,
    )
    .await;
    let by_kind = |region: &str, kind: ResourceKind| {
        report
            .results
            .iter()
            .find(|r| r.region.as_deref() == Some(region) && r.kind == kind)
            .map(|r| r.outcome.clone())
            .unwrap()
    };
    for region in REGIONS {
        let Outcome::Failed { error, retryable } = by_kind(region, ResourceKind::Connection) else {
            panic!("connection should fail")
        };
        assert!(error.contains("FB_TEST_UNSET_KEY") && !retryable, "{error}");
        assert_eq!(
            by_kind(region, ResourceKind::ApiDestination),
            Outcome::Skipped {
                reason: format!("skipped: connection {} failed", naming().connection("gd"))
            }
        );
        assert_eq!(by_kind(region, ResourceKind::Rule), Outcome::Ok);
        assert!(
            matches!(by_kind(region, ResourceKind::Target), Outcome::Skipped { reason } if reason.contains("api_destination"))
        );
    }
    assert!(report.recorded_fingerprints().next().is_none());
}

#[tokio::test]
async fn an_unreadable_region_is_reported_while_others_are_read() {
    let (_moto, sessions) = setup().await;
    let n = naming();
    let accounts = vec![GOOD[0].to_string()];
    let regions = vec!["us-east-1".to_string(), "xx-nowhere-1".to_string()];
    let seen = observe(&sessions, scope(&n, &accounts, &regions), |_, _| {}).await;
    let account = &seen.state.accounts[0];
    assert_eq!(account.error, None);
    assert_eq!(account.regions[0].error, None);
    // moto answers 500 for a region it does not know; the error names the call.
    let error = account.regions[1].error.as_deref().unwrap();
    assert!(error.contains("events:List"), "{error}");
    assert_eq!(seen.stats.places_read, 1);
    assert_eq!(seen.stats.places_failed, 1);
}
