//! `fb-planner`: `plan(&DesiredState, &ObservedState) -> Plan`, and the plan's renderings.
//!
//! Pure: no aws-sdk, sled, tokio or reqwest, no clock, no IO. Same inputs, same plan (every
//! list is sorted by name), and planning again after the plan was applied gives an empty plan
//! (checked by the tests with the simulator in `testing`, behind the feature `testing`).
//!
//! What is planned:
//! - every account and region named on either side, sorted: a place only in the observed state
//!   (removed from the file) gets its owned resources deleted; a place only in the file is
//!   created from nothing;
//! - an account or region that could not be read gets its error and no action;
//! - only resources named `fb-<name>-…` are looked at (ownership by name, see
//!   [`fb_model::resources::Naming::owns`]); foreign ones never appear in a plan.
//!
//! What the executor can rely on in a [`Plan`]:
//! - region actions are in run order (see [`fb_model::plan::RegionPlan`]); role actions that
//!   create or update run before the regions, role deletes after them;
//! - updates are in place; `existing_arn` is the observed ARN (for a target, which has none,
//!   its rule's ARN: it names the rule and its bus); creates have none;
//! - a target's action name is `<rule>/<target id>` ([`target_name`]);
//! - specs name connections and destinations, not ARNs: a connection or destination created by
//!   the same plan shows as [`diff::KNOWN_AFTER_APPLY`] in the changes of what points at it,
//!   and the executor resolves names to ARNs as it goes;
//! - the `secret` change of a connection holds only markers ([`diff::SECRET_CHANGED`]…).
//!
//! Must not: read a secret (only fingerprints are compared), talk to AWS, or panic on odd input
//! (an invalid desired region becomes a region error).

mod account;
mod action;
pub mod diff;
mod region;
pub mod render;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::BTreeSet;

use fb_model::plan::Plan;
use fb_model::resources::{DesiredState, ObservedState};

pub use region::target_name;

/// The actions that turn `observed` into `desired`, per account × region.
pub fn plan(desired: &DesiredState, observed: &ObservedState) -> Plan {
    let accounts: BTreeSet<&str> = desired
        .accounts
        .iter()
        .map(|a| a.account.as_str())
        .chain(observed.accounts.iter().map(|a| a.account.as_str()))
        .collect();
    let accounts = accounts
        .into_iter()
        .map(|id| {
            account::plan_account(
                &desired.naming,
                id,
                desired.accounts.iter().find(|a| a.account == id),
                observed.accounts.iter().find(|a| a.account == id),
            )
        })
        .collect();
    Plan {
        prefix: desired.naming.prefix.clone(),
        accounts,
    }
}
