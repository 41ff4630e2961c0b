//! What each rule becomes in each account × region.

use std::collections::BTreeMap;

use fb_model::compile::{compile, BacklogIds, CompileError, CompileInputs};
use fb_model::config::{load, parse_str, Config};
use fb_model::resources::{ConnectionAuth, InvokeRole, TargetInput};
use fb_model::secret::SecretRef;
use serde_json::json;

fn example(name: &str) -> Config {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn ids() -> BacklogIds {
    BacklogIds {
        project_id: 12345,
        issue_type_ids: BTreeMap::from([("Task".into(), 100), ("Bug".into(), 101)]),
        priority_ids: BTreeMap::from([("High".into(), 2), ("Normal".into(), 3), ("Low".into(), 4)]),
    }
}

fn inputs(accounts: &[&str]) -> CompileInputs {
    CompileInputs {
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        backlog: Some(ids()),
    }
}

#[test]
fn seed_compiles_to_the_seeds_rule_pattern_and_transformer() {
    let desired = compile(&example("seed.yaml"), &inputs(&["111111111111"])).unwrap();
    assert_eq!(desired.naming.prefix, "fb-seed");
    let [account] = desired.accounts.as_slice() else {
        panic!("one account")
    };
    let [region] = account.regions.as_slice() else {
        panic!("one region")
    };
    assert_eq!(region.region, "ap-northeast-1");

    let [conn] = region.connections.as_slice() else {
        panic!("one connection")
    };
    assert_eq!(conn.name, "fb-seed-guardduty-conn");
    assert_eq!(
        conn.auth,
        ConnectionAuth::BacklogQueryKey {
            header: "X-Findings-Bridge".into(),
            header_value: "direct".into(),
            param: "apiKey".into(),
            key: SecretRef::Env("BACKLOG_API_KEY".into()),
        }
    );
    let [dest] = region.destinations.as_slice() else {
        panic!("one destination")
    };
    assert_eq!(dest.name, "fb-seed-guardduty-dest");
    assert_eq!(dest.endpoint, "https://example.backlog.jp/api/v2/issues");
    assert_eq!(
        (dest.http_method.as_str(), dest.rate_limit_per_second),
        ("POST", 2)
    );
    assert_eq!(dest.connection, conn.name);

    let [rule] = region.rules.as_slice() else {
        panic!("one rule: priority is fixed")
    };
    assert_eq!(rule.name, "fb-seed-guardduty");
    assert_eq!(rule.state, "ENABLED");
    assert_eq!(rule.event_bus, "default");
    assert_eq!(
        rule.event_pattern,
        json!({
            "detail-type": ["Security Hub Findings - Imported"],
            "source": ["aws.securityhub"],
            "detail": {"findings": {
                "ProductName": ["GuardDuty"],
                "RecordState": ["ACTIVE"],
                "Workflow": {"Status": ["NEW"]},
                "Severity": {"Label": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]},
            }},
        })
    );
    assert_eq!(
        rule.tags.get("managed-by").map(String::as_str),
        Some("findings-bridge")
    );
    assert_eq!(
        rule.tags.get("findings-bridge/name").map(String::as_str),
        Some("seed")
    );
    let [target] = rule.targets.as_slice() else {
        panic!("one target")
    };
    assert_eq!(target.id, "backlog");
    assert_eq!(target.destination, dest.name);
    assert_eq!(
        target.role_arn,
        "arn:aws:iam::111111111111:role/fb-seed-invoke"
    );
    let TargetInput::Transformer { paths, template } = &target.input else {
        panic!("transformer")
    };
    let want_paths: BTreeMap<String, String> = [
        ("AwsAccountId", "$.detail.findings[0].AwsAccountId"),
        ("Description", "$.detail.findings[0].Description"),
        ("FindingType", "$.detail.findings[0].Types[0]"),
        ("Id", "$.detail.findings[0].Id"),
        ("Severity", "$.detail.findings[0].Severity.Label"),
        ("SourceUrl", "$.detail.findings[0].SourceUrl"),
        ("Title", "$.detail.findings[0].Title"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(paths, &want_paths);
    assert_eq!(
        template,
        r#"{"projectId": 12345, "summary": "<FindingType> found at AWS account <AwsAccountId>", "description": "<Title>\n\nDescription:\n<Description>\n\nSeverity:\n<Severity>\n\nLinks:\n[GuardDuty](<SourceUrl>)\n\nfindings-bridge: <Id>", "issueTypeId": 100, "priorityId": 3}"#
    );
}

#[test]
fn managed_invoke_role_allows_only_our_destinations() {
    let desired = compile(&example("seed.yaml"), &inputs(&["111111111111"])).unwrap();
    let InvokeRole::Managed(role) = &desired.accounts[0].invoke_role else {
        panic!("managed")
    };
    assert_eq!(role.name, "fb-seed-invoke");
    assert_eq!(role.arn, "arn:aws:iam::111111111111:role/fb-seed-invoke");
    assert_eq!(role.policy_name, "invoke-api-destinations");
    assert_eq!(
        role.trust_policy["Statement"][0]["Principal"]["Service"],
        json!("events.amazonaws.com")
    );
    assert_eq!(
        role.trust_policy["Statement"][0]["Action"],
        json!("sts:AssumeRole")
    );
    assert_eq!(
        role.policy_document["Statement"],
        json!([{
            "Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": "arn:aws:events:*:111111111111:api-destination/fb-seed-*",
        }])
    );
}

const SPLIT: &str = r#"version: 1
name: secops
accounts:
  ids: ["222222222222", "111111111111"]
  role: R
  invoke_role_arn: "arn:aws:iam::{account}:role/existing-invoke"
  regions: [us-east-1, ap-northeast-1]
security_hub: {account: "111111111111", region: ap-northeast-1}
backlog:
  base_url: https://example.backlog.jp
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}
relay: {public_url: "https://bridge.example.com", api_key: env:FB_INGEST_KEY}
rules:
  - name: gd
    delivery: direct
    match: {product_names: [GuardDuty], severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]}
    issue: {summary: "<Title>", description: "<Description>", issue_type: Bug}
  - name: all
    enabled: false
    match: {product_names: [Inspector]}
    issue: {summary: "<Title>", description: "<Description>"}
