//! The executor: applies a [`Plan`] once and reports every action's own result.
//!
//! Order per account: invoke-role creates/updates, then every region (its actions in plan
//! order: connection → destination → rule → targets, then deletes in reverse), then role
//! deletes. Account × region places run concurrently, at most `concurrency` at once. An action
//! whose dependency failed (or was skipped) is skipped with the reason.
//!
//! Must not: retry (the caller's loop does; each failure says whether a retry can help), plan,
//! or let a secret value reach a result, a log line or an error.

mod eventbridge;
mod iam;
mod values;

use std::collections::HashSet;

use fb_model::plan::{AccountPlan, Action, Op, Plan, RegionPlan, ResourceKind};
use fb_model::secret::{Secret, SecretRef, SecretResolveError};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{error_chain, AwsCallError};
use crate::session::{AccountSession, Sessions};

/// Resolves a secret reference at the moment it is sent.
pub type SecretResolver<'a> =
    &'a (dyn Fn(&SecretRef) -> Result<Secret, SecretResolveError> + Send + Sync);

/// How one action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed { error: String, retryable: bool },
    Skipped { reason: String },
}

/// A connection secret fingerprint that is now live in AWS: the caller records it in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedFingerprint {
    pub account: String,
    pub region: String,
    pub connection: String,
    pub fingerprint: String,
}

/// The result of one plan action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    pub account: String,
    /// `None` for the account's IAM role (global).
    pub region: Option<String>,
    pub kind: ResourceKind,
    pub name: String,
    pub op: Op,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_fingerprint: Option<RecordedFingerprint>,
}

/// Every action's result, accounts in plan order, actions in execution order per place.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub results: Vec<ActionResult>,
}

impl ApplyReport {
    /// True when any action failed or was skipped.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome != Outcome::Ok)
    }

    /// (ok, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Ok => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
            }
        }
        c
    }

    /// Fingerprints to record after this apply.
    pub fn recorded_fingerprints(&self) -> impl Iterator<Item = &RecordedFingerprint> {
        self.results
            .iter()
            .filter_map(|r| r.recorded_fingerprint.as_ref())
    }
}

/// Why one action failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    #[error("cannot resolve secret {reference}")]
    Secret {
        reference: String,
        #[source]
        source: SecretResolveError,
    },
    #[error("invalid plan action: {0}")]
    Invalid(String),
}

impl ActionError {
    fn retryable(&self) -> bool {
        matches!(self, ActionError::Aws(e) if e.retryable)
    }
}

/// What an action returns on success.
pub(crate) type Done = Result<Option<RecordedFingerprint>, ActionError>;

/// Applies `plan` once. Never fails as a whole: every action has its result.
pub async fn execute(
    sessions: &Sessions,
    plan: &Plan,
    secrets: SecretResolver<'_>,
    concurrency: usize,
) -> ApplyReport {
    let permits = Semaphore::new(concurrency.max(1));
    let per_account = plan
        .accounts
        .iter()
        .map(|a| execute_account(sessions, a, secrets, &permits));
    let results = futures::future::join_all(per_account)
        .await
        .into_iter()
        .flatten()
        .collect();
    ApplyReport { results }
}

async fn execute_account(
    sessions: &Sessions,
    plan: &AccountPlan,
    secrets: SecretResolver<'_>,
    permits: &Semaphore,
) -> Vec<ActionResult> {
    let has_actions =
        !plan.role_actions.is_empty() || plan.regions.iter().any(|r| !r.actions.is_empty());
    if !has_actions || plan.error.is_some() {
        return Vec::new();
    }
    let session = {
        let _permit = permits.acquire().await;
        sessions.for_account(&plan.account).await
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => return fail_account(plan, &e),
    };
    let mut results = Vec::new();

    // Step 1: the invoke role must exist before targets name it.
    let mut role_failed = None;
    {
        let _permit = permits.acquire().await;
        let iam = session.iam();
        for action in plan.role_actions.iter().filter(|a| a.op != Op::Delete) {
            let outcome = finish(iam::apply(&iam, action).await);
            if outcome != Outcome::Ok {
                role_failed = Some(action.name.clone());
            }
            results.push(result(&plan.account, None, action, outcome, None));
        }
    }

    // Step 2: regions, concurrently within the shared bound.
    let regions = plan.regions.iter().map(|r| async {
        let _permit = permits.acquire().await;
        execute_region(&session, r, secrets, role_failed.as_deref()).await
    });
    let region_results: Vec<ActionResult> = futures::future::join_all(regions)
        .await
        .into_iter()
        .flatten()
        .collect();
    let region_failed = region_results.iter().any(|r| r.outcome != Outcome::Ok);
    results.extend(region_results);

    // Step 3: a role is removed only once every region is done with it.
    let deletes: Vec<&Action> = plan
        .role_actions
        .iter()
        .filter(|a| a.op == Op::Delete)
        .collect();
    if !deletes.is_empty() {
        let _permit = permits.acquire().await;
        let iam = session.iam();
        for action in deletes {
            let outcome = if region_failed {
                Outcome::Skipped {
                    reason: "skipped: an action in a region of this account failed".into(),
                }
            } else {
                finish(iam::apply(&iam, action).await)
            };
            results.push(result(&plan.account, None, action, outcome, None));
        }
    }
    results
}

