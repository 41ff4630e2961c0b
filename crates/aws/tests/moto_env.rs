//! The production path: [`load_base_config`] reads credentials, region and `AWS_ENDPOINT_URL`
//! from the environment (as the `findings-bridge` binary does), and assumed-role sessions built
//! on it reach moto too. Its own test binary, because it sets process environment variables.

use fb_aws::inventory::{observe, ObserveScope};
use fb_aws::{load_base_config, SessionError, Sessions};
use fb_e2e::moto::Moto;
use fb_model::config::types::RoleTarget;
use fb_model::resources::Naming;
use fb_model::secret::Secret;

#[tokio::test]
async fn environment_endpoint_reaches_moto_through_assumed_roles() {
    let moto = Moto::start().expect("moto starts (run ./scripts/test.sh once for .venv)");
    for (key, value) in moto.env("eu-central-1") {
        std::env::set_var(key, value);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/fb-aws-test-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/fb-aws-test-credentials",
    );
    moto.create_execution_role("444444444444", "Exec")
        .await
        .unwrap();

    let base = load_base_config().await;
    assert_eq!(base.region().map(|r| r.as_ref()), Some("eu-central-1"));
    let sessions = Sessions::new(
        base,
        RoleTarget::ArnTemplate("arn:aws:iam::{account}:role/Exec".into()),
        Some(Secret::new("external-id-value")),
    );
    let session = sessions.for_account("444444444444").await.unwrap();
    assert_eq!(session.account, "444444444444");

    // An account without the role fails with an error that names it, and no secret.
    let err = sessions.for_account("555555555555").await.unwrap_err();
    let SessionError::AssumeRole { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        !source.retryable,
        "access denied is not retryable: {source}"
    );
    let text = fb_aws::error_chain(&err);
    assert!(
        text.contains("arn:aws:iam::555555555555:role/Exec"),
        "{text}"
    );
    assert!(
        !text.contains("external-id-value") && !format!("{err:?}").contains("external-id-value")
    );

    // An empty inventory of the good account reads through the same path.
    let naming = Naming::new("envtest");
    let accounts = vec!["444444444444".to_owned()];
    let regions = vec!["eu-central-1".to_owned()];
    let seen = observe(
        &sessions,
        ObserveScope {
            naming: &naming,
            accounts: &accounts,
            regions: &regions,
            read_invoke_role: true,
            concurrency: 8,
        },
        |_, _| {},
    )
    .await;
    let account = &seen.state.accounts[0];
    assert_eq!(account.error, None);
    assert_eq!(account.role, None);
    assert_eq!(account.regions[0].error, None);
    assert!(account.regions[0].rules.is_empty());
}
