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
mod paging;
pub mod securityhub;
pub mod session;

pub use error::{error_chain, AwsCallError};
pub use executor::{
    execute, ActionResult, ApplyReport, Outcome, RecordedFingerprint, SecretResolver,
};
pub use inventory::{observe, Observation, ObserveScope, ObserveStats};
pub use organizations::{discover_accounts, resolve_accounts, DiscoverError};
pub use securityhub::{
    BatchOutcome, FindingFilters, FindingsPage, OcsfIdentifier, OcsfUpdate, SecurityHubClient,
    SecurityHubError, Unprocessed, Workflow, WorkflowUpdate,
};
pub use session::{load_base_config, AccountSession, SessionError, Sessions};

/// `tracing` filter directives worth adding to a subscriber, as defence in depth: at TRACE the
/// SDK's orchestrator logs each request ("transmitting request"), and CreateConnection /
/// UpdateConnection bodies carry the connection's secret. The current SDK prints such bodies
/// as an opaque `BoxBody` (tests/log_safety.rs checks a full-TRACE capture); capping these
/// targets keeps `RUST_LOG=trace` safe should that change.
pub const LOG_SAFETY_DIRECTIVES: &[&str] = &[
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http_client=debug",
    "hyper=info",
    "hyper_util=info",
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use fb_model::config::types::{RoleTarget, SecurityHub};
    use fb_model::resources::Naming;

    fn assert_send<T: Send>(_: T) {}

    /// The daemon runs these on spawned tasks: they must stay `Send`. Built, never polled.
    #[test]
    fn public_futures_are_send() {
        let sessions = Sessions::new(
            aws_config::SdkConfig::builder().build(),
            RoleTarget::Name("r".into()),
            None,
        );
        let naming = Naming::new("n");
        let (accounts, regions) = (vec![], vec![]);
        let scope = ObserveScope {
            naming: &naming,
            accounts: &accounts,
            regions: &regions,
            read_invoke_role: true,
            concurrency: 1,
        };
        assert_send(observe(&sessions, scope, |_, _| {}));
        let resolve = |r: &fb_model::secret::SecretRef| r.resolve();
        let plan = fb_model::plan::Plan::default();
        assert_send(execute(&sessions, &plan, &resolve, 1));
        assert_send(sessions.for_account("1"));
        let hub = SecurityHub {
            account: "1".into(),
            region: "us-east-1".into(),
        };
        assert_send(SecurityHubClient::connect(&sessions, &hub));
        let base = aws_config::SdkConfig::builder().build();
        assert_send(discover_accounts(&base, &[], &[]));
    }

    #[test]
    fn operations_are_unique_iam_actions() {
        let mut seen = std::collections::BTreeSet::new();
        for op in OPERATIONS {
            let (service, action) = op.split_once(':').expect("service:Action");
            assert!(
                ["sts", "organizations", "events", "iam", "securityhub"].contains(&service),
                "{op}"
            );
            assert!(action.starts_with(|c: char| c.is_ascii_uppercase()), "{op}");
            assert!(seen.insert(*op), "duplicate {op}");
        }
    }
}