"#;

#[test]
fn direct_rule_splits_into_one_rule_per_priority_covering_every_severity() {
    let config = parse_str(SPLIT, "split.yaml").unwrap();
    let desired = compile(&config, &inputs(&["222222222222", "111111111111"])).unwrap();
    let region = &desired.accounts[0].regions[0];
    let names: Vec<&str> = region.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fb-secops-all",
            "fb-secops-all-lifecycle",
            "fb-secops-gd-high",
            "fb-secops-gd-low",
            "fb-secops-gd-normal"
        ]
    );
    let mut covered = Vec::new();
    for (name, labels, priority_id) in [
        ("fb-secops-gd-high", json!(["HIGH", "CRITICAL"]), 2),
        ("fb-secops-gd-low", json!(["LOW"]), 4),
        ("fb-secops-gd-normal", json!(["MEDIUM"]), 3),
    ] {
        let rule = region.rules.iter().find(|r| r.name == name).unwrap();
        let pattern = &rule.event_pattern;
        assert_eq!(
            pattern["detail"]["findings"]["Severity"]["Label"], labels,
            "{name}"
        );
        assert_eq!(
            pattern["detail"]["findings"]["ProductName"],
            json!(["GuardDuty"])
        );
        covered.extend(labels.as_array().unwrap().iter().cloned());
        let TargetInput::Transformer { template, .. } = &rule.targets[0].input else {
            panic!()
        };
        let body: serde_json::Value = serde_json::from_str(
            &template
                .replace("<Title>", "t")
                .replace("<Description>", "d")
                .replace("<Id>", "i"),
        )
        .unwrap();
        assert_eq!(body["priorityId"], json!(priority_id));
        assert_eq!(
            body["issueTypeId"],
            json!(101),
            "the rule's issue_type overrides backlog's"
        );
        // Every split rule posts to the one destination of the file rule.
        assert_eq!(rule.targets[0].destination, "fb-secops-gd-dest");
    }
    covered.sort_by_key(|v| v.as_str().map(str::to_owned));
    assert_eq!(
        covered,
        [
            json!("CRITICAL"),
            json!("HIGH"),
            json!("LOW"),
            json!("MEDIUM")
        ]
    );

    let relay = region
        .rules
        .iter()
        .find(|r| r.name == "fb-secops-all")
        .unwrap();
    assert_eq!(relay.state, "DISABLED");
    assert_eq!(relay.targets[0].id, "relay");
    assert_eq!(relay.targets[0].input, TargetInput::WholeEvent);
    assert!(
        relay.event_pattern["detail"]["findings"]
            .get("Severity")
            .is_none(),
        "empty lists are left out"
    );
    let dest = region
        .destinations
        .iter()
        .find(|d| d.name == "fb-secops-all-dest")
        .unwrap();
    assert_eq!(dest.endpoint, "https://bridge.example.com/v1/events");
    let conn = region
        .connections
        .iter()
        .find(|c| c.name == "fb-secops-all-conn")
        .unwrap();
    assert_eq!(
        conn.auth,
        ConnectionAuth::RelayApiKey {
            header: "X-Api-Key".into(),
            key: SecretRef::Env("FB_INGEST_KEY".into())
        }
    );
}

