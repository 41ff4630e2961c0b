//! Planning one account: its regions, and the invoke role EventBridge assumes there.
//!
//! The role is planned after the regions because whether it may be deleted depends on them:
//! our managed role goes only when the file wants no managed role in the account (no rules, or
//! `invoke_role_arn` given) AND no rule left after this plan still uses it AND every region of
//! the account could be read (an unreadable region may hold rules that use it).
//!
//! Must not: touch an external role, or a role whose name we do not own.

use std::collections::BTreeSet;

use fb_model::plan::{AccountPlan, Action, DesiredResource, RegionPlan, ResourceKind};
use fb_model::resources::{DesiredAccount, InvokeRole, Naming, ObservedAccount, RoleSpec};

use crate::action::{create, delete, push_update};
use crate::diff;
use crate::region::plan_region;

/// Plans one account. Either side may be missing (see [`plan_region`]).
pub fn plan_account(
    naming: &Naming,
    account: &str,
    desired: Option<&DesiredAccount>,
    observed: Option<&ObservedAccount>,
) -> AccountPlan {
    if let Some(error) = observed.and_then(|o| o.error.clone()) {
        return AccountPlan {
            account: account.to_owned(),
            role_actions: Vec::new(),
            regions: Vec::new(),
            error: Some(error),
        };
    }
    let regions = plan_regions(naming, desired, observed);
    let role_actions = plan_role(naming, desired, observed, &regions);
    AccountPlan {
        account: account.to_owned(),
        role_actions,
        regions,
        error: None,
    }
}

/// Every region named on either side, sorted.
fn plan_regions(
    naming: &Naming,
    desired: Option<&DesiredAccount>,
    observed: Option<&ObservedAccount>,
) -> Vec<RegionPlan> {
    let desired_regions = desired.map(|d| d.regions.as_slice()).unwrap_or_default();
    let observed_regions = observed.map(|o| o.regions.as_slice()).unwrap_or_default();
    let names: BTreeSet<&str> = desired_regions
        .iter()
        .map(|r| r.region.as_str())
        .chain(observed_regions.iter().map(|r| r.region.as_str()))
        .collect();
    names
        .into_iter()
        .map(|name| {
            plan_region(
                naming,
                name,
                desired_regions.iter().find(|r| r.region == name),
                observed_regions.iter().find(|r| r.region == name),
            )
        })
        .collect()
}

fn plan_role(
    naming: &Naming,
    desired: Option<&DesiredAccount>,
    observed: Option<&ObservedAccount>,
    regions: &[RegionPlan],
) -> Vec<Action> {
    let observed_role = observed
        .and_then(|o| o.role.as_ref())
        .filter(|r| naming.owns(&r.name));
    let mut out = Vec::new();
    if let Some(spec) = wanted_role(desired) {
        match observed_role.filter(|r| r.name == spec.name) {
            None => out.push(create(
                ResourceKind::InvokeRole,
                &spec.name,
                DesiredResource::Role(spec.clone()),
            )),
            Some(o) => push_update(
                &mut out,
                ResourceKind::InvokeRole,
                &spec.name,
                diff::role(spec, o),
                DesiredResource::Role(spec.clone()),
                &o.arn,
            ),
        }
        return out;
    }
    let Some(role) = observed_role else {
        return out;
    };
    let still_used = desired.is_some_and(|d| {
        d.regions
            .iter()
            .flat_map(|r| r.rules.iter().flat_map(|rule| rule.targets.iter()))
            .any(|t| t.role_arn == role.arn)
    });
    let unreadable_region = regions.iter().any(|r| r.error.is_some());
    if !still_used && !unreadable_region {
        out.push(delete(ResourceKind::InvokeRole, &role.name, &role.arn));
    }
    out
}

/// The managed role the file wants: only when the account has at least one rule to invoke with.
fn wanted_role(desired: Option<&DesiredAccount>) -> Option<&RoleSpec> {
    let desired = desired?;
    let has_rules = desired.regions.iter().any(|r| !r.rules.is_empty());
    match &desired.invoke_role {
        InvokeRole::Managed(spec) if has_rules => Some(spec),
        _ => None,
    }
}
