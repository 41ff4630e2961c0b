//! One test per check of the desired-state loader, each on a small change to a valid file.

use fb_model::config::{
    parse_str, AccountSource, CloseOn, ConfigError, Delivery, OnRecurrence, RoleTarget,
    RulePattern, HIDDEN_VALUE,
};

const BASE: &str = r#"version: 1
name: secops
accounts:
  ids: ["111111111111", "222222222222"]
  role: FindingsBridgeExecution
  regions: [ap-northeast-1, us-east-1]
security_hub:
  account: "111111111111"
  region: ap-northeast-1
backlog:
  base_url: https://example.backlog.jp/
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}
relay:
  public_url: https://bridge.example.com
  api_key: env:FB_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\n<Description>"
"#;

/// BASE with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str(text, "t.yaml") {
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    }
}

/// The one error at `path`, whatever else is reported.
fn error_at(text: &str, path: &str) -> ConfigError {
    let all = errors(text);
    let hits: Vec<_> = all.iter().filter(|e| e.path == path).collect();
    assert_eq!(hits.len(), 1, "want one error at {path}, got {all:#?}");
    hits[0].clone()
}

fn only_error(text: &str) -> ConfigError {
    let all = errors(text);
    assert_eq!(all.len(), 1, "want exactly one error, got {all:#?}");
    all[0].clone()
}

#[test]
fn valid_file_loads_with_documented_defaults() {
    let c = parse_str(BASE, "t.yaml").expect("BASE is valid");
    assert_eq!(
        c.accounts.source,
        AccountSource::Ids(vec!["111111111111".into(), "222222222222".into()])
    );
    assert_eq!(
        c.accounts.role,
        RoleTarget::Name("FindingsBridgeExecution".into())
    );
    assert_eq!(
        c.backlog.base_url, "https://example.backlog.jp",
        "trailing slash trimmed"
    );
    assert_eq!(c.backlog.closed_statuses, ["Closed"]);
    assert_eq!(
        c.backlog.suppress_resolutions,
        ["Won't Fix", "Invalid", "Duplication"]
    );
    assert_eq!(c.backlog.on_recurrence, OnRecurrence::Reopen);
    assert_eq!(c.backlog.close_issue_on, [CloseOn::Archived]);
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.server.shutdown_timeout_seconds, 20);
    assert_eq!(c.store.path.to_str(), Some("./findings-bridge-data"));
    assert_eq!(c.schedules.reconcile, "0 */10 * * * *");
    assert_eq!(c.schedules.closure_sync, "0 * * * * *");
    assert_eq!(c.schedules.backfill, "0 30 * * * *");
    assert_eq!(c.reconcile.concurrency, 8);
    let rule = &c.rules[0];
    assert_eq!(rule.delivery, Delivery::Relay);
    assert_eq!(rule.rate_limit_per_second, 2);
    assert!(rule.enabled);
    assert!(rule.vars.is_empty());
    assert_eq!(rule.issue.description, "<Title>\n\n<Description>");
    let RulePattern::Match(m) = &rule.pattern else {
        panic!("match expected")
    };
    assert_eq!(m.severity_labels, ["LOW", "MEDIUM", "HIGH", "CRITICAL"]);
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    let e = error_at(
        &edit("  role: Find", "  rolle: x\n  role: Find"),
        "accounts.rolle",
    );
    assert_eq!(e.line, 5);
    assert!(e.message.contains("unknown key"));
    error_at(
        &edit(
            "      record_states",
            "      colour: [red]\n      record_states",
        ),
        "rules[0].match.colour",
    );
    error_at(
        &edit("  project: SEC", "  project: SEC\n  projet: SEC"),
        "backlog.projet",
    );
}

#[test]
fn missing_required_keys_and_wrong_types_are_reported() {
    let e = error_at(&edit("  project: SEC\n", ""), "backlog.project");
    assert!(e.message.contains("required"));
    let e = error_at(
        &edit("    issue:", "    rate_limit_per_second: fast\n    issue:"),
        "rules[0].rate_limit_per_second",
    );
    assert!(
        e.message
            .contains("expected a whole number, found a string"),
        "{}",
        e.message
    );
    assert_eq!(e.value.as_deref(), Some("fast"));
    let e = error_at(
        &edit(
            "  regions: [ap-northeast-1, us-east-1]",
            "  regions: ap-northeast-1",
        ),
        "accounts.regions",
    );
    assert!(e.message.contains("expected a list"));
}

#[test]
fn version_must_be_one() {
    let e = only_error(&edit("version: 1", "version: 3"));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("version", Some("3"))
    );
}