#[test]
fn external_invoke_role_and_sorted_accounts_and_regions() {
    let config = parse_str(SPLIT, "split.yaml").unwrap();
    let desired = compile(
        &config,
        &inputs(&["222222222222", "111111111111", "222222222222"]),
    )
    .unwrap();
    let accounts: Vec<&str> = desired
        .accounts
        .iter()
        .map(|a| a.account.as_str())
        .collect();
    assert_eq!(accounts, ["111111111111", "222222222222"]);
    for account in &desired.accounts {
        let want = format!("arn:aws:iam::{}:role/existing-invoke", account.account);
        assert_eq!(
            account.invoke_role,
            InvokeRole::External { arn: want.clone() }
        );
        let regions: Vec<&str> = account.regions.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(regions, ["ap-northeast-1", "us-east-1"]);
        for rule in &account.regions[0].rules {
            assert_eq!(rule.targets[0].role_arn, want);
        }
    }
    let again = compile(&config, &inputs(&["111111111111", "222222222222"])).unwrap();
    assert_eq!(desired, again, "compiling is deterministic");
}

#[test]
fn direct_rules_need_backlog_ids() {
    let config = example("seed.yaml");
    let no_ids = CompileInputs {
        accounts: vec!["111111111111".into()],
        backlog: None,
    };
    assert_eq!(
        compile(&config, &no_ids),
        Err(CompileError::MissingBacklogIds {
            rule: "guardduty".into()
        })
    );
    let mut wrong = inputs(&["111111111111"]);
    wrong.backlog.as_mut().unwrap().priority_ids.clear();
    assert_eq!(
        compile(&config, &wrong),
        Err(CompileError::UnknownPriority {
            rule: "guardduty".into(),
            name: "Normal".into()
        })
    );
    // Relay-only files compile without any Backlog lookup.
    let relay = example("demo.yaml");
    let desired = compile(
        &relay,
        &CompileInputs {
            accounts: vec!["111111111111".into()],
            backlog: None,
        },
    )
    .unwrap();
    assert_eq!(desired.accounts[0].regions.len(), 2);
}

#[test]
fn raw_patterns_are_narrowed_per_priority_when_they_can_be() {
    let raw = r#"    event_pattern:
      source: [aws.securityhub]
      detail: {findings: {ProductName: [Inspector], Severity: {Label: [HIGH, MEDIUM]}}}
"#;
    let text = SPLIT.replacen(
        "    match: {product_names: [GuardDuty], severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]}\n",
        raw,
        1,
    );
    let config = parse_str(&text, "raw.yaml").unwrap();
    let desired = compile(&config, &inputs(&["111111111111"])).unwrap();
    let rules = &desired.accounts[0].regions[0].rules;
    let high = rules
        .iter()
        .find(|r| r.name == "fb-secops-gd-high")
        .unwrap();
    assert_eq!(
        high.event_pattern,
        json!({"source": ["aws.securityhub"], "detail": {"findings": {
            "ProductName": ["Inspector"], "Severity": {"Label": ["HIGH"]}}}})
    );
    let normal = rules
        .iter()
        .find(|r| r.name == "fb-secops-gd-normal")
        .unwrap();
    assert_eq!(
        normal.event_pattern["detail"]["findings"]["Severity"]["Label"],
        json!(["MEDIUM"])
    );
    assert!(
        rules.iter().all(|r| r.name != "fb-secops-gd-low"),
        "LOW is not matched"
    );

    // A Label given as content filters cannot be narrowed: validation asks for issue.priority.
    let prefix = text.replacen("Label: [HIGH, MEDIUM]", "Label: [{prefix: H}]", 1);
    let errors = parse_str(&prefix, "raw.yaml").unwrap_err();
    let paths: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["rules[0].event_pattern"], "{errors}");
}

