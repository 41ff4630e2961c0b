//! `fb-aws`: sessions per account × region (assumed roles), the EventBridge/IAM inventory that
//! builds an `ObservedState`, the executor that applies a `Plan` once, and the Security Hub
//! client (batched BatchUpdateFindings, GetFindings).
//!
//! - [`session`]: the base SDK config (rustls/ring, adaptive retries, `AWS_ENDPOINT_URL*`
//!   honoured) and one assumed-role session per account.
//! - [`organizations`]: accounts of organizational units.
//! - [`inventory`]: reads what exists → [`fb_model::resources::ObservedState`].
//! - [`executor`]: applies a [`fb_model::plan::Plan`] once → [`executor::ApplyReport`].
//! - [`securityhub`]: workflow write-back and GetFindings, with a request limiter.
//! - [`error`], [`convert`], [`limiter`]: the pieces those share.
//!
//! Must not: decide what to change (that is the planner's), or retry a whole plan (the caller's
//! loop does; each action reports whether a retry can help). Must not log or return a secret.

pub mod convert;
pub mod error;
pub mod executor;
pub mod inventory;
pub mod limiter;
pub mod organizations;
pub mod securityhub;
pub mod session;

pub use error::{error_chain, AwsCallError};
pub use executor::{
    execute, ActionResult, ApplyReport, Outcome, RecordedFingerprint, SecretResolver,
};
pub use inventory::{observe, Observation, ObserveScope, ObserveStats};
pub use organizations::{discover_accounts, resolve_accounts, DiscoverError};
pub use securityhub::{
    BatchOutcome, FindingFilters, FindingsPage, OcsfUpdate, SecurityHubClient, SecurityHubError,
    Unprocessed, Workflow, WorkflowUpdate,
};
pub use session::{load_base_config, AccountSession, SessionError, Sessions};

/// Every AWS operation this crate calls, as IAM actions. The deployment templates must grant
/// exactly these (a test compares them with the CloudFormation template).
pub const OPERATIONS: &[&str] = &[
    // sessions
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    // organizations
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    // inventory
    "events:ListRules",
    "events:ListTargetsByRule",
    "events:ListTagsForResource",
    "events:ListConnections",
    "events:DescribeConnection",
    "events:ListApiDestinations",
    "events:DescribeApiDestination",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    // executor
    "events:CreateConnection",
    "events:UpdateConnection",
    "events:DeleteConnection",
    "events:CreateApiDestination",
    "events:UpdateApiDestination",
    "events:DeleteApiDestination",
    "events:PutRule",
    "events:DeleteRule",
    "events:TagResource",
    "events:UntagResource",
    "events:PutTargets",
    "events:RemoveTargets",
    "iam:CreateRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DeleteRole",
    // not an API call: PutTargets with a RoleArn needs it on the invoke role
    "iam:PassRole",
    // security hub (BatchUpdateFindingsV2 is authorized by securityhub:BatchUpdateFindings)
    "securityhub:BatchUpdateFindings",
    "securityhub:GetFindings",
];