#[test]
fn name_must_fit_resource_names() {
    let e = only_error(&edit("name: secops", "name: SecOps"));
    assert_eq!(e.path, "name");
    let long = "a".repeat(33);
    assert_eq!(
        only_error(&edit("name: secops", &format!("name: {long}"))).path,
        "name"
    );
    // A name that fits, but not with this rule name: fb-<name>-<rule>-conn > 64.
    let name = "b".repeat(30);
    let rule = "c".repeat(30);
    let text = edit("name: secops", &format!("name: {name}")).replacen(
        "- name: guardduty",
        &format!("- name: {rule}"),
        1,
    );
    let e = only_error(&text);
    assert_eq!(e.path, "rules[0].name");
    assert!(e.message.contains("64"), "{}", e.message);
}

#[test]
fn account_ids_are_twelve_digits_everywhere() {
    let e = only_error(&edit(
        r#"ids: ["111111111111", "222222222222"]"#,
        r#"ids: ["111111111111", "22222222222x"]"#,
    ));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("accounts.ids[1]", Some("22222222222x"))
    );
    let e = only_error(&edit(
        r#"  account: "111111111111""#,
        r#"  account: "1111""#,
    ));
    assert_eq!(e.path, "security_hub.account");
    let e = only_error(&edit(
        r#"ids: ["111111111111", "222222222222"]"#,
        r#"ids: ["111111111111", "111111111111"]"#,
    ));
    assert!(e.message.contains("duplicate"));
    let e = only_error(&edit(
        r#"ids: ["111111111111", "222222222222"]"#,
        r#"ids: ["111111111111", 222222222222]"#,
    ));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("accounts.ids[1]", Some("222222222222"))
    );
    assert!(e.message.contains("quotes"), "{}", e.message);
    let org = r#"organization: {include_ous: [ou-ab12-cdef3456], exclude_ids: ["123"]}"#;
    let e = only_error(&edit(r#"ids: ["111111111111", "222222222222"]"#, org));
    assert_eq!(e.path, "accounts.organization.exclude_ids[0]");
}

#[test]
fn exactly_one_account_source_and_one_role_form() {
    let e = only_error(&edit("  ids: [\"111111111111\", \"222222222222\"]\n", ""));
    assert!(e.message.contains("one of ids or organization"));
    let both = "  ids: [\"111111111111\"]\n  organization: {include_ous: [r-ab12]}\n";
    let e = only_error(&edit("  ids: [\"111111111111\", \"222222222222\"]\n", both));
    assert!(e.message.contains("not both"));
    let e = only_error(&edit(
        "  role: FindingsBridgeExecution",
        "  role: A\n  role_arn: \"arn:aws:iam::{account}:role/A\"",
    ));
    assert!(e.message.contains("role or role_arn"));
    let e = only_error(&edit(
        "  role: FindingsBridgeExecution",
        "  role_arn: arn:aws:iam::111111111111:role/A",
    ));
    assert_eq!(e.path, "accounts.role_arn");
    let ok = edit(
        "  role: FindingsBridgeExecution",
        "  role_arn: \"arn:aws:iam::{account}:role/A\"",
    );
    assert_eq!(errors(&ok), []);
    let e = only_error(&edit(
        "  role: FindingsBridgeExecution",
        "  role: FindingsBridgeExecution\n  invoke_role_arn: not-an-arn",
    ));
    assert_eq!(e.path, "accounts.invoke_role_arn");
}

#[test]
fn unknown_regions_are_refused() {
    let e = only_error(&edit(
        "[ap-northeast-1, us-east-1]",
        "[ap-northeast-1, us-east1]",
    ));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("accounts.regions[1]", Some("us-east1"))
    );
    let e = only_error(&edit("  region: ap-northeast-1", "  region: tokyo"));
    assert_eq!(e.path, "security_hub.region");
}

#[test]
fn cron_expressions_need_seconds_and_must_parse() {
    let e = only_error(&format!(
        "{BASE}schedules:\n  reconcile: \"*/10 * * * *\"\n"
    ));
    assert_eq!(e.path, "schedules.reconcile");
    let e = only_error(&format!("{BASE}schedules:\n  backfill: \"0 99 * * * *\"\n"));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("schedules.backfill", Some("0 99 * * * *"))
    );
    let ok = format!("{BASE}schedules:\n  closure_sync: \"*/30 * * * * * *\"\n");
    assert_eq!(errors(&ok), []);
}

