//! moto with the findings-bridge additions (`tests/moto/server.py`), started as a child process
//! on a free 127.0.0.1 port and killed on drop; plus SDK clients into any emulated account and
//! the environment a child `findings-bridge` needs to talk to it.
//!
//! Accounts: requests signed with the access key `test` land in moto's default account
//! [`DEFAULT_ACCOUNT`]. To act in another account the harness assumes
//! `OrganizationAccountAccessRole` there (the one role `server.py` lets anyone assume, as AWS
//! Organizations creates it in every account); any other role must exist in the target account
//! or `AssumeRole` is denied.
//!
//! Must not: talk to anything but the moto it started.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;

/// moto's default account: where the key `test` lands.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The role `server.py` lets the harness assume in every account.
pub const HARNESS_ROLE: &str = "OrganizationAccountAccessRole";
const FAKE_KEY: &str = "test";

/// A running moto; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts `tests/moto/server.py --port 0` and waits for its `listening on` line.
    pub fn start() -> anyhow::Result<Moto> {
        let script = crate::workspace_root().join("tests/moto/server.py");
        let python = crate::python_path();
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0", "--exit-with-stdin"])
            // Held open until drop; if this process aborts, the pipe closes and moto exits.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} {} (run ./scripts/test.sh once to create .venv)",
                    python.display(),
                    script.display()
                )
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading moto's first line")?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("moto did not start: first line was {line:?}");
        };
        Ok(Moto {
            endpoint: format!("http://{addr}"),
            child,
        })
    }

    /// Environment for a child process (the `findings-bridge` binary) to use this moto.
    pub fn env(&self, region: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", FAKE_KEY),
            ("AWS_SECRET_ACCESS_KEY", FAKE_KEY),
            ("AWS_REGION", region),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// SDK config signed as moto's default account.
    pub fn base_config(&self, region: &str) -> SdkConfig {
        self.config_with(
            Credentials::new(FAKE_KEY, FAKE_KEY, None, None, "fb-e2e"),
            region,
        )
    }

    fn config_with(&self, credentials: Credentials, region: &str) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http)
            .build()
    }

    /// SDK config acting in `account` (through [`HARNESS_ROLE`] unless it is the default one).
    pub async fn config(&self, account: &str, region: &str) -> anyhow::Result<SdkConfig> {
        if account == DEFAULT_ACCOUNT {
            return Ok(self.base_config(region));
        }
        let sts = aws_sdk_sts::Client::new(&self.base_config(region));
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{HARNESS_ROLE}"))
            .role_session_name("fb-e2e-harness")
            .send()
            .await
            .with_context(|| format!("assume {HARNESS_ROLE} in {account}"))?;
        let c = out
            .credentials
            .ok_or_else(|| anyhow!("AssumeRole returned no credentials"))?;
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "fb-e2e-assumed",
        );
        Ok(self.config_with(credentials, region))
    }

    pub async fn eventbridge(
        &self,
        account: &str,
        region: &str,
    ) -> anyhow::Result<aws_sdk_eventbridge::Client> {
        Ok(aws_sdk_eventbridge::Client::new(
            &self.config(account, region).await?,
        ))
    }

    pub async fn securityhub(
        &self,
        account: &str,
        region: &str,
    ) -> anyhow::Result<aws_sdk_securityhub::Client> {
        Ok(aws_sdk_securityhub::Client::new(
            &self.config(account, region).await?,
        ))
    }

    pub async fn iam(&self, account: &str) -> anyhow::Result<aws_sdk_iam::Client> {
        Ok(aws_sdk_iam::Client::new(
            &self.config(account, "us-east-1").await?,
        ))
    }

    /// Creates the role the product assumes in `account` (trusting the default account), so
    /// that `AssumeRole` into it succeeds. An account without it stays unassumable.
    pub async fn create_execution_role(&self, account: &str, name: &str) -> anyhow::Result<()> {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")},
                "Action": "sts:AssumeRole"
            }]
        });
        self.iam(account)
            .await?
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .with_context(|| format!("create role {name} in {account}"))?;
        Ok(())
    }

    /// The stored Security Hub finding (control endpoint), `None` when unknown.
    pub async fn finding(
        &self,
        account: &str,
        region: &str,
        id: &str,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let url = format!("{}/_fb/securityhub/finding", self.endpoint);
        let response = reqwest::Client::new()
            .get(url)
            .query(&[("account", account), ("region", region), ("id", id)])
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(response.error_for_status()?.json().await?))
    }

    /// The `Security Hub Findings - Imported` events emitted in `account`/`region` (one per
    /// imported or updated finding, our own write-back echoes included), oldest first.
    pub async fn imported_events(
        &self,
        account: &str,
        region: &str,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let url = format!("{}/_fb/securityhub/events", self.endpoint);
        let response = reqwest::Client::new()
            .get(url)
            .query(&[("account", account), ("region", region)])
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// The provider archives (`ARCHIVED`) or un-archives (`ACTIVE`) a finding; un-archiving
    /// resets Workflow NOTIFIED/RESOLVED to NEW as Security Hub does.
    pub async fn set_record_state(
        &self,
        account: &str,
        region: &str,
        id: &str,
        record_state: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/_fb/securityhub/record-state", self.endpoint);
        let body = serde_json::json!({
            "account": account, "region": region, "id": id, "record_state": record_state
        });
        let response = reqwest::Client::new().post(url).json(&body).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an async test body on a thread and runtime with large stacks: the SDK's futures are big
/// in debug builds and overflow the 2 MiB of a test thread. Panics are passed on.
pub fn block_on<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    const STACK: usize = 32 << 20;
    let thread = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(body())
        })
        .expect("spawn test thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}
