//! The plan for a terminal, readable like Terraform's:
//!
//! ```text
//! account 111111111111
//!   + iam_role fb-secops-invoke
//!   region us-east-1
//!     + connection fb-secops-gd-conn
//!     ~ rule fb-secops-gd
//!         state: "ENABLED" → "DISABLED"
//!     - api_destination fb-secops-old-dest
//! account 222222222222
//!   ! account 222222222222: access denied
//!
//! Plan: 2 to create, 1 to change, 1 to destroy.
//! ```
//!
//! Accounts and regions with nothing to do and nothing wrong are left out.

use std::fmt::Write as _;

use fb_model::plan::{AccountPlan, Action, Op, Plan, RegionPlan};

use super::{errors_summary, short_value, summary, MAX_VALUE_CHARS};

/// The plan as text, ending with the summary line.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for account in plan.accounts.iter().filter(|a| account_shows(a)) {
        account_block(&mut out, account);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary(plan));
    out.push('\n');
    if let Some(errors) = errors_summary(plan) {
        out.push_str(&errors);
        out.push('\n');
    }
    out
}

pub(super) fn account_shows(account: &AccountPlan) -> bool {
    account.error.is_some()
        || !account.role_actions.is_empty()
        || account.regions.iter().any(region_shows)
}

pub(super) fn region_shows(region: &RegionPlan) -> bool {
    region.error.is_some() || !region.actions.is_empty()
}

fn account_block(out: &mut String, account: &AccountPlan) {
    let id = &account.account;
    let _ = writeln!(out, "account {id}");
    if let Some(error) = &account.error {
        let _ = writeln!(out, "  ! account {id}: {error}");
    }
    // Execution order: role writes, regions, role deletes.
    let (deletes, writes): (Vec<&Action>, Vec<&Action>) = account
        .role_actions
        .iter()
        .partition(|a| a.op == Op::Delete);
    for action in writes {
        action_lines(out, action, 2);
    }
    for region in account.regions.iter().filter(|r| region_shows(r)) {
        let _ = writeln!(out, "  region {}", region.region);
        if let Some(error) = &region.error {
            let _ = writeln!(out, "    ! region {id}/{}: {error}", region.region);
        }
        for action in &region.actions {
            action_lines(out, action, 4);
        }
    }
    for action in deletes {
        action_lines(out, action, 2);
    }
}

fn action_lines(out: &mut String, action: &Action, indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(
        out,
        "{pad}{} {} {}",
        action.op.symbol(),
        action.kind.label(),
        action.name
    );
    for change in &action.changes {
        let _ = writeln!(
            out,
            "{pad}    {}: {} → {}",
            change.field,
            short_value(&change.old, MAX_VALUE_CHARS),
            short_value(&change.new, MAX_VALUE_CHARS)
        );
    }
}
