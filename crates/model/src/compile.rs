//! A checked [`Config`] → [`DesiredState`]: the connections, API destinations, rules, targets
//! and invoke role every account × region must hold.
//!
//! Each relay rule with a `match` block also gets a lifecycle rule (`fb-<name>-<rule>-lifecycle`,
//! [`lifecycle_pattern`]): the main pattern only sees NEW findings, so without it an ARCHIVED
//! finding, a control back to PASSED or a finding resolved elsewhere would reach the daemon only
//! through its periodic re-check. Direct rules get none: their API destination posts to Backlog,
//! which cannot act on a lifecycle change; adoption and the re-check handle those findings.
//! Raw `event_pattern` rules get none either: their shape is the user's, so we cannot know
//! which part of it to widen.
//!
//! Pure and deterministic: the same inputs give the same value, in sorted order, so plans are
//! stable. Must not: discover accounts or look up Backlog ids (that is IO; the caller passes
//! the results in [`CompileInputs`]), or resolve secrets (connections carry references).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::config::{Config, Delivery, Match, Relay, Rule, RulePattern, SEVERITY_LABELS};
use crate::finding::UPDATED_BY;
use crate::resources::{
    ApiDestinationSpec, ConnectionAuth, ConnectionSpec, DesiredAccount, DesiredRegion,
    DesiredState, InvokeRole, Naming, RoleSpec, RuleSpec, TargetInput, TargetSpec,
};
use crate::template::{self, IssueIds};

/// The event source and detail type of Security Hub's imported findings (the seed's pattern).
pub const SECURITY_HUB_SOURCE: &str = "aws.securityhub";
pub const IMPORTED_DETAIL_TYPE: &str = "Security Hub Findings - Imported";
/// EventBridge's limit on an event pattern's length.
pub const MAX_EVENT_PATTERN_LEN: usize = 2048;
/// Target ids, one per delivery mode.
pub const RELAY_TARGET_ID: &str = "relay";
pub const DIRECT_TARGET_ID: &str = "backlog";
/// Rule-name suffix of a relay rule's lifecycle rule ([`lifecycle_pattern`]).
pub const LIFECYCLE_SUFFIX: &str = "lifecycle";
/// Name of the managed invoke role's one inline policy.
pub const INVOKE_POLICY_NAME: &str = "invoke-api-destinations";

/// What compiling needs from the outside world.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileInputs {
    /// Account ids to manage, already resolved (`accounts.organization` is discovered by IO).
    pub accounts: Vec<String>,
    /// Backlog ids by name; needed only when a rule uses direct delivery.
    pub backlog: Option<BacklogIds>,
}

/// Backlog names resolved to ids through the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BacklogIds {
    pub project_id: u64,
    pub issue_type_ids: BTreeMap<String, u64>,
    pub priority_ids: BTreeMap<String, u64>,
}

/// Why a direct-mode rule could not be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("rule {rule} uses direct delivery but no Backlog ids were looked up")]
    MissingBacklogIds { rule: String },
    #[error("rule {rule}: Backlog issue type {name:?} not found in the project")]
    UnknownIssueType { rule: String, name: String },
    #[error("rule {rule}: Backlog priority {name:?} not found")]
    UnknownPriority { rule: String, name: String },
    #[error("rule {rule} uses relay delivery but the file has no relay section")]
    MissingRelay { rule: String },
}

/// The whole desired state. Accounts are `inputs.accounts` (sorted, deduplicated); every
/// account gets every region of `accounts.regions`.
pub fn compile(config: &Config, inputs: &CompileInputs) -> Result<DesiredState, CompileError> {
    let naming = Naming::new(&config.name);
    let mut accounts = inputs.accounts.clone();
    accounts.sort();
    accounts.dedup();
    let mut regions = config.accounts.regions.clone();
    regions.sort();
    let mut out = Vec::with_capacity(accounts.len());
    for account in accounts {
        let invoke_role = invoke_role(config, &naming, &account);
        let per_region = regions
            .iter()
            .map(|region| desired_region(config, inputs, &naming, region, invoke_role.arn()))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(DesiredAccount {
            account,
            invoke_role,
            regions: per_region,
        });
    }
    Ok(DesiredState {
        naming,
        accounts: out,
    })
}

