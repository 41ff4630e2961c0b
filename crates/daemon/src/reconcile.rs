//! The reconcile orchestration shared by `findings-bridge plan` / `apply` and the daemon's
//! scheduled reconcile: file → accounts → (Backlog ids) → desired state with secret
//! fingerprints → read every account × region → pure plan → apply once → record fingerprints.
//!
//! Steps, each its own function: [`prepare`] (everything that does not read EventBridge),
//! [`plan`] (inventory + planner), [`apply`] (executor + store). The store is optional: without
//! it (a running daemon holds its lock) plans are made without secret comparison, and the
//! caller must not apply.
//!
//! Places removed from the file: the store records where our resources are after each
//! reconcile ([`managed`]); those places are read too, so the planner deletes what is left
//! there. Without the store they are unknown, and not read.
//!
//! Must not: print (callers choose how to show progress and results), retry a failed action
//! (the next reconcile does), or let a secret value out — only HMAC fingerprints leave here.

mod managed;

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use fb_aws::executor::SecretResolver;
use fb_aws::{ApplyReport, DiscoverError, ObserveStats, Outcome, SessionError, Sessions};
use fb_model::compile::{BacklogIds, CompileError, CompileInputs};
use fb_model::config::{Config, Delivery};
use fb_model::plan::{Op, Plan, ResourceKind};
use fb_model::resources::DesiredState;
use fb_model::secret::{fingerprint, Secret, SecretRef, SecretResolveError};
use fb_store::{ManagedPlaces, Store, StoreError};

/// (account, region) → connection name → secret fingerprint recorded at our last apply.
type RecordedFingerprints = BTreeMap<(String, String), BTreeMap<String, String>>;

