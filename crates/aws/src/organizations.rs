//! Which accounts the file means: its `ids`, or the ACTIVE accounts under organizational units
//! (recursively), minus `exclude_ids`.
//!
//! Must not: assume roles or read member accounts; this runs with the caller's own credentials
//! (the management or delegated-administrator account).

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use aws_types::region::Region;
use fb_model::config::types::AccountSource;

use crate::error::{AwsCallError, CallContext};
use crate::paging::all_pages;
use crate::session::GLOBAL_REGION;

/// Why the organization's accounts could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot list the accounts of organizational unit {ou}")]
    ListAccounts {
        ou: String,
        #[source]
        source: AwsCallError,
    },
    #[error("cannot list the child organizational units of {ou}")]
    ListChildren {
        ou: String,
        #[source]
        source: AwsCallError,
    },
}

/// The accounts of `source`, sorted and deduplicated.
pub async fn resolve_accounts(
    base: &SdkConfig,
    source: &AccountSource,
) -> Result<Vec<String>, DiscoverError> {
    match source {
        AccountSource::Ids(ids) => Ok(ids
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()),
        AccountSource::Organization {
            include_ous,
            exclude_ids,
        } => discover_accounts(base, include_ous, exclude_ids).await,
    }
}

/// ACTIVE accounts in `include_ous` and all their descendants, minus `exclude_ids`; sorted,
/// deduplicated. An OU id may also be the root (`r-…`).
pub async fn discover_accounts(
    base: &SdkConfig,
    include_ous: &[String],
    exclude_ids: &[String],
) -> Result<Vec<String>, DiscoverError> {
    let conf = aws_sdk_organizations::config::Builder::from(base)
        .region(Region::from_static(GLOBAL_REGION))
        .build();
    let client = aws_sdk_organizations::Client::from_conf(conf);
    let mut found = BTreeSet::new();
    let mut pending: Vec<String> = include_ous.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(ou) = pending.pop() {
        if !seen.insert(ou.clone()) {
            continue;
        }
        found.extend(active_accounts(&client, &ou).await?);
        pending.extend(child_ous(&client, &ou).await?);
    }
    for id in exclude_ids {
        found.remove(id);
    }
    tracing::info!(
        accounts = found.len(),
        ous = seen.len(),
        "discovered accounts"
    );
    Ok(found.into_iter().collect())
}

async fn active_accounts(
    client: &aws_sdk_organizations::Client,
    ou: &str,
) -> Result<Vec<String>, DiscoverError> {
    all_pages(|token| async move {
        let page = client
            .list_accounts_for_parent()
            .parent_id(ou)
            .set_next_token(token)
            .send()
            .await
            .op("organizations:ListAccountsForParent")
            .map_err(|source| DiscoverError::ListAccounts {
                ou: ou.to_owned(),
                source,
            })?;
        let active = page
            .accounts()
            .iter()
            .filter(|a| is_active(a))
            .filter_map(|a| a.id().map(str::to_owned))
            .collect();
        Ok((active, page.next_token().map(str::to_owned)))
    })
    .await
}

/// `State` is the current field; `Status` is kept for endpoints that only return it.
fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    match (account.state(), account.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

async fn child_ous(
    client: &aws_sdk_organizations::Client,
    ou: &str,
) -> Result<Vec<String>, DiscoverError> {
    all_pages(|token| async move {
        let page = client
            .list_organizational_units_for_parent()
            .parent_id(ou)
            .set_next_token(token)
            .send()
            .await
            .op("organizations:ListOrganizationalUnitsForParent")
            .map_err(|source| DiscoverError::ListChildren {
                ou: ou.to_owned(),
                source,
            })?;
        let ids = page
            .organizational_units()
            .iter()
            .filter_map(|u| u.id().map(str::to_owned))
            .collect();
        Ok((ids, page.next_token().map(str::to_owned)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_organizations::types::Account;

    #[test]
    fn only_active_accounts_count() {
        let active = Account::builder()
            .id("1")
            .state(AccountState::Active)
            .build();
        let suspended = Account::builder()
            .id("2")
            .state(AccountState::Suspended)
            .status(AccountStatus::Active)
            .build();
        let legacy = Account::builder()
            .id("3")
            .status(AccountStatus::Active)
            .build();
        let unknown = Account::builder().id("4").build();
        assert!(is_active(&active));
        assert!(!is_active(&suspended));
        assert!(is_active(&legacy));
        assert!(!is_active(&unknown));
    }

    #[tokio::test]
    async fn ids_are_sorted_and_deduplicated_without_a_call() {
        let base = SdkConfig::builder().build();
        let ids = AccountSource::Ids(vec![
            "222222222222".into(),
            "111111111111".into(),
            "222222222222".into(),
        ]);
        let got = resolve_accounts(&base, &ids).await.unwrap();
        assert_eq!(got, vec!["111111111111", "222222222222"]);
    }
}
