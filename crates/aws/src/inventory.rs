//! The inventory: what exists in each account × region, read with few calls, as an
//! [`ObservedState`] for the planner.
//!
//! Per account: assume the role, then the managed invoke role (GetRole, ListRolePolicies,
//! GetRolePolicy). Per region: ListRules with our name prefix (+ ListTargetsByRule and
//! ListTagsForResource per rule), ListConnections (+ DescribeConnection each, for the auth
//! fields) and ListApiDestinations (+ DescribeApiDestination each: the list has no
//! description, and moto's omits the rate limit). Every call is counted in [`ObserveStats`].
//!
//! A failure is recorded where it happened (account or region) with its cause chain; the other
//! places are still read. Must not: decide ownership (the planner does) or change anything.

mod eventbridge;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use fb_model::resources::{Naming, ObservedAccount, ObservedRegion, ObservedRole, ObservedState};
use futures::StreamExt;

use self::eventbridge::{read_connections, read_destinations, read_rules};
use crate::convert::policy_document;
use crate::error::{error_chain, AwsCallError, CallContext};
use crate::session::{AccountSession, Sessions};

/// An opened account and its invoke role, or why it could not be read.
type Opened = Result<(AccountSession, Option<ObservedRole>), String>;

/// What to read.
#[derive(Clone, Copy, Debug)]
pub struct ObserveScope<'a> {
    pub naming: &'a Naming,
    pub accounts: &'a [String],
    pub regions: &'a [String],
    /// Read the managed invoke role (false when the file gives `invoke_role_arn`).
    pub read_invoke_role: bool,
    /// Account × region places read at once (at least 1).
    pub concurrency: usize,
}

/// Counts of one inventory run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserveStats {
    /// AWS read calls made by the inventory (EventBridge and IAM; the two STS calls per
    /// account that open a session are not counted).
    pub calls: usize,
    /// Account × region places read successfully.
    pub places_read: usize,
    /// Places (accounts or regions) that failed.
    pub places_failed: usize,
}

/// An inventory result.
#[derive(Clone, Debug)]
pub struct Observation {
    pub state: ObservedState,
    pub stats: ObserveStats,
}

