//! The AWS resources findings-bridge manages, as wanted ([`DesiredState`], from the file) and as
//! found ([`ObservedState`], from the inventory). The planner compares the two.
//!
//! Naming: everything we own is named `fb-<name>-…` (see [`Naming`]). Connections and API
//! destinations cannot carry tags, so ownership is by name prefix everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// One account and one region.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountRegion {
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for AccountRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// The names of managed resources, derived from the file's `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming {
    /// `fb-<name>`; every managed resource name starts with `<prefix>-`.
    pub prefix: String,
}

impl Naming {
    pub fn new(name: &str) -> Self {
        Naming {
            prefix: format!("fb-{name}"),
        }
    }

    /// True for names this deployment owns.
    pub fn owns(&self, resource_name: &str) -> bool {
        resource_name
            .strip_prefix(&self.prefix)
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// `fb-<name>-<rule>` plus `-<suffix>` when non-empty (e.g. a priority split).
    pub fn rule(&self, rule: &str, suffix: &str) -> String {
        if suffix.is_empty() {
            format!("{}-{rule}", self.prefix)
        } else {
            format!("{}-{rule}-{suffix}", self.prefix)
        }
    }

    /// `fb-<name>-<rule>-conn`.
    pub fn connection(&self, rule: &str) -> String {
        format!("{}-{rule}-conn", self.prefix)
    }

    /// `fb-<name>-<rule>-dest`.
    pub fn destination(&self, rule: &str) -> String {
        format!("{}-{rule}-dest", self.prefix)
    }

    /// `fb-<name>-invoke`: the per-account role EventBridge assumes to call destinations.
    pub fn invoke_role(&self) -> String {
        format!("{}-invoke", self.prefix)
    }
}

/// Everything the file asks for, in every account × region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    pub naming: Naming,
    pub accounts: Vec<DesiredAccount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesiredAccount {
    pub account: String,
    pub invoke_role: InvokeRole,
    pub regions: Vec<DesiredRegion>,
}

/// The role EventBridge assumes to invoke the API destinations of one account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One per account: boxing the large variant would buy nothing and change every caller.
#[allow(clippy::large_enum_variant)]
pub enum InvokeRole {
    /// Created and kept in line by the reconciler.
    Managed(RoleSpec),
    /// Given by the file (`accounts.invoke_role_arn`); never touched.
    External { arn: String },
}

impl InvokeRole {
    pub fn arn(&self) -> &str {
        match self {
            InvokeRole::Managed(spec) => &spec.arn,
            InvokeRole::External { arn } => arn,
        }
    }
}

/// An IAM role with one inline policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleSpec {
    pub name: String,
    /// `arn:aws:iam::<account>:role/<name>`: IAM role ARNs are deterministic.
    pub arn: String,
    pub description: String,
    pub trust_policy: serde_json::Value,
    pub policy_name: String,
    pub policy_document: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesiredRegion {
    pub region: String,
    pub connections: Vec<ConnectionSpec>,
    pub destinations: Vec<ApiDestinationSpec>,
    pub rules: Vec<RuleSpec>,
}

/// An EventBridge connection with `API_KEY` authorization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSpec {
    pub name: String,
    pub description: String,
    pub auth: ConnectionAuth,
    /// HMAC of the secret values this connection sends (see `secret::fingerprint`); filled by
    /// the caller once secrets are resolved, compared with the one recorded at the last apply.
    /// Never the secret itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_fingerprint: Option<String>,
}

/// How a connection authenticates; secrets appear only as references.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectionAuth {
    /// Relay: header `header` (`X-Api-Key`) carries the ingest key.
    RelayApiKey { header: String, key: SecretRef },
    /// Direct: Backlog's key travels as the secret query parameter `param` (`apiKey`); the
    /// API_KEY header EventBridge requires carries a fixed, non-secret value.
    BacklogQueryKey {
        header: String,
        header_value: String,
        param: String,
        key: SecretRef,
    },
}

impl ConnectionAuth {
    /// The API_KEY header name (`ApiKeyName`), which AWS returns on describe.
    pub fn api_key_name(&self) -> &str {
        match self {
            ConnectionAuth::RelayApiKey { header, .. }
            | ConnectionAuth::BacklogQueryKey { header, .. } => header,
        }
    }