#[test]
fn template_variables_must_be_built_in_or_declared() {
    let e = only_error(&edit("<Title>\\n", "<Titel>\\n"));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("rules[0].issue.description", Some("<Titel>"))
    );
    let declared = edit("<Title>\\n", "<Pkg>\\n").replacen(
        "    issue:",
        "    vars: {Pkg: \"$.detail.findings[0].Title\"}\n    issue:",
        1,
    );
    assert_eq!(errors(&declared), []);
    let shadow = edit("    issue:", "    vars: {Title: \"$.x\"}\n    issue:");
    assert!(only_error(&shadow).message.contains("built-in"));
    let bad_path = edit("    issue:", "    vars: {Pkg: \"detail.x\"}\n    issue:");
    assert_eq!(only_error(&bad_path).path, "rules[0].vars.Pkg");
    // `<br />` is text, not a variable (the seed's template uses it).
    assert_eq!(errors(&edit("<Title>\\n", "<Title><br />")), []);
}

#[test]
fn literal_secrets_are_refused_and_never_shown() {
    for (from, to, path) in [
        (
            "api_key: env:FB_INGEST_KEY",
            "api_key: hunter2hunter2",
            "relay.api_key",
        ),
        (
            "api_key: env:BACKLOG_API_KEY",
            "api_key: 123456789",
            "backlog.api_key",
        ),
        (
            "  role: Find",
            "  external_id: s3cr3t-value\n  role: Find",
            "accounts.external_id",
        ),
        (
            "  issue_type: Task",
            "  issue_type: Task\n  webhook_token: tok-123",
            "backlog.webhook_token",
        ),
    ] {
        let text = edit(from, to);
        let e = only_error(&text);
        assert_eq!(e.path, path);
        assert_eq!(e.value.as_deref(), Some(HIDDEN_VALUE));
        let shown = parse_str(&text, "t.yaml").unwrap_err().to_string();
        let secret = to.rsplit(": ").next().unwrap();
        assert!(!shown.contains(secret), "{shown}");
    }
    let e = only_error(&edit("api_key: env:FB_INGEST_KEY", "api_key: env:BAD-NAME"));
    assert_eq!(
        e.value.as_deref(),
        Some("env:BAD-NAME"),
        "a malformed reference is not a secret"
    );
}

const SECOND_RULE: &str = "  - name: guardduty\n    delivery: relay\n    match: {product_names: [Inspector]}\n    issue: {summary: s, description: d}\n";

#[test]
fn rule_names_are_unique_and_resource_safe() {
    let e = only_error(&format!("{BASE}{SECOND_RULE}"));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref(), e.line),
        ("rules[1].name", Some("guardduty"), 29)
    );
    let e = only_error(&edit("- name: guardduty", "- name: Guard_Duty"));
    assert_eq!(e.path, "rules[0].name");
}

#[test]
fn event_patterns_over_2048_characters_are_refused() {
    let many: Vec<String> = (0..200).map(|i| format!("Product{i:04}")).collect();
    let e = only_error(&edit("[GuardDuty]", &format!("[{}]", many.join(", "))));
    assert_eq!(e.path, "rules[0].match");
    assert!(e.message.contains("2048"));
    let raw = format!("    event_pattern: {{source: [{}]}}\n", many.join(", "));
    let text = edit("    match:\n      product_names: [GuardDuty]\n      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]\n      record_states: [ACTIVE]\n      workflow_statuses: [NEW]\n", &raw);
    assert_eq!(only_error(&text).path, "rules[0].event_pattern");
}

#[test]
fn match_and_event_pattern_exactly_one_and_raw_pattern_as_json_text() {
    let both = edit(
        "    issue:",
        "    event_pattern: {source: [aws.securityhub]}\n    issue:",
    );
    assert!(only_error(&both).message.contains("not both"));
    let neither = edit("    match:\n      product_names: [GuardDuty]\n      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]\n      record_states: [ACTIVE]\n      workflow_statuses: [NEW]\n", "");
    assert!(only_error(&neither)
        .message
        .contains("one of match or event_pattern"));
    let json_text = edit("    match:\n      product_names: [GuardDuty]\n      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]\n      record_states: [ACTIVE]\n      workflow_statuses: [NEW]\n", "    event_pattern: '{\"source\": [\"aws.securityhub\"]}'\n");
    let c = parse_str(&json_text, "t.yaml").unwrap();
    assert_eq!(
        c.rules[0].pattern,
        RulePattern::Raw(serde_json::json!({"source": ["aws.securityhub"]}))
    );
}

#[test]
fn unknown_match_values_and_severity_labels_are_refused() {
    let e = only_error(&edit(
        "[LOW, MEDIUM, HIGH, CRITICAL]",
        "[LOW, MEDIUM, HIGH, SEVERE]",
    ));
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("rules[0].match.severity_labels[3]", Some("SEVERE"))
    );
    let e = only_error(&edit("[NEW]", "[OPEN]"));
    assert_eq!(e.path, "rules[0].match.workflow_statuses[0]");
    let e = only_error(&edit("LOW: Low, INFORMATIONAL", "LOW: Low, Info"));
    assert_eq!(e.path, "backlog.priority.Info");
}

