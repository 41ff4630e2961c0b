//! AWS sessions: one base SDK config for the process, and per account a config whose
//! credentials come from assuming `accounts.role` there (with the external id).
//!
//! The base config uses the standard credential chain and honours `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` (how tests point at moto): nothing here sets an endpoint.
//!
//! Must not: print or return the external id; read or write any resource (the inventory and
//! the executor do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_types::region::Region;
use aws_types::sdk_config::SharedTimeSource;
use fb_model::config::types::{Accounts, RoleTarget};
use fb_model::secret::{Secret, SecretResolveError};

use crate::error::AwsCallError;

/// `RoleSessionName` of every assumed role: CloudTrail shows who acted.
pub const SESSION_NAME: &str = "findings-bridge";

/// IAM and Organizations are global; their endpoints live in us-east-1.
pub const GLOBAL_REGION: &str = "us-east-1";

/// The base config: default credential chain and region (us-east-1 when none is set), an
/// HTTPS client on rustls with the `ring` provider, adaptive retries.
pub async fn load_base_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    // The loader's own region chain uses the HTTP client above; a hand-made
    // `RegionProviderChain::default_provider()` would build an IMDS client without one and panic.
    let loaded = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::adaptive())
        .load()
        .await;
    if loaded.region().is_some() {
        return loaded;
    }
    loaded
        .to_builder()
        .region(Region::from_static(GLOBAL_REGION))
        .build()
}

/// Why an account cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot resolve accounts.external_id")]
    ExternalId {
        #[source]
        source: SecretResolveError,
    },
    #[error("account {account}: cannot assume role {role_arn}")]
    AssumeRole {
        account: String,
        role_arn: String,
        #[source]
        source: AwsCallError,
    },
    #[error("account {account}: role {role_arn} gives credentials of account {actual}")]
    WrongAccount {
        account: String,
        role_arn: String,
        actual: String,
    },
}

/// Makes (and caches) one [`AccountSession`] per account.
#[derive(Clone, Debug)]
pub struct Sessions {
    inner: Arc<SessionsInner>,
}

#[derive(Debug)]
struct SessionsInner {
    base: SdkConfig,
    role: RoleTarget,
    /// `Secret`'s Debug prints `****`.
    external_id: Option<Secret>,
    cache: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<AccountSession>>>>,
}

impl Sessions {
    /// `base` is normally [`load_base_config`]'s; a hand-built config (tests) gets the default
    /// clock and sleep it may lack, which assumed-role credentials need.
    pub fn new(base: SdkConfig, role: RoleTarget, external_id: Option<Secret>) -> Self {
        let base = with_runtime_defaults(base);
        Sessions {
            inner: Arc::new(SessionsInner {
                base,
                role,
                external_id,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sessions for the file's `accounts` block; resolves the external id now.
    pub fn from_accounts(base: SdkConfig, accounts: &Accounts) -> Result<Self, SessionError> {
        let external_id = accounts
            .external_id
            .as_ref()
            .map(|r| r.resolve())
            .transpose()
            .map_err(|source| SessionError::ExternalId { source })?;
        Ok(Sessions::new(base, accounts.role.clone(), external_id))
    }

    /// The caller's own config (for Organizations).
    pub fn base(&self) -> &SdkConfig {
        &self.inner.base
    }

    /// Assumes the role in `account` and checks the credentials with STS GetCallerIdentity, so
    /// an access-denied role is reported now, for this account only. Successful sessions are
    /// cached (the SDK refreshes their credentials).
    pub async fn for_account(&self, account: &str) -> Result<AccountSession, SessionError> {
        // The map lock is held only to find the account's cell, so accounts open in parallel;
        // the cell makes concurrent callers for one account share one assume. A failure leaves
        // the cell empty, so the next call tries again.
        let cell = {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.entry(account.to_owned()).or_default().clone()
        };
        cell.get_or_try_init(|| self.assume(account)).await.cloned()
    }

    async fn assume(&self, account: &str) -> Result<AccountSession, SessionError> {
        let role_arn = self.inner.role.arn_for(account);
        let mut builder = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(SESSION_NAME)
            .configure(&self.inner.base);
        if let Some(id) = &self.inner.external_id {
            builder = builder.external_id(id.expose());
        }
        let provider = builder.build().await;
        let config = self
            .inner
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| SessionError::AssumeRole {
                account: account.to_owned(),
                role_arn: role_arn.clone(),
                source: AwsCallError::from_sdk("sts:GetCallerIdentity", &e),
            })?;
        let actual = identity.account().unwrap_or_default();
        if actual != account {
            return Err(SessionError::WrongAccount {
                account: account.to_owned(),
                role_arn,
                actual: actual.to_owned(),
            });
        }
        tracing::debug!(account, role_arn, "assumed role");
        Ok(AccountSession::new(account.to_owned(), config))
    }
}

fn with_runtime_defaults(base: SdkConfig) -> SdkConfig {
    if base.time_source().is_some() && base.sleep_impl().is_some() {
        return base;
    }
    let mut builder = base.to_builder();
    if base.time_source().is_none() {
        builder.set_time_source(Some(SharedTimeSource::default()));
    }
    if base.sleep_impl().is_none() {
        builder.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    }
    builder.build()
}

/// Clients of one account, built from the assumed-role config; cheap to clone.
#[derive(Clone, Debug)]
pub struct AccountSession {
    pub account: String,
    config: SdkConfig,
    eventbridge: Arc<Mutex<HashMap<String, aws_sdk_eventbridge::Client>>>,
}

impl AccountSession {
    fn new(account: String, config: SdkConfig) -> Self {
        AccountSession {
            account,
            config,
            eventbridge: Arc::default(),
        }
    }

    /// The assumed-role config (region: the base config's).
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// EventBridge in `region`.
    pub fn eventbridge(&self, region: &str) -> aws_sdk_eventbridge::Client {
        let mut clients = self.eventbridge.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let conf = aws_sdk_eventbridge::config::Builder::from(&self.config)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_eventbridge::Client::from_conf(conf)
            })
            .clone()
    }

    /// IAM (global, signed for us-east-1).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::config::Builder::from(&self.config)
            .region(Region::from_static(GLOBAL_REGION))
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// Security Hub in `region`.
    pub fn securityhub(&self, region: &str) -> aws_sdk_securityhub::Client {
        let conf = aws_sdk_securityhub::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_securityhub::Client::from_conf(conf)
    }
}