/// `accounts.invoke_role_arn` (with `{account}` filled in) or the managed `fb-<name>-invoke`.
pub fn invoke_role(config: &Config, naming: &Naming, account: &str) -> InvokeRole {
    if let Some(arn) = &config.accounts.invoke_role_arn {
        return InvokeRole::External {
            arn: arn.replace("{account}", account),
        };
    }
    let name = naming.invoke_role();
    InvokeRole::Managed(RoleSpec {
        arn: format!("arn:aws:iam::{account}:role/{name}"),
        name,
        description: format!(
            "findings-bridge {}: lets EventBridge call its API destinations",
            config.name
        ),
        trust_policy: json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }],
        }),
        policy_name: INVOKE_POLICY_NAME.to_owned(),
        policy_document: json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "events:InvokeApiDestination",
                "Resource": format!("arn:aws:events:*:{account}:api-destination/{}-*", naming.prefix),
            }],
        }),
    })
}

fn desired_region(
    config: &Config,
    inputs: &CompileInputs,
    naming: &Naming,
    region: &str,
    role_arn: &str,
) -> Result<DesiredRegion, CompileError> {
    let mut connections = Vec::new();
    let mut destinations = Vec::new();
    let mut rules = Vec::new();
    for rule in &config.rules {
        let relay = match (rule.delivery, &config.relay) {
            (Delivery::Relay, None) => {
                return Err(CompileError::MissingRelay {
                    rule: rule.name.clone(),
                })
            }
            (Delivery::Relay, Some(relay)) => Some(relay),
            (Delivery::Direct, _) => None,
        };
        connections.push(connection(config, naming, rule, relay));
        destinations.push(destination(config, naming, rule, relay));
        rules.extend(event_rules(config, inputs, naming, rule, role_arn)?);
    }
    connections.sort_by(|a, b| a.name.cmp(&b.name));
    destinations.sort_by(|a, b| a.name.cmp(&b.name));
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(DesiredRegion {
        region: region.to_owned(),
        connections,
        destinations,
        rules,
    })
}

/// `relay` is `Some` exactly for relay rules.
fn connection(
    config: &Config,
    naming: &Naming,
    rule: &Rule,
    relay: Option<&Relay>,
) -> ConnectionSpec {
    let (auth, what) = match relay {
        Some(relay) => {
            let auth = ConnectionAuth::RelayApiKey {
                header: "X-Api-Key".to_owned(),
                key: relay.api_key.clone(),
            };
            (auth, "the findings-bridge relay")
        }
        None => {
            let auth = ConnectionAuth::BacklogQueryKey {
                header: "X-Findings-Bridge".to_owned(),
                header_value: "direct".to_owned(),
                param: "apiKey".to_owned(),
                key: config.backlog.api_key.clone(),
            };
            (auth, "Backlog")
        }
    };
    ConnectionSpec {
        name: naming.connection(&rule.name),
        description: format!(
            "findings-bridge {}: rule {} to {what}",
            config.name, rule.name
        ),
        auth,
        secret_fingerprint: None,
    }
}

/// `relay` is `Some` exactly for relay rules.
fn destination(
    config: &Config,
    naming: &Naming,
    rule: &Rule,
    relay: Option<&Relay>,
) -> ApiDestinationSpec {
    let endpoint = match relay {
        Some(relay) => format!("{}/v1/events", relay.public_url),
        None => format!("{}/api/v2/issues", config.backlog.base_url),
    };
    ApiDestinationSpec {
        name: naming.destination(&rule.name),
        description: format!("findings-bridge {}: rule {}", config.name, rule.name),
        connection: naming.connection(&rule.name),
        endpoint,
        http_method: "POST".to_owned(),
        rate_limit_per_second: rule.rate_limit_per_second,
    }
}