#[test]
fn priority_map_must_cover_every_matched_severity_unless_fixed() {
    let missing_low = edit("MEDIUM: Normal, LOW: Low, ", "MEDIUM: Normal, ");
    let e = only_error(&missing_low);
    assert_eq!(
        (e.path.as_str(), e.value.as_deref()),
        ("rules[0]", Some("LOW"))
    );
    let fixed = missing_low.replacen("    issue:\n", "    issue:\n      priority: Normal\n", 1);
    assert_eq!(errors(&fixed), []);
}

#[test]
fn relay_rules_need_a_relay_section() {
    let text = edit(
        "relay:\n  public_url: https://bridge.example.com\n  api_key: env:FB_INGEST_KEY\n",
        "",
    );
    let e = only_error(&text);
    assert_eq!(e.path, "rules[0].delivery");
    let direct = text.replacen("    match:", "    delivery: direct\n    match:", 1);
    assert_eq!(errors(&direct), []);
}

#[test]
fn rate_limit_is_between_1_and_300() {
    for bad in ["0", "301", "-1"] {
        let e = only_error(&edit(
            "    issue:",
            &format!("    rate_limit_per_second: {bad}\n    issue:"),
        ));
        assert_eq!(e.path, "rules[0].rate_limit_per_second");
    }
}

#[test]
fn urls_are_https_except_on_the_local_machine() {
    let e = only_error(&edit(
        "https://bridge.example.com",
        "http://bridge.example.com",
    ));
    assert_eq!(e.path, "relay.public_url");
    assert_eq!(
        errors(&edit("https://bridge.example.com", "http://127.0.0.1:8080")),
        []
    );
    assert_eq!(
        errors(&edit("https://bridge.example.com", "http://localhost:8080")),
        []
    );
    let e = only_error(&edit(
        "https://example.backlog.jp/",
        "https://example.backlog.jp/?apiKey=x",
    ));
    assert_eq!(e.path, "backlog.base_url");
}

#[test]
fn direct_templates_with_quotes_and_backslashes_stay_valid_json() {
    let text = edit(
        "description: \"<Title>\\n\\n<Description>\"",
        r#"description: 'say "hi" \ <Title>'"#,
    )
    .replacen("    match:", "    delivery: direct\n    match:", 1);
    assert_eq!(errors(&text), []);
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let e = only_error("version: 1\nname: [unclosed\n");
    assert!(e.line >= 2, "{e:?}");
    assert!(e.message.contains("not valid YAML"));
    let e = only_error("- just\n- a list\n");
    assert!(e.message.contains("expected a mapping"));
}

#[test]
fn optional_sections_are_read() {
    let text = format!(
        "{BASE}server: {{listen: \"0.0.0.0:9000\", shutdown_timeout_seconds: 5}}\nstore: {{path: /data}}\nreconcile: {{concurrency: 3}}\n"
    );
    let c = parse_str(&text, "t.yaml").unwrap();
    assert_eq!(
        (c.server.listen.as_str(), c.server.shutdown_timeout_seconds),
        ("0.0.0.0:9000", 5)
    );
    assert_eq!(c.store.path.to_str(), Some("/data"));
    assert_eq!(c.reconcile.concurrency, 3);
    let e = only_error(&format!("{BASE}server: {{listen: \"nowhere\"}}\n"));
    assert_eq!(e.path, "server.listen");
    let text = edit("    issue:", "    enabled: false\n    issue:").replacen(
        "  issue_type: Task",
        "  issue_type: Task\n  on_recurrence: comment\n  close_issue_on: [archived, resolved]",
        1,
    );
    let c = parse_str(&text, "t.yaml").unwrap();
    assert!(!c.rules[0].enabled);
    assert_eq!(c.backlog.on_recurrence, OnRecurrence::Comment);
    assert_eq!(
        c.backlog.close_issue_on,
        [CloseOn::Archived, CloseOn::Resolved]
    );
    let e = only_error(&edit(
        "  issue_type: Task",
        "  issue_type: Task\n  on_recurrence: ignore",
    ));
    assert_eq!(e.path, "backlog.on_recurrence");
}

#[test]
fn yaml_tags_are_read_through_and_duplicate_keys_or_documents_are_refused() {
    let tagged = edit(
        "api_key: env:FB_INGEST_KEY",
        "api_key: !!str env:FB_INGEST_KEY",
    );
    assert_eq!(errors(&tagged), []);
    let e = only_error(&edit("name: secops", "name: secops\nname: other"));
    assert!(e.message.contains("duplicated key"), "{}", e.message);
    assert_eq!(e.line, 3);
    let e = only_error(&format!("{BASE}---\nversion: 1\n"));
    assert!(
        e.message.contains("exactly one YAML document"),
        "{}",
        e.message
    );
}
