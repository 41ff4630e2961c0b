//! The typed desired-state file. Every value here has passed validation: account ids are 12
//! digits, regions are known, cron expressions parse, templates use known variables, secrets
//! are references.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub version: u32,
    /// Managed resources are named `fb-<name>-…`.
    pub name: String,
    pub accounts: Accounts,
    pub security_hub: SecurityHub,
    pub backlog: Backlog,
    pub relay: Option<Relay>,
    pub rules: Vec<Rule>,
    pub server: Server,
    pub store: Store,
    pub schedules: Schedules,
    pub reconcile: ReconcileSettings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accounts {
    pub source: AccountSource,
    /// How to reach each account.
    pub role: RoleTarget,
    pub external_id: Option<SecretRef>,
    pub regions: Vec<String>,
    /// Given: EventBridge uses this role to call destinations, and none is managed.
    pub invoke_role_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSource {
    Ids(Vec<String>),
    Organization {
        include_ous: Vec<String>,
        exclude_ids: Vec<String>,
    },
}

/// `role: Name` or `role_arn: "arn:aws:iam::{account}:role/X"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleTarget {
    Name(String),
    ArnTemplate(String),
}

impl RoleTarget {
    /// The role ARN to assume in `account`.
    pub fn arn_for(&self, account: &str) -> String {
        match self {
            RoleTarget::Name(name) => format!("arn:aws:iam::{account}:role/{name}"),
            RoleTarget::ArnTemplate(t) => t.replace("{account}", account),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityHub {
    pub account: String,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// `https://space.backlog.jp`, no trailing slash, no `/api/v2`.
    pub base_url: String,
    pub api_key: SecretRef,
    /// Project key, e.g. `SEC`.
    pub project: String,
    pub issue_type: String,
    /// Severity label (`CRITICAL`…`INFORMATIONAL`) → priority name.
    pub priority: BTreeMap<String, String>,
    pub closed_statuses: Vec<String>,
    pub suppress_resolutions: Vec<String>,
    pub webhook_token: Option<SecretRef>,
    /// `reopen` | `comment` | `new_issue`.
    pub on_recurrence: OnRecurrence,
    /// Finding lifecycle events that close the issue (default `[archived]`).
    pub close_issue_on: Vec<CloseOn>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRecurrence {
    Reopen,
    Comment,
    NewIssue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseOn {
    /// The provider archived the finding (RecordState ARCHIVED).
    Archived,
    /// Resolved outside Backlog (a control back to PASSED, Workflow RESOLVED by someone else).
    Resolved,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relay {
    /// API destinations call `<public_url>/v1/events`.
    pub public_url: String,
    /// The connection sends it as header `X-Api-Key`; the daemon checks it.
    pub api_key: SecretRef,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Relay,
    Direct,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub delivery: Delivery,
    pub pattern: RulePattern,
    pub rate_limit_per_second: u32,
    pub issue: IssueTemplate,
    /// Extra template variables: name → JSON path into the event (`$.detail.findings[0]…`).
    pub vars: BTreeMap<String, String>,
    /// `ENABLED` unless `enabled: false`.
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePattern {
    Match(Match),
    /// A raw EventBridge pattern, used as given.
    Raw(serde_json::Value),
}

/// The `match` block: compiled to the seed's pattern shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub product_names: Vec<String>,
    pub severity_labels: Vec<String>,
    pub record_states: Vec<String>,
    pub workflow_statuses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueTemplate {
    pub summary: String,
    pub description: String,
    /// A fixed priority name for every severity (the seed's way); else `backlog.priority`.
    pub priority: Option<String>,
    /// Overrides `backlog.issue_type` for this rule.
    pub issue_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub listen: String,
    /// Bound on a graceful stop.
    pub shutdown_timeout_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Store {
    pub path: PathBuf,
}

/// Cron expressions with seconds (`sec min hour day month weekday`), already checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedules {
    pub reconcile: String,
    pub closure_sync: String,
    pub backfill: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileSettings {
    /// Account × region pairs read and applied at once (default 8).
    pub concurrency: usize,
}