/// The EventBridge rule(s) of one file rule: a relay rule's one (plus its lifecycle rule when
/// it has a `match` block), or a direct rule's one per priority when its severities map to
/// several priorities.
fn event_rules(
    config: &Config,
    inputs: &CompileInputs,
    naming: &Naming,
    rule: &Rule,
    role_arn: &str,
) -> Result<Vec<RuleSpec>, CompileError> {
    let base = rule_pattern(&rule.pattern);
    let make = |suffix: &str, pattern: Value, input: TargetInput, id: &str| RuleSpec {
        name: naming.rule(&rule.name, suffix),
        description: format!("findings-bridge {}: rule {}", config.name, rule.name),
        event_bus: "default".to_owned(),
        event_pattern: pattern,
        state: if rule.enabled { "ENABLED" } else { "DISABLED" }.to_owned(),
        tags: BTreeMap::from([
            ("managed-by".to_owned(), "findings-bridge".to_owned()),
            ("findings-bridge/name".to_owned(), config.name.clone()),
        ]),
        targets: vec![TargetSpec {
            id: id.to_owned(),
            destination: naming.destination(&rule.name),
            role_arn: role_arn.to_owned(),
            input,
            retry_policy: None,
            dead_letter_arn: None,
        }],
    };
    if rule.delivery == Delivery::Relay {
        let mut out = vec![make("", base, TargetInput::WholeEvent, RELAY_TARGET_ID)];
        if let RulePattern::Match(m) = &rule.pattern {
            let pattern = lifecycle_pattern(m);
            let mut lifecycle = make(
                LIFECYCLE_SUFFIX,
                pattern,
                TargetInput::WholeEvent,
                RELAY_TARGET_ID,
            );
            lifecycle
                .description
                .push_str(", lifecycle changes of tracked findings");
            out.push(lifecycle);
        }
        return Ok(out);
    }
    let ids = inputs
        .backlog
        .as_ref()
        .ok_or_else(|| CompileError::MissingBacklogIds {
            rule: rule.name.clone(),
        })?;
    let issue_type = rule
        .issue
        .issue_type
        .as_deref()
        .unwrap_or(&config.backlog.issue_type);
    let issue_type_id =
        *ids.issue_type_ids
            .get(issue_type)
            .ok_or_else(|| CompileError::UnknownIssueType {
                rule: rule.name.clone(),
                name: issue_type.to_owned(),
            })?;
    let groups = priority_groups(config, rule);
    let split = groups.len() > 1;
    let mut out = Vec::with_capacity(groups.len());
    for (priority, severities) in groups {
        let priority_id =
            *ids.priority_ids
                .get(&priority)
                .ok_or_else(|| CompileError::UnknownPriority {
                    rule: rule.name.clone(),
                    name: priority.clone(),
                })?;
        let transformer = template::compile_transformer(
            rule,
            &IssueIds {
                project_id: ids.project_id,
                issue_type_id,
                priority_id,
            },
        );
        let input = TargetInput::Transformer {
            paths: transformer.paths,
            template: transformer.template,
        };
        let (suffix, pattern) = if split {
            let pattern = restrict_severities(&base, &severities);
            (priority_suffix(&priority, priority_id), pattern)
        } else {
            (String::new(), base.clone())
        };
        out.push(make(&suffix, pattern, input, DIRECT_TARGET_ID));
    }
    Ok(out)
}

/// The `match` block as the seed's pattern; empty lists are left out.
pub fn match_pattern(m: &Match) -> Value {
    let mut findings = Map::new();
    if !m.product_names.is_empty() {
        findings.insert("ProductName".into(), json!(m.product_names));
    }
    if !m.record_states.is_empty() {
        findings.insert("RecordState".into(), json!(m.record_states));
    }
    if !m.workflow_statuses.is_empty() {
        findings.insert("Workflow".into(), json!({"Status": m.workflow_statuses}));
    }
    if !m.severity_labels.is_empty() {
        findings.insert("Severity".into(), json!({"Label": m.severity_labels}));
    }
    let mut pattern = json!({
        "source": [SECURITY_HUB_SOURCE],
        "detail-type": [IMPORTED_DETAIL_TYPE],
    });
    if !findings.is_empty() {
        pattern["detail"] = json!({"findings": findings});
    }
    pattern
}

