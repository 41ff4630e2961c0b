//! `load_base_config` with no region configured anywhere falls back to us-east-1 instead of
//! failing (IMDS off, no profile files). Its own test binary: it changes process environment.

#[tokio::test]
async fn no_configured_region_falls_back_to_us_east_1() {
    for key in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        std::env::remove_var(key);
    }
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/fb-aws-test-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/fb-aws-test-credentials",
    );
    let base = fb_aws::load_base_config().await;
    assert_eq!(
        base.region().map(|r| r.as_ref()),
        Some(fb_aws::session::GLOBAL_REGION)
    );
    assert!(base
        .retry_config()
        .is_some_and(|r| r.mode() == aws_config::retry::RetryMode::Adaptive));
}
