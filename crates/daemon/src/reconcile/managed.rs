//! The places we manage beyond the file: reading the account × regions recorded in the store
//! (so that a place removed from the file is observed, and the planner deletes what we left
//! there), and working out after a reconcile which places still hold resources of ours.
//!
//! Must not: decide what to delete (the planner does, from what is observed) or forget a place
//! whose resources may still exist (unread, or a delete that did not succeed): a forgotten
//! place would keep its resources for good.

use std::collections::BTreeMap;

use fb_aws::inventory::ObserveScope;
use fb_aws::{ApplyReport, Observation, ObserveStats, Outcome};
use fb_model::plan::{Action, Op, Plan};
use fb_model::resources::{DesiredState, InvokeRole, ObservedRegion};
use fb_store::ManagedPlaces;

use super::Prepared;

/// Reads the file's accounts × regions, then every recorded place outside them (accounts or
/// regions removed from the file). `progress(done, total)` counts places over all the reads.
pub(super) async fn observe_all(
    prepared: &Prepared,
    progress: impl Fn(usize, usize) + Sync,
) -> Observation {
    let config = &prepared.config;
    let scope = |accounts, regions| ObserveScope {
        naming: &prepared.desired.naming,
        accounts,
        regions,
        read_invoke_role: config.accounts.invoke_role_arn.is_none(),
        concurrency: config.reconcile.concurrency,
    };
    let file_regions = &config.accounts.regions;
    let extra = extra_places(&prepared.accounts, file_regions, &prepared.managed);
    let main_total = prepared.accounts.len() * file_regions.len();
    let total = main_total
        + extra
            .iter()
            .map(|(regions, accounts)| regions.len() * accounts.len())
            .sum::<usize>();
    let progress = &progress;
    let mut observation = fb_aws::observe(
        &prepared.sessions,
        scope(&prepared.accounts, file_regions),
        |done, _| progress(done, total),
    )
    .await;
    let mut offset = main_total;
    for (regions, accounts) in &extra {
        tracing::info!(
            accounts = ?accounts,
            regions = ?regions,
            "reading places no longer in the file"
        );
        let more = fb_aws::observe(&prepared.sessions, scope(accounts, regions), |done, _| {
            progress(offset + done, total)
        })
        .await;
        offset += regions.len() * accounts.len();
        merge(&mut observation, more, regions);
    }
    observation
}

/// Recorded places outside the file's accounts × regions, grouped as regions → accounts (one
/// inventory read per group). An account no longer in the file is read in every recorded region,
/// or in none when only its invoke role is recorded (the role is still read).
fn extra_places(
    file_accounts: &[String],
    file_regions: &[String],
    managed: &ManagedPlaces,
) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for account in managed.accounts() {
        let in_file = file_accounts.iter().any(|a| a == account);
        let regions: Vec<String> = managed
            .regions_of(account)
            .into_iter()
            .filter(|r| !(in_file && file_regions.iter().any(|f| f == r)))
            .map(str::to_owned)
            .collect();
        if in_file && regions.is_empty() {
            continue;
        }
        groups.entry(regions).or_default().push(account.to_owned());
    }
    groups
}

/// The regions read in each account that has recorded places outside the file's accounts ×
/// regions: the file's and its recorded ones for an account of the file, only its recorded
/// ones for an account removed from it.
pub(super) fn read_regions(
    file_accounts: &[String],
    file_regions: &[String],
    managed: &ManagedPlaces,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (regions, accounts) in extra_places(file_accounts, file_regions, managed) {
        for account in accounts {
            let read: Vec<String> = if file_accounts.contains(&account) {
                file_regions.iter().chain(&regions).cloned().collect()
            } else {
                regions.clone()
            };
            out.insert(account, read);
        }
    }
    out
}