/// The lifecycle pattern of a relay rule's `match` block: the rule's products, only findings
/// whose Note we wrote (`Note.UpdatedBy`, i.e. findings we track — this is what keeps
/// Security Hub's re-emits of untracked findings out), and any of: archived by the provider,
/// a control back to PASSED, resolved or suppressed outside Backlog, or reset to NEW (the
/// reset keeps our Note; the main rule may deliver the same event, the pipeline absorbs the
/// duplicate). Severity and the match block's states are left out on purpose: a tracked
/// finding's later changes concern its issue whatever they are.
pub fn lifecycle_pattern(m: &Match) -> Value {
    let mut findings = Map::new();
    if !m.product_names.is_empty() {
        findings.insert("ProductName".into(), json!(m.product_names));
    }
    findings.insert("Note".into(), json!({"UpdatedBy": [UPDATED_BY]}));
    findings.insert(
        "$or".into(),
        json!([
            {"RecordState": ["ARCHIVED"]},
            {"Compliance": {"Status": ["PASSED"]}},
            {"Workflow": {"Status": ["RESOLVED", "SUPPRESSED", "NEW"]}},
        ]),
    );
    json!({
        "source": [SECURITY_HUB_SOURCE],
        "detail-type": [IMPORTED_DETAIL_TYPE],
        "detail": {"findings": findings},
    })
}

/// A rule's event pattern, before any priority split.
pub fn rule_pattern(pattern: &RulePattern) -> Value {
    match pattern {
        RulePattern::Match(m) => match_pattern(m),
        RulePattern::Raw(raw) => raw.clone(),
    }
}

/// `pattern` narrowed to `severities` (`detail.findings.Severity.Label`). A level that is not
/// an object is replaced; validation refuses such raw patterns for split rules
/// ([`can_split_by_severity`]), so this never widens a checked file's pattern.
pub fn restrict_severities(pattern: &Value, severities: &[String]) -> Value {
    let mut out = pattern.clone();
    let mut node = &mut out;
    for key in ["detail", "findings", "Severity"] {
        if !node.is_object() {
            *node = json!({});
        }
        node = match node {
            Value::Object(map) => map.entry(key).or_insert_with(|| json!({})),
            _ => unreachable!("made an object just above"),
        };
    }
    if !node.is_object() {
        *node = json!({});
    }
    node["Label"] = json!(severities);
    out
}

/// True when [`restrict_severities`] can narrow `pattern` without replacing anything but a
/// `Severity.Label` list: `detail`, `detail.findings` and `…Severity` are objects or absent.
pub fn can_split_by_severity(pattern: &Value) -> bool {
    let mut node = pattern;
    for key in ["detail", "findings", "Severity"] {
        match node.get(key) {
            None => return true,
            Some(child) if child.is_object() => node = child,
            Some(_) => return false,
        }
    }
    match node.get("Label") {
        None => true,
        Some(labels) => labels
            .as_array()
            .is_some_and(|l| l.iter().all(Value::is_string)),
    }
}

/// The severity labels a rule can match, lowest first: its `severity_labels` (or those of a
/// raw pattern's `detail.findings.Severity.Label`), else all of them.
pub fn rule_severities(rule: &Rule) -> Vec<String> {
    let listed: Vec<String> = match &rule.pattern {
        RulePattern::Match(m) => m.severity_labels.clone(),
        RulePattern::Raw(raw) => raw
            .pointer("/detail/findings/Severity/Label")
            .and_then(Value::as_array)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    SEVERITY_LABELS
        .iter()
        .filter(|label| listed.is_empty() || listed.iter().any(|l| l == *label))
        .map(|label| (*label).to_owned())
        .collect()
}

/// Priority name → the severities of `rule` that get it. One group when the rule fixes
/// `issue.priority`. Severities missing from `backlog.priority` are left out (validation
/// refuses such files).
pub fn priority_groups(config: &Config, rule: &Rule) -> BTreeMap<String, Vec<String>> {
    let severities = rule_severities(rule);
    if let Some(fixed) = &rule.issue.priority {
        return BTreeMap::from([(fixed.clone(), severities)]);
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for severity in severities {
        if let Some(priority) = config.backlog.priority.get(&severity) {
            groups.entry(priority.clone()).or_default().push(severity);
        }
    }
    groups
}

/// The rule-name suffix of a priority: its name in lowercase with other characters as `-`;
/// `p<id>` when nothing is left (Backlog localizes priority names, e.g. Japanese).
pub fn priority_suffix(priority: &str, priority_id: u64) -> String {
    let mut out = String::new();
    for c in priority.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        format!("p{priority_id}")
    } else {
        out
    }
}