/// Why reconcile could not get as far as reading AWS.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot open AWS sessions")]
    Sessions(#[source] SessionError),
    #[error("cannot list the accounts of the organization")]
    Accounts(#[source] DiscoverError),
    #[error("cannot resolve backlog.api_key (needed to look up Backlog ids for direct rules)")]
    BacklogKey(#[source] SecretResolveError),
    #[error("cannot build the Backlog client")]
    BacklogClient(#[source] fb_backlog::BuildError),
    #[error("cannot look up Backlog ids for direct-delivery rules")]
    BacklogNames(#[source] fb_backlog::ResolveError),
    #[error("Backlog returned a negative id for {what}")]
    BacklogId { what: String },
    #[error("cannot compile the desired state")]
    Compile(#[source] CompileError),
    #[error("connection {connection}: cannot resolve its secret")]
    Secret {
        connection: String,
        #[source]
        source: SecretResolveError,
    },
    #[error("cannot read the store")]
    Store(#[source] StoreError),
}

/// Everything needed to plan and apply one file.
#[derive(Debug)]
pub struct Prepared {
    pub config: Config,
    /// The accounts reconciled (the file's ids, or those discovered in the organization).
    pub accounts: Vec<String>,
    pub desired: DesiredState,
    pub sessions: Sessions,
    /// Secrets were fingerprinted and compared with the store's records.
    pub compares_secrets: bool,
    recorded: RecordedFingerprints,
    /// The places the store recorded as holding our resources (empty without a store).
    managed: ManagedPlaces,
}

/// Reads everything but EventBridge: sessions, accounts, Backlog ids (only when a rule uses
/// direct delivery), the compiled desired state, and — with a store — the secret fingerprints.
pub async fn prepare(
    config: &Config,
    base: SdkConfig,
    store: Option<&Store>,
) -> Result<Prepared, PrepareError> {
    let sessions =
        Sessions::from_accounts(base.clone(), &config.accounts).map_err(PrepareError::Sessions)?;
    let accounts = fb_aws::resolve_accounts(&base, &config.accounts.source)
        .await
        .map_err(PrepareError::Accounts)?;
    let backlog = backlog_ids(config).await?;
    let inputs = CompileInputs {
        accounts: accounts.clone(),
        backlog,
    };
    let mut desired = fb_model::compile::compile(config, &inputs).map_err(PrepareError::Compile)?;
    let mut recorded = BTreeMap::new();
    let mut managed = ManagedPlaces::default();
    if let Some(store) = store {
        fill_fingerprints(&mut desired, store)?;
        recorded = recorded_fingerprints(&desired, store)?;
        managed = store.managed_places().map_err(PrepareError::Store)?;
    }
    Ok(Prepared {
        config: config.clone(),
        accounts,
        desired,
        sessions,
        compares_secrets: store.is_some(),
        recorded,
        managed,
    })
}

/// Backlog ids for the names direct rules use; `None` when every rule is relayed.
async fn backlog_ids(config: &Config) -> Result<Option<BacklogIds>, PrepareError> {
    if !config.rules.iter().any(|r| r.delivery == Delivery::Direct) {
        return Ok(None);
    }
    let b = &config.backlog;
    let key = b.api_key.resolve().map_err(PrepareError::BacklogKey)?;
    let client = fb_backlog::Client::new(&b.base_url, key, fb_backlog::ClientOptions::default())
        .map_err(PrepareError::BacklogClient)?;
    let direct = config
        .rules
        .iter()
        .filter(|r| r.delivery == Delivery::Direct);
    let issue_types: BTreeSet<String> = std::iter::once(b.issue_type.clone())
        .chain(direct.clone().filter_map(|r| r.issue.issue_type.clone()))
        .collect();
    let priorities: BTreeSet<String> = b
        .priority
        .values()
        .cloned()
        .chain(direct.filter_map(|r| r.issue.priority.clone()))
        .collect();
    let issue_types: Vec<String> = issue_types.into_iter().collect();
    let priorities: Vec<String> = priorities.into_iter().collect();
    let names = client
        .resolve_names(fb_backlog::NamesToResolve {
            project: &b.project,
            issue_types: &issue_types,
            priorities: &priorities,
            statuses: &[],
            resolutions: &[],
        })
        .await
        .map_err(PrepareError::BacklogNames)?;
    let id = |what: &str, id: i64| {
        u64::try_from(id).map_err(|_| PrepareError::BacklogId {
            what: what.to_owned(),
        })
    };
    let convert = |map: BTreeMap<String, i64>| -> Result<BTreeMap<String, u64>, PrepareError> {
        map.into_iter()
            .map(|(name, v)| Ok((name.clone(), id(&name, v)?)))
            .collect()
    };
    Ok(Some(BacklogIds {
        project_id: id("the project", names.project_id)?,
        issue_type_ids: convert(names.issue_type_ids)?,
        priority_ids: convert(names.priority_ids)?,
    }))
}

/// Sets each connection's `secret_fingerprint`: HMAC, under the store's key, of the values it
/// sends (joined by NUL when there are several). Each reference is resolved once.
fn fill_fingerprints(desired: &mut DesiredState, store: &Store) -> Result<(), PrepareError> {
    let key = store.hmac_key().map_err(PrepareError::Store)?;
    let mut cache: BTreeMap<SecretRef, Secret> = BTreeMap::new();
    for region in desired
        .accounts
        .iter_mut()
        .flat_map(|a| a.regions.iter_mut())
    {
        for conn in &mut region.connections {
            let mut joined = Vec::new();
            for reference in conn.auth.secret_refs() {
                if !cache.contains_key(reference) {
                    let value = reference.resolve().map_err(|source| PrepareError::Secret {
                        connection: conn.name.clone(),
                        source,
                    })?;
                    cache.insert(reference.clone(), value);
                }
                joined.push(cache[reference].expose().to_owned());
            }
            conn.secret_fingerprint = Some(fingerprint(&key, &Secret::new(joined.join("\0"))));
        }
    }
    Ok(())
}

/// The fingerprints the store recorded for the connections the file wants.
fn recorded_fingerprints(
    desired: &DesiredState,
    store: &Store,
) -> Result<RecordedFingerprints, PrepareError> {
    let mut out = RecordedFingerprints::new();
    for account in &desired.accounts {
        for region in &account.regions {
            let place = (account.account.clone(), region.region.clone());
            for conn in &region.connections {
                let found = store
                    .fingerprint(&account.account, &region.region, &conn.name)
                    .map_err(PrepareError::Store)?;
                if let Some(fp) = found {
                    out.entry(place.clone())
                        .or_default()
                        .insert(conn.name.clone(), fp);
                }
            }
        }
    }
    Ok(out)
}

/// Reads every account × region of the file, and the places recorded in the store that the
/// file no longer names, and plans. `progress(done, total)` reports places read. Unreadable
/// accounts or regions are in the plan's errors, never a failure of the whole.
pub async fn plan(
    prepared: &Prepared,
    progress: impl Fn(usize, usize) + Sync,
) -> (Plan, ObserveStats) {
    let mut observation = managed::observe_all(prepared, progress).await;
    for account in &mut observation.state.accounts {
        for region in &mut account.regions {
            let place = (account.account.clone(), region.region.clone());
            if let Some(recorded) = prepared.recorded.get(&place) {
                region.recorded_fingerprints = recorded.clone();
            }
        }
    }
    let plan = fb_planner::plan(&prepared.desired, &observation.state);
    (plan, observation.stats)
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Applied {
    pub report: ApplyReport,
    /// Fingerprints could not be recorded (the next plan will re-push those secrets).
    pub record_error: Option<StoreError>,
}

impl Applied {
    /// True when every action succeeded and everything was recorded.
    pub fn succeeded(&self) -> bool {
        !self.report.failed() && self.record_error.is_none()
    }
}

/// Applies `plan` once, then records the fingerprints of the secrets now live in AWS, forgets
/// those of deleted connections, and records the places that still hold our resources.
pub async fn apply(prepared: &Prepared, plan: &Plan, store: &Store) -> Applied {
    let resolve = |r: &SecretRef| r.resolve();
    let resolver: SecretResolver<'_> = &resolve;
    let report = fb_aws::execute(
        &prepared.sessions,
        plan,
        resolver,
        prepared.config.reconcile.concurrency,
    )
    .await;
    let record_error = record(prepared, plan, &report, store).await.err();
    if let Some(error) = &record_error {
        tracing::error!(error = %error, "cannot record connection secret fingerprints and places");
    }
    Applied {
        report,
        record_error,
    }
}

async fn record(
    prepared: &Prepared,
    plan: &Plan,
    report: &ApplyReport,
    store: &Store,
) -> Result<(), StoreError> {
    for fp in report.recorded_fingerprints() {
        store.put_fingerprint(&fp.account, &fp.region, &fp.connection, &fp.fingerprint)?;
    }
    let deleted = report.results.iter().filter(|r| {
        r.kind == ResourceKind::Connection && r.op == Op::Delete && r.outcome == Outcome::Ok
    });
    for r in deleted {
        if let Some(region) = &r.region {
            store.remove_fingerprint(&r.account, region, &r.name)?;
        }
    }
    record_places(prepared, plan, Some(report), store)?;
    store.flush().await
}

/// Records the places that hold our resources after a plan that changed nothing (`apply`
/// records them itself): the file's places are recorded before they can be removed from it, and
/// recorded places found empty are forgotten. Writes only when the record changes.
pub async fn record_unchanged_places(
    prepared: &Prepared,
    plan: &Plan,
    store: &Store,
) -> Result<(), StoreError> {
    if record_places(prepared, plan, None, store)? {
        store.flush().await?;
    }
    Ok(())
}

/// Writes (without flushing) the places after `plan`; true when the record changed.
fn record_places(
    prepared: &Prepared,
    plan: &Plan,
    report: Option<&ApplyReport>,
    store: &Store,
) -> Result<bool, StoreError> {
    let after = managed::places_after(&prepared.desired, plan, report, &prepared.managed);
    if after != prepared.managed {
        let forgotten: Vec<String> = prepared
            .managed
            .places
            .difference(&after.places)
            .map(|(account, region)| format!("{account}/{region}"))
            .collect();
        tracing::info!(
            places = after.places.len(),
            invoke_roles = after.invoke_roles.len(),
            forgotten = ?forgotten,
            "recording the places that hold our resources"
        );
        store.set_managed_places(&after)?;
        return Ok(true);
    }
    Ok(false)
}

/// One whole reconcile, as the daemon's schedule runs it.
#[derive(Debug)]
pub struct Reconciled {
    pub plan: Plan,
    pub stats: ObserveStats,
    /// The file's regions (places of accounts that could not be read at all).
    pub regions: Vec<String>,
    /// The regions read in accounts with places recorded outside the file (an account removed
    /// from the file, or a region removed): an unreadable one fails in these instead.
    pub account_regions: BTreeMap<String, Vec<String>>,
    /// `None` when the plan was empty (nothing was applied).
    pub applied: Option<Applied>,
}

impl Reconciled {
    /// One outcome per account × region, for status and metrics.
    pub fn places(&self) -> Vec<PlaceOutcome> {
        places_by_account(
            &self.plan,
            self.applied.as_ref().map(|a| &a.report),
            |account| {
                self.account_regions
                    .get(account)
                    .cloned()
                    .unwrap_or_else(|| self.regions.clone())
            },
        )
    }
}

/// Prepare, plan and — when there are changes — apply, with the process's AWS configuration.
pub async fn reconcile_once(config: &Config, store: &Store) -> Result<Reconciled, PrepareError> {
    reconcile_with(config, fb_aws::load_base_config().await, store).await
}

/// [`reconcile_once`] with a given base AWS configuration (tests point it at an emulator).
pub async fn reconcile_with(
    config: &Config,
    base: SdkConfig,
    store: &Store,
) -> Result<Reconciled, PrepareError> {
    let prepared = prepare(config, base, Some(store)).await?;
    let (plan, stats) = self::plan(&prepared, |_, _| {}).await;
    let applied = if plan.is_empty() {
        if let Err(error) = record_unchanged_places(&prepared, &plan, store).await {
            // Not fatal: the next reconcile records them again.
            tracing::error!(error = %error, "cannot record the places that hold our resources");
        }
        None
    } else {
        Some(apply(&prepared, &plan, store).await)
    };
    Ok(Reconciled {
        plan,
        stats,
        regions: config.accounts.regions.clone(),
        account_regions: managed::read_regions(
            &prepared.accounts,
            &config.accounts.regions,
            &prepared.managed,
        ),
        applied,
    })
}

/// How one account × region ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceResult {
    /// Nothing to change.
    InSync,
    /// Changes found and not applied (a plan only).
    Drifted,
    /// Changes found and every one applied.
    Applied,
    /// Unreadable, or an action failed or was skipped.
    Failed,
}

impl PlaceResult {
    /// `in_sync`, `drifted`, `applied`, `failed` (the status JSON's words).
    pub fn as_str(self) -> &'static str {
        match self {
            PlaceResult::InSync => "in_sync",
            PlaceResult::Drifted => "drifted",
            PlaceResult::Applied => "applied",
            PlaceResult::Failed => "failed",
        }
    }
}

/// One account × region after a plan (and maybe an apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOutcome {
    pub account: String,
    pub region: String,
    /// Changes planned here, counting the account's invoke-role changes in each of its regions
    /// (the role serves them all).
    pub drift: usize,
    pub result: PlaceResult,
    pub error: Option<String>,
}

/// Outcomes per account × region of `plan`, with `report` when it was applied. An account
/// that could not be read, or whose invoke role failed, fails in every region: in `regions`
/// (the file's) when the plan lists none for it, as for an account whose role was denied.
pub fn places(plan: &Plan, report: Option<&ApplyReport>, regions: &[String]) -> Vec<PlaceOutcome> {
    places_by_account(plan, report, |_| regions.to_vec())
}

/// [`places`] with the regions an unreadable account fails in given per account.
pub fn places_by_account(
    plan: &Plan,
    report: Option<&ApplyReport>,
    regions_of: impl Fn(&str) -> Vec<String>,
) -> Vec<PlaceOutcome> {
    let failure = |account: &str, region: Option<&str>| -> Option<String> {
        report?
            .results
            .iter()
            .filter(|r| r.account == account && r.region.as_deref() == region)
            .find_map(|r| match &r.outcome {
                Outcome::Ok => None,
                Outcome::Failed { error, .. } => {
                    Some(format!("{} {}: {error}", r.kind.label(), r.name))
                }
                Outcome::Skipped { reason } => {
                    Some(format!("{} {} skipped: {reason}", r.kind.label(), r.name))
                }
            })
    };
    let mut out = Vec::new();
    for account in &plan.accounts {
        let account_error = account
            .error
            .clone()
            .or_else(|| failure(&account.account, None));
        if account.regions.is_empty() {
            if let Some(error) = &account.error {
                out.extend(
                    regions_of(&account.account)
                        .into_iter()
                        .map(|region| PlaceOutcome {
                            account: account.account.clone(),
                            region,
                            drift: 0,
                            result: PlaceResult::Failed,
                            error: Some(error.clone()),
                        }),
                );
            }
        }
        for region in &account.regions {
            let drift = account.role_actions.len() + region.actions.len();
            let error = account_error
                .clone()
                .or_else(|| region.error.clone())
                .or_else(|| failure(&account.account, Some(&region.region)));
            let result = match (&error, drift, report) {
                (Some(_), _, _) => PlaceResult::Failed,
                (None, 0, _) => PlaceResult::InSync,
                (None, _, None) => PlaceResult::Drifted,
                (None, _, Some(_)) => PlaceResult::Applied,
            };
            out.push(PlaceOutcome {
                account: account.account.clone(),
                region: region.region.clone(),
                drift,
                result,
                error,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use fb_aws::ActionResult;
    use fb_model::plan::{AccountPlan, Action, RegionPlan};

    use super::*;

    fn action(op: Op, kind: ResourceKind, name: &str) -> Action {
        Action {
            op,
            kind,
            name: name.into(),
            changes: Vec::new(),
            desired: None,
            existing_arn: None,
        }
    }

    fn region(name: &str, actions: Vec<Action>, error: Option<&str>) -> RegionPlan {
        RegionPlan {
            region: name.into(),
            actions,
            error: error.map(str::to_owned),
        }
    }

    fn sample_plan() -> Plan {
        Plan {
            prefix: "fb-t".into(),
            accounts: vec![
                AccountPlan {
                    account: "111111111111".into(),
                    role_actions: vec![],
                    regions: vec![
                        region("eu-west-1", vec![], None),
                        region(
                            "us-east-1",
                            vec![
                                action(Op::Create, ResourceKind::Connection, "fb-t-a-conn"),
                                action(Op::Create, ResourceKind::Rule, "fb-t-a"),
                            ],
                            None,
                        ),
                        region("us-west-2", vec![], Some("AccessDenied: ListRules")),
                    ],
                    error: None,
                },
                AccountPlan {
                    account: "222222222222".into(),
                    role_actions: vec![],
                    regions: vec![region("us-east-1", vec![], None)],
                    error: Some("cannot assume role".into()),
                },
            ],
        }
    }

    fn result(region: &str, name: &str, outcome: Outcome) -> ActionResult {
        ActionResult {
            account: "111111111111".into(),
            region: Some(region.into()),
            kind: ResourceKind::Rule,
            name: name.into(),
            op: Op::Create,
            outcome,
            recorded_fingerprint: None,
        }
    }

    fn summary(outcomes: &[PlaceOutcome]) -> Vec<(String, usize, &'static str, bool)> {
        outcomes
            .iter()
            .map(|p| {
                (
                    format!("{}/{}", p.account, p.region),
                    p.drift,
                    p.result.as_str(),
                    p.error.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn a_plan_alone_shows_drift_and_unreadable_places() {
        let outcomes = places(&sample_plan(), None, &[]);
        assert_eq!(
            summary(&outcomes),
            [
                ("111111111111/eu-west-1".into(), 0, "in_sync", false),
                ("111111111111/us-east-1".into(), 2, "drifted", false),
                ("111111111111/us-west-2".into(), 0, "failed", true),
                ("222222222222/us-east-1".into(), 0, "failed", true),
            ]
        );
        assert_eq!(outcomes[3].error.as_deref(), Some("cannot assume role"));
    }

    #[test]
    fn an_account_denied_before_any_region_fails_in_every_region_of_the_file() {
        let mut plan = sample_plan();
        plan.accounts[1].regions.clear();
        let regions = ["eu-west-1".to_owned(), "us-east-1".to_owned()];
        let outcomes = places(&plan, None, &regions);
        let denied: Vec<_> = outcomes
            .iter()
            .filter(|p| p.account == "222222222222")
            .map(|p| (p.region.as_str(), p.result, p.error.as_deref()))
            .collect();
        assert_eq!(
            denied,
            [
                ("eu-west-1", PlaceResult::Failed, Some("cannot assume role")),
                ("us-east-1", PlaceResult::Failed, Some("cannot assume role")),
            ]
        );
    }

    #[test]
    fn an_unreadable_account_fails_in_its_own_regions_when_given_per_account() {
        let mut plan = sample_plan();
        plan.accounts[1].regions.clear();
        let outcomes = places_by_account(&plan, None, |account| {
            let region = if account == "222222222222" {
                "eu-west-2"
            } else {
                "us-east-1"
            };
            vec![region.to_owned()]
        });
        let denied: Vec<_> = outcomes
            .iter()
            .filter(|p| p.account == "222222222222")
            .map(|p| (p.region.as_str(), p.result))
            .collect();
        assert_eq!(denied, [("eu-west-2", PlaceResult::Failed)]);
    }

    #[test]
    fn applied_places_succeed_or_carry_the_first_failed_action() {
        let plan = sample_plan();
        let ok = ApplyReport {
            results: vec![result("us-east-1", "fb-t-a", Outcome::Ok)],
        };
        assert_eq!(
            places(&plan, Some(&ok), &[])[1].result,
            PlaceResult::Applied
        );

        let failed = ApplyReport {
            results: vec![
                result("us-east-1", "fb-t-a-conn", Outcome::Ok),
                result(
                    "us-east-1",
                    "fb-t-a",
                    Outcome::Failed {
                        error: "ThrottlingException".into(),
                        retryable: true,
                    },
                ),
            ],
        };
        let outcome = &places(&plan, Some(&failed), &[])[1];
        assert_eq!(outcome.result, PlaceResult::Failed);
        assert_eq!(
            outcome.error.as_deref(),
            Some("rule fb-t-a: ThrottlingException")
        );
    }

    #[test]
    fn a_failed_invoke_role_fails_every_region_of_its_account() {
        let mut plan = sample_plan();
        plan.accounts[0].role_actions =
            vec![action(Op::Create, ResourceKind::InvokeRole, "fb-t-invoke")];
        let report = ApplyReport {
            results: vec![ActionResult {
                region: None,
                kind: ResourceKind::InvokeRole,
                outcome: Outcome::Failed {
                    error: "AccessDenied".into(),
                    retryable: false,
                },
                ..result("-", "fb-t-invoke", Outcome::Ok)
            }],
        };
        let outcomes = places(&plan, Some(&report), &[]);
        assert!(outcomes[..3]
            .iter()
            .all(|p| p.result == PlaceResult::Failed));
        let drift: Vec<usize> = outcomes.iter().map(|p| p.drift).collect();
        assert_eq!(
            drift,
            [1, 3, 1, 0],
            "the role change counts in each of its regions"
        );
    }
}