/// Adds `more` (a read of `regions`) to `into`: new accounts as they are, more regions of an
/// account already read to its regions. An account that `more` could not open, but `into`
/// could, gets the error in each of those regions.
fn merge(into: &mut Observation, more: Observation, regions: &[String]) {
    into.stats = ObserveStats {
        calls: into.stats.calls + more.stats.calls,
        places_read: into.stats.places_read + more.stats.places_read,
        places_failed: into.stats.places_failed + more.stats.places_failed,
    };
    for account in more.state.accounts {
        let known = into
            .state
            .accounts
            .iter_mut()
            .find(|a| a.account == account.account);
        let Some(existing) = known else {
            into.state.accounts.push(account);
            continue;
        };
        if existing.error.is_some() {
            continue;
        }
        match account.error {
            Some(error) => existing
                .regions
                .extend(regions.iter().map(|region| ObservedRegion {
                    region: region.clone(),
                    error: Some(error.clone()),
                    ..ObservedRegion::default()
                })),
            None => existing.regions.extend(account.regions),
        }
    }
}

/// The places holding resources of ours once `plan` was applied (`report`) — or, with no
/// report, when `plan` changed nothing. `before` is what was recorded when planning.
///
/// A place is kept when the file wants resources there, when one of its deletes did not
/// succeed, or when it could not be read and was recorded before. An invoke role likewise:
/// wanted by the file, a delete that did not succeed, or recorded before while a region of its
/// account was unreadable (the planner keeps the role then).
pub(super) fn places_after(
    desired: &DesiredState,
    plan: &Plan,
    report: Option<&ApplyReport>,
    before: &ManagedPlaces,
) -> ManagedPlaces {
    let mut after = wanted_places(desired);
    let left = |account: &str, region: Option<&str>, action: &Action| {
        action.op == Op::Delete && !succeeded(report, account, region, action)
    };
    for account in &plan.accounts {
        let id = account.account.as_str();
        if account.error.is_some() {
            after
                .places
                .extend(before.places.iter().filter(|(a, _)| a == id).cloned());
            if before.invoke_roles.contains(id) {
                after.invoke_roles.insert(id.to_owned());
            }
            continue;
        }
        for region in &account.regions {
            let place = (id.to_owned(), region.region.clone());
            let unread_but_recorded = region.error.is_some() && before.places.contains(&place);
            let delete_left = region
                .actions
                .iter()
                .any(|action| left(id, Some(&region.region), action));
            if unread_but_recorded || delete_left {
                after.places.insert(place);
            }
        }
        let role_delete_left = account.role_actions.iter().any(|a| left(id, None, a));
        let role_kept = before.invoke_roles.contains(id)
            && !account.role_actions.iter().any(|a| a.op == Op::Delete)
            && account.regions.iter().any(|r| r.error.is_some());
        if role_delete_left || role_kept {
            after.invoke_roles.insert(id.to_owned());
        }
    }
    after
}

/// The places and invoke roles the file wants.
fn wanted_places(desired: &DesiredState) -> ManagedPlaces {
    let mut wanted = ManagedPlaces::default();
    for account in &desired.accounts {
        for region in &account.regions {
            let any = !region.connections.is_empty()
                || !region.destinations.is_empty()
                || !region.rules.is_empty();
            if any {
                wanted
                    .places
                    .insert((account.account.clone(), region.region.clone()));
            }
        }
        let has_rules = account.regions.iter().any(|r| !r.rules.is_empty());
        if has_rules && matches!(account.invoke_role, InvokeRole::Managed(_)) {
            wanted.invoke_roles.insert(account.account.clone());
        }
    }
    wanted
}

/// True when `report` has this action succeeding.
fn succeeded(
    report: Option<&ApplyReport>,
    account: &str,
    region: Option<&str>,
    action: &Action,
) -> bool {
    report.is_some_and(|report| {
        report.results.iter().any(|r| {
            r.account == account
                && r.region.as_deref() == region
                && r.kind == action.kind
                && r.name == action.name
                && r.op == action.op
                && r.outcome == Outcome::Ok
        })
    })
}

#[cfg(test)]
mod tests;
