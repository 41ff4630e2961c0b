//! Account discovery against moto's Organizations: nested OUs are walked, closed and excluded
//! accounts are left out, accounts outside the OUs are not included.

use fb_aws::organizations::{discover_accounts, resolve_accounts};
use fb_e2e::moto::Moto;
use fb_model::config::types::AccountSource;

async fn create_account(
    org: &aws_sdk_organizations::Client,
    name: &str,
    parent: &str,
    root: &str,
) -> String {
    let status = org
        .create_account()
        .email(format!("{name}@example.com"))
        .account_name(name)
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap();
    let id = status.account_id.unwrap();
    if parent != root {
        org.move_account()
            .account_id(&id)
            .source_parent_id(root)
            .destination_parent_id(parent)
            .send()
            .await
            .unwrap();
    }
    id
}

async fn create_ou(org: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    org.create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .unwrap()
        .organizational_unit
        .unwrap()
        .id
        .unwrap()
}

#[tokio::test]
async fn walks_nested_units_and_keeps_active_unexcluded_accounts() {
    let moto = Moto::start().expect("moto starts (run ./scripts/test.sh once for .venv)");
    let base = moto.base_config("us-east-1");
    let org = aws_sdk_organizations::Client::new(&base);
    org.create_organization().send().await.unwrap();
    let root = org.list_roots().send().await.unwrap().roots.unwrap()[0]
        .id
        .clone()
        .unwrap();
    let security = create_ou(&org, &root, "security").await;
    let nested = create_ou(&org, &security, "workloads").await;
    let elsewhere = create_ou(&org, &root, "sandbox").await;

    let in_security = create_account(&org, "a", &security, &root).await;
    let in_nested = create_account(&org, "b", &nested, &root).await;
    let excluded = create_account(&org, "c", &nested, &root).await;
    let closed = create_account(&org, "d", &security, &root).await;
    let _outside = create_account(&org, "e", &elsewhere, &root).await;
    org.close_account()
        .account_id(&closed)
        .send()
        .await
        .unwrap();

    let got = discover_accounts(
        &base,
        std::slice::from_ref(&security),
        std::slice::from_ref(&excluded),
    )
    .await
    .unwrap();
    let mut want = vec![in_security.clone(), in_nested.clone()];
    want.sort();
    assert_eq!(got, want);

    // The same OU listed twice (directly and through its parent) counts once.
    let source = AccountSource::Organization {
        include_ous: vec![security, nested],
        exclude_ids: vec![excluded],
    };
    assert_eq!(resolve_accounts(&base, &source).await.unwrap(), want);

    // An unknown OU is a clear error naming it.
    let err = discover_accounts(&base, &["ou-zzzz-nothere".into()], &[])
        .await
        .unwrap_err();
    assert!(
        fb_aws::error_chain(&err).contains("ou-zzzz-nothere"),
        "{err}"
    );
}