/// A relay `match` rule gets a second rule for lifecycle changes of the findings we track; the
/// direct rule and a raw-pattern relay rule get none.
#[test]
fn relay_match_rules_get_a_lifecycle_rule_for_tracked_findings() {
    let config = parse_str(SPLIT, "split.yaml").unwrap();
    let desired = compile(&config, &inputs(&["111111111111"])).unwrap();
    let rules = &desired.accounts[0].regions[0].rules;
    let main = rules.iter().find(|r| r.name == "fb-secops-all").unwrap();
    let lifecycle = rules
        .iter()
        .find(|r| r.name == "fb-secops-all-lifecycle")
        .unwrap();
    assert_eq!(
        lifecycle.event_pattern,
        json!({
            "source": ["aws.securityhub"],
            "detail-type": ["Security Hub Findings - Imported"],
            "detail": {"findings": {
                "ProductName": ["Inspector"],
                "Note": {"UpdatedBy": ["findings-bridge"]},
                "$or": [
                    {"RecordState": ["ARCHIVED"]},
                    {"Compliance": {"Status": ["PASSED"]}},
                    {"Workflow": {"Status": ["RESOLVED", "SUPPRESSED", "NEW"]}},
                ],
            }},
        })
    );
    // Same delivery as the main rule: the whole event to its destination, its role, its state.
    assert_eq!(lifecycle.targets, main.targets);
    assert_eq!(lifecycle.state, main.state);
    assert_eq!(lifecycle.tags, main.tags);
    assert!(lifecycle.description.contains("lifecycle"));
    assert!(
        rules
            .iter()
            .all(|r| !r.name.starts_with("fb-secops-gd-lifecycle")),
        "direct rules get no lifecycle rule"
    );

    // Raw patterns are the user's shape: no lifecycle rule is derived from them.
    let raw = r#"    event_pattern:
      source: [aws.securityhub]
      detail: {findings: {ProductName: [Inspector]}}
"#;
    let text = SPLIT.replacen("    match: {product_names: [Inspector]}\n", raw, 1);
    let config = parse_str(&text, "raw.yaml").unwrap();
    let desired = compile(&config, &inputs(&["111111111111"])).unwrap();
    let names: Vec<&str> = desired.accounts[0].regions[0]
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(names.contains(&"fb-secops-all"), "{names:?}");
    assert!(!names.contains(&"fb-secops-all-lifecycle"), "{names:?}");
}

/// The lifecycle pattern lets tracked findings' lifecycle changes through and keeps the
/// re-emits of findings we never wrote to (the duplicate flood) out.
#[test]
fn lifecycle_pattern_matches_only_lifecycle_changes_of_tracked_findings() {
    use fb_model::compile::lifecycle_pattern;
    use fb_model::config::RulePattern;
    use fb_model::pattern::matches;

    let config = parse_str(SPLIT, "split.yaml").unwrap();
    let RulePattern::Match(m) = &config.rules[1].pattern else {
        panic!("rule all has a match block")
    };
    let pattern = lifecycle_pattern(m);
    let event = |product: &str,
                 record: &str,
                 workflow: &str,
                 compliance: Option<&str>,
                 by: Option<&str>| {
        let mut finding = json!({
            "ProductName": product,
            "RecordState": record,
            "Workflow": {"Status": workflow},
        });
        if let Some(status) = compliance {
            finding["Compliance"] = json!({"Status": status});
        }
        if let Some(by) = by {
            finding["Note"] = json!({"Text": "Backlog SEC-1", "UpdatedBy": by});
        }
        json!({
            "source": "aws.securityhub",
            "detail-type": "Security Hub Findings - Imported",
            "detail": {"findings": [finding]},
        })
    };
    let ours = Some("findings-bridge");
    for (record, workflow, compliance) in [
        ("ARCHIVED", "NOTIFIED", None),
        ("ACTIVE", "NOTIFIED", Some("PASSED")),
        ("ACTIVE", "RESOLVED", None),
        ("ACTIVE", "SUPPRESSED", None),
        ("ACTIVE", "NEW", Some("FAILED")),
    ] {
        assert!(
            matches(
                &pattern,
                &event("Inspector", record, workflow, compliance, ours)
            ),
            "{record} {workflow} {compliance:?}"
        );
    }
    // A plain re-import of a tracked finding (still ACTIVE, NOTIFIED, FAILED): nothing to do.
    assert!(!matches(
        &pattern,
        &event("Inspector", "ACTIVE", "NOTIFIED", Some("FAILED"), ours)
    ));
    // Untracked findings (no note, or someone else's) never match, whatever their state.
    for by in [None, Some("alice")] {
        assert!(!matches(
            &pattern,
            &event("Inspector", "ARCHIVED", "NEW", Some("PASSED"), by)
        ));
    }
    // Another product's findings are another rule's.
    assert!(!matches(
        &pattern,
        &event("GuardDuty", "ARCHIVED", "NOTIFIED", None, ours)
    ));
}