/// Every action of an account whose session could not be opened fails with that reason.
fn fail_account(plan: &AccountPlan, err: &crate::session::SessionError) -> Vec<ActionResult> {
    let error = error_chain(err);
    let retryable =
        matches!(err, crate::session::SessionError::AssumeRole { source, .. } if source.retryable);
    tracing::warn!(account = %plan.account, %error, "cannot open account for apply");
    let failed = || Outcome::Failed {
        error: error.clone(),
        retryable,
    };
    let mut out: Vec<ActionResult> = plan
        .role_actions
        .iter()
        .map(|a| result(&plan.account, None, a, failed(), None))
        .collect();
    for r in &plan.regions {
        out.extend(
            r.actions
                .iter()
                .map(|a| result(&plan.account, Some(&r.region), a, failed(), None)),
        );
    }
    out
}

async fn execute_region(
    session: &AccountSession,
    plan: &RegionPlan,
    secrets: SecretResolver<'_>,
    role_failed: Option<&str>,
) -> Vec<ActionResult> {
    if plan.actions.is_empty() || plan.error.is_some() {
        return Vec::new();
    }
    let mut runner = eventbridge::RegionRunner::new(session, &plan.region, secrets);
    let mut not_done: HashSet<(ResourceKind, String)> = HashSet::new();
    let mut results = Vec::with_capacity(plan.actions.len());
    for action in &plan.actions {
        let (outcome, fingerprint) = match blocked_by(action, &not_done, role_failed) {
            Some(reason) => (Outcome::Skipped { reason }, None),
            None => match runner.apply(action).await {
                Ok(fp) => (Outcome::Ok, fp),
                Err(e) => (failed(&e), None),
            },
        };
        if outcome != Outcome::Ok {
            not_done.insert((action.kind, action.name.clone()));
        }
        log_outcome(&session.account, Some(&plan.region), action, &outcome);
        results.push(result(
            &session.account,
            Some(&plan.region),
            action,
            outcome,
            fingerprint,
        ));
    }
    results
}

/// The failed or skipped action this one depends on, as a skip reason.
fn blocked_by(
    action: &Action,
    not_done: &HashSet<(ResourceKind, String)>,
    role_failed: Option<&str>,
) -> Option<String> {
    use fb_model::plan::DesiredResource as D;
    let failed = |kind: ResourceKind, name: &str| not_done.contains(&(kind, name.to_owned()));
    let reason =
        |kind: ResourceKind, name: &str| format!("skipped: {} {name} failed", kind.label());
    let any_failed = |kinds: &[ResourceKind]| {
        not_done
            .iter()
            .find(|(k, _)| kinds.contains(k))
            .map(|(k, n)| reason(*k, n))
    };
    match (action.op, &action.desired) {
        (Op::Delete, _) => match action.kind {
            ResourceKind::Rule => not_done
                .iter()
                .find(|(k, n)| {
                    *k == ResourceKind::Target
                        && n.split_once('/')
                            .is_some_and(|(rule, _)| rule == action.name)
                })
                .map(|(k, n)| reason(*k, n)),
            // A destination or connection may still be referenced by a target or rule that
            // could not be removed: keep it.
            ResourceKind::ApiDestination => any_failed(&[ResourceKind::Target, ResourceKind::Rule]),
            ResourceKind::Connection => any_failed(&[
                ResourceKind::Target,
                ResourceKind::Rule,
                ResourceKind::ApiDestination,
            ]),
            _ => None,
        },
        (_, Some(D::ApiDestination(spec))) => failed(ResourceKind::Connection, &spec.connection)
            .then(|| reason(ResourceKind::Connection, &spec.connection)),
        (_, Some(D::Target { rule, target })) => {
            if failed(ResourceKind::Rule, rule) {
                Some(reason(ResourceKind::Rule, rule))
            } else if failed(ResourceKind::ApiDestination, &target.destination) {
                Some(reason(ResourceKind::ApiDestination, &target.destination))
            } else {
                role_failed.map(|r| reason(ResourceKind::InvokeRole, r))
            }
        }
        _ => None,
    }
}

fn failed(e: &ActionError) -> Outcome {
    Outcome::Failed {
        error: error_chain(e),
        retryable: e.retryable(),
    }
}

fn finish(done: Result<(), ActionError>) -> Outcome {
    match done {
        Ok(()) => Outcome::Ok,
        Err(e) => failed(&e),
    }
}

fn log_outcome(account: &str, region: Option<&str>, action: &Action, outcome: &Outcome) {
    let kind = action.kind.label();
    let op = action.op.symbol();
    match outcome {
        Outcome::Ok => tracing::info!(account, region, kind, name = %action.name, %op, "applied"),
        Outcome::Failed { error, retryable } => {
            tracing::warn!(account, region, kind, name = %action.name, %op, retryable, %error, "action failed")
        }
        Outcome::Skipped { reason } => {
            tracing::warn!(account, region, kind, name = %action.name, %op, %reason, "action skipped")
        }
    }
}

fn result(
    account: &str,
    region: Option<&str>,
    action: &Action,
    outcome: Outcome,
    recorded_fingerprint: Option<RecordedFingerprint>,
) -> ActionResult {
    if region.is_none() {
        log_outcome(account, None, action, &outcome);
    }
    ActionResult {
        account: account.to_owned(),
        region: region.map(str::to_owned),
        kind: action.kind,
        name: action.name.clone(),
        op: action.op,
        outcome,
        recorded_fingerprint,
    }
}

#[cfg(test)]
mod tests;