/// Reads every account × region of `scope`. `progress(done, total)` is called as account ×
/// region places finish (total = accounts × regions).
pub async fn observe(
    sessions: &Sessions,
    scope: ObserveScope<'_>,
    progress: impl Fn(usize, usize) + Sync,
) -> Observation {
    let calls = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = scope.accounts.len() * scope.regions.len();
    let concurrency = scope.concurrency.max(1);
    let step = |n: usize| progress(done.fetch_add(n, Ordering::Relaxed) + n, total);

    // Step 1: open each account (assume role) and read its invoke role.
    // Owned items: a closure over borrowed items would make this future not `Send`.
    let opened: Vec<(usize, Opened)> =
        futures::stream::iter(scope.accounts.iter().cloned().enumerate())
            .map(|(i, account)| {
                let calls = &calls;
                async move { (i, open_account(sessions, &account, scope, calls).await) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;

    let mut accounts: Vec<ObservedAccount> = scope
        .accounts
        .iter()
        .map(|a| ObservedAccount {
            account: a.clone(),
            role: None,
            regions: Vec::new(),
            error: None,
        })
        .collect();
    let mut places = Vec::new();
    let mut stats = ObserveStats::default();
    for (i, result) in opened {
        match result {
            Ok((session, role)) => {
                accounts[i].role = role;
                for region in scope.regions {
                    places.push((i, session.clone(), region.clone()));
                }
            }
            Err(error) => {
                tracing::warn!(account = %scope.accounts[i], %error, "account not readable");
                accounts[i].error = Some(error);
                stats.places_failed += 1;
                step(scope.regions.len());
            }
        }
    }

    // Step 2: every region of every open account, bounded.
    let regions: Vec<(usize, ObservedRegion)> = futures::stream::iter(places)
        .map(|(i, session, region)| {
            let calls = &calls;
            let step = &step;
            async move {
                let observed = observe_region(&session, &region, scope.naming, calls).await;
                step(1);
                (i, observed)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (i, region) in regions {
        if region.error.is_some() {
            stats.places_failed += 1;
        } else {
            stats.places_read += 1;
        }
        accounts[i].regions.push(region);
    }
    for account in &mut accounts {
        account.regions.sort_by_key(|r| {
            scope
                .regions
                .iter()
                .position(|x| *x == r.region)
                .unwrap_or(usize::MAX)
        });
    }
    stats.calls = calls.load(Ordering::Relaxed);
    Observation {
        state: ObservedState { accounts },
        stats,
    }
}

/// Assumes the role and reads the invoke role; any failure is the account's error text.
async fn open_account(
    sessions: &Sessions,
    account: &str,
    scope: ObserveScope<'_>,
    calls: &AtomicUsize,
) -> Opened {
    let session = sessions
        .for_account(account)
        .await
        .map_err(|e| error_chain(&e))?;
    let role = if scope.read_invoke_role {
        read_role(&session.iam(), &scope.naming.invoke_role(), calls)
            .await
            .map_err(|e| format!("cannot read the invoke role: {}", error_chain(&e)))?
    } else {
        None
    };
    Ok((session, role))
}

/// The role and its inline policies; `None` when it does not exist.
pub(crate) async fn read_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    calls: &AtomicUsize,
) -> Result<Option<ObservedRole>, AwsCallError> {
    calls.fetch_add(1, Ordering::Relaxed);
    let got = match iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .op("iam:GetRole")
    {
        Ok(out) => out,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(role) = got.role() else {
        return Ok(None);
    };
    let mut policies = BTreeMap::new();
    for policy_name in list_role_policies(iam, name, calls).await? {
        calls.fetch_add(1, Ordering::Relaxed);
        let doc = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&policy_name)
            .send()
            .await
            .op("iam:GetRolePolicy")?;
        policies.insert(policy_name, policy_document(doc.policy_document()));
    }
    Ok(Some(ObservedRole {
        name: role.role_name().to_owned(),
        arn: role.arn().to_owned(),
        description: role.description().unwrap_or_default().to_owned(),
        trust_policy: role
            .assume_role_policy_document()
            .map(policy_document)
            .unwrap_or(serde_json::Value::Null),
        policies,
    }))
}

pub(crate) async fn list_role_policies(
    iam: &aws_sdk_iam::Client,
    name: &str,
    calls: &AtomicUsize,
) -> Result<Vec<String>, AwsCallError> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = iam
            .list_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .op("iam:ListRolePolicies")?;
        names.extend(page.policy_names().iter().cloned());
        marker = page.marker().map(str::to_owned);
        if !page.is_truncated() || marker.is_none() {
            return Ok(names);
        }
    }
}

/// One region; a failure becomes the region's `error`.
async fn observe_region(
    session: &AccountSession,
    region: &str,
    naming: &Naming,
    calls: &AtomicUsize,
) -> ObservedRegion {
    let eb = session.eventbridge(region);
    let prefix = format!("{}-", naming.prefix);
    let read = async {
        let connections = read_connections(&eb, &prefix, calls).await?;
        let destinations = read_destinations(&eb, &prefix, calls).await?;
        let rules = read_rules(&eb, &prefix, calls).await?;
        Ok::<_, AwsCallError>((connections, destinations, rules))
    };
    match read.await {
        Ok((connections, destinations, rules)) => ObservedRegion {
            region: region.to_owned(),
            connections,
            destinations,
            rules,
            recorded_fingerprints: BTreeMap::new(),
            error: None,
        },
        Err(e) => {
            let error = error_chain(&e);
            tracing::warn!(account = %session.account, region, %error, "region not readable");
            ObservedRegion {
                region: region.to_owned(),
                error: Some(error),
                ..ObservedRegion::default()
            }
        }
    }
}