/// `fb-<name>-<rule>-lifecycle` is the longest name of a relay `match` rule: the loader counts
/// it against AWS's 64 characters; a direct rule of the same name has no such rule.
#[test]
fn lifecycle_rule_names_are_counted_against_the_name_limit() {
    // fb-secops-<45>-lifecycle is 65 characters; fb-secops-<45>-conn only 60.
    let long = "a".repeat(45);
    let relay = SPLIT.replacen("- name: all", &format!("- name: {long}"), 1);
    let errors = parse_str(&relay, "long.yaml").unwrap_err();
    let paths: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["rules[1].name"], "{errors}");
    assert!(errors.errors[0].message.contains("65"), "{errors}");

    let fits = "a".repeat(44);
    let relay = SPLIT.replacen("- name: all", &format!("- name: {fits}"), 1);
    let config = parse_str(&relay, "fits.yaml").unwrap();
    let desired = compile(&config, &inputs(&["111111111111"])).unwrap();
    let rules = &desired.accounts[0].regions[0].rules;
    assert!(rules
        .iter()
        .any(|r| r.name.len() == 64 && r.name.ends_with("-lifecycle")));

    let direct = SPLIT.replacen("- name: gd", &format!("- name: {long}"), 1);
    let direct = direct.replacen(
        "severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]",
        "severity_labels: [LOW]",
        1,
    );
    assert!(parse_str(&direct, "direct.yaml").is_ok());
}

/// A relay `match` rule whose own pattern fits may still give a lifecycle pattern over
/// EventBridge's 2,048 characters: the loader reports it on `match`.
#[test]
fn lifecycle_patterns_are_counted_against_the_pattern_limit() {
    use fb_model::compile::{lifecycle_pattern, rule_pattern, MAX_EVENT_PATTERN_LEN};
    use fb_model::config::RulePattern;

    // Product names long enough that only the lifecycle pattern's extra keys push it over.
    let names: Vec<String> = (0..80)
        .map(|i| format!("product-{i:03}-{}", "x".repeat(8)))
        .collect();
    let list = names.join(", ");
    let text = SPLIT.replacen(
        "    match: {product_names: [Inspector]}\n",
        &format!("    match: {{product_names: [{list}]}}\n"),
        1,
    );
    let errors = parse_str(&text, "long.yaml").unwrap_err();
    let paths: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["rules[1].match"], "{errors}");

    // The same list fits as the rule's own pattern: it is the lifecycle pattern that is over.
    let config = parse_str(SPLIT, "split.yaml").unwrap();
    let RulePattern::Match(m) = &config.rules[1].pattern else {
        panic!("a match block")
    };
    let mut m = m.clone();
    m.product_names = names;
    assert!(
        rule_pattern(&RulePattern::Match(m.clone()))
            .to_string()
            .len()
            <= MAX_EVENT_PATTERN_LEN
    );
    assert!(lifecycle_pattern(&m).to_string().len() > MAX_EVENT_PATTERN_LEN);
}
