//! A plan: what the executor must do so that the observed state becomes the desired one.
//!
//! A plan is a value: it prints the same in `plan` and `apply`, serializes to JSON, and carries
//! everything the executor needs (but never a secret value, only references).

use serde::{Deserialize, Serialize};

use crate::resources::{ApiDestinationSpec, ConnectionSpec, RoleSpec, RuleSpec, TargetSpec};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub prefix: String,
    pub accounts: Vec<AccountPlan>,
}

impl Plan {
    /// True when nothing would change (unreadable places are not changes; see `errors`).
    pub fn is_empty(&self) -> bool {
        self.accounts
            .iter()
            .all(|a| a.role_actions.is_empty() && a.regions.iter().all(|r| r.actions.is_empty()))
    }

    /// Number of actions of each kind: (create, update, delete).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for action in self.actions() {
            match action.op {
                Op::Create => counts.0 += 1,
                Op::Update => counts.1 += 1,
                Op::Delete => counts.2 += 1,
            }
        }
        counts
    }

    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.accounts.iter().flat_map(|a| {
            a.role_actions
                .iter()
                .chain(a.regions.iter().flat_map(|r| r.actions.iter()))
        })
    }

    /// Places (account, or account/region) that could not be read, with the reason.
    pub fn errors(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for a in &self.accounts {
            if let Some(e) = &a.error {
                out.push((a.account.clone(), e.as_str()));
            }
            for r in &a.regions {
                if let Some(e) = &r.error {
                    out.push((format!("{}/{}", a.account, r.region), e.as_str()));
                }
            }
        }
        out
    }
}

/// One account: its invoke-role actions and its regions.
///
/// Execution order: `role_actions` that create or update, then every region, then
/// `role_actions` that delete (a role is removed only once no rule in any region uses it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountPlan {
    pub account: String,
    pub role_actions: Vec<Action>,
    pub regions: Vec<RegionPlan>,
    /// The account could not be read; nothing is planned there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// One account × region. `actions` are in the order they must run: creates and updates in
/// dependency order (connection → destination → rule → targets), then deletes in reverse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionPlan {
    pub region: String,
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    /// `+`, `~`, `-` as in Terraform's output.
    pub fn symbol(self) -> char {
        match self {
            Op::Create => '+',
            Op::Update => '~',
            Op::Delete => '-',
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    InvokeRole,
    Connection,
    ApiDestination,
    Rule,
    Target,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::InvokeRole => "iam_role",
            ResourceKind::Connection => "connection",
            ResourceKind::ApiDestination => "api_destination",
            ResourceKind::Rule => "rule",
            ResourceKind::Target => "target",
        }
    }
}

/// One change to one resource, with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub op: Op,
    pub kind: ResourceKind,
    /// The resource name; for a target `<rule>/<target id>`.
    pub name: String,
    /// For updates, the fields that differ; for creates and deletes, usually empty.
    pub changes: Vec<FieldChange>,
    /// What to write (create/update); `None` for deletes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub desired: Option<DesiredResource>,
    /// What exists now (update/delete): the ARN the executor acts on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub existing_arn: Option<String>,
}

/// A field that differs. Secret fields show a marker, never a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DesiredResource {
    Role(RoleSpec),
    Connection(ConnectionSpec),
    ApiDestination(ApiDestinationSpec),
    /// The rule without its targets (targets are their own actions).
    Rule(RuleSpec),
    Target {
        rule: String,
        target: TargetSpec,
    },
}