    /// Secret references this connection sends, in a fixed order.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        match self {
            ConnectionAuth::RelayApiKey { key, .. }
            | ConnectionAuth::BacklogQueryKey { key, .. } => {
                vec![key]
            }
        }
    }

    /// Query-string parameter keys (non-secret view), for drift comparison.
    pub fn query_parameter_keys(&self) -> Vec<String> {
        match self {
            ConnectionAuth::RelayApiKey { .. } => Vec::new(),
            ConnectionAuth::BacklogQueryKey { param, .. } => vec![param.clone()],
        }
    }
}

/// An API destination (always POST).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiDestinationSpec {
    pub name: String,
    pub description: String,
    /// Name of the connection (ARN is resolved at apply: it ends in a UUID).
    pub connection: String,
    pub endpoint: String,
    pub http_method: String,
    pub rate_limit_per_second: u32,
}

/// A rule on the default event bus and its targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub name: String,
    pub description: String,
    pub event_bus: String,
    /// Compared as parsed JSON, never as text.
    pub event_pattern: serde_json::Value,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub tags: BTreeMap<String, String>,
    pub targets: Vec<TargetSpec>,
}

/// A rule target that calls one of our API destinations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub id: String,
    /// Name of the API destination (ARN resolved at plan/apply time).
    pub destination: String,
    pub role_arn: String,
    pub input: TargetInput,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dead_letter_arn: Option<String>,
}

/// What the target sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetInput {
    /// The whole event (relay).
    WholeEvent,
    /// An input transformer (direct): `paths` is InputPathsMap, `template` the InputTemplate.
    Transformer {
        paths: BTreeMap<String, String>,
        template: String,
    },
    /// A constant `Input` or an `InputPath`: never desired, only observed on drift.
    Other { description: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub maximum_event_age_seconds: u32,
    pub maximum_retry_attempts: u32,
}

/// What the inventory found. Holds every rule, connection and destination it listed, ours or
/// not: deciding ownership is the planner's job (and is tested there).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    pub accounts: Vec<ObservedAccount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedAccount {
    pub account: String,
    /// `None` when the account could not be read at all (then `error` says why).
    pub role: Option<ObservedRole>,
    pub regions: Vec<ObservedRegion>,
    /// The account could not be read (assume-role failed, access denied…): plan nothing there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedRole {
    pub name: String,
    pub arn: String,
    pub description: String,
    pub trust_policy: serde_json::Value,
    /// Inline policies by name.
    pub policies: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedRegion {
    pub region: String,
    pub connections: Vec<ObservedConnection>,
    pub destinations: Vec<ObservedApiDestination>,
    pub rules: Vec<ObservedRule>,
    /// Connection name → secret fingerprint recorded in the store at our last apply.
    pub recorded_fingerprints: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedConnection {
    pub name: String,
    pub arn: String,
    pub description: String,
    /// `API_KEY`, `BASIC`, `OAUTH_CLIENT_CREDENTIALS`.
    pub authorization_type: String,
    pub api_key_name: Option<String>,
    /// Keys of the invocation query-string parameters (values are secret or irrelevant).
    pub query_parameter_keys: Vec<String>,
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedApiDestination {
    pub name: String,
    pub arn: String,
    pub connection_arn: String,
    pub endpoint: String,
    pub http_method: String,
    pub rate_limit_per_second: Option<u32>,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedRule {
    pub name: String,
    pub arn: String,
    pub event_bus: String,
    /// As returned by AWS (a JSON text).
    pub event_pattern: Option<String>,
    pub state: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub targets: Vec<ObservedTarget>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedTarget {
    pub id: String,
    pub arn: String,
    pub role_arn: Option<String>,
    pub input: TargetInput,
    pub retry_policy: Option<RetryPolicy>,
    pub dead_letter_arn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_by_prefix_and_dash() {
        let n = Naming::new("secops");
        assert!(n.owns("fb-secops-guardduty"));
        assert!(n.owns(&n.invoke_role()));
        assert!(!n.owns("fb-secops"));
        assert!(!n.owns("fb-secopsx-guardduty"));
        assert!(!n.owns("test-security-events-guardduty"));
        assert_eq!(n.rule("gd", "high"), "fb-secops-gd-high");
        assert_eq!(n.connection("gd"), "fb-secops-gd-conn");
    }
}
