//! Scenario scaffolding shared by the end-to-end tests and the benchmarks: the one account and
//! region they run in, the GuardDuty port-probe findings they import and deliver (as ASFF JSON
//! for events, as SDK values for `BatchImportFindings`), and the daemon configuration used by
//! the closure-sync scenarios.
//!
//! It also reads the daemon's status and waits for it to say something.
//!
//! It only builds data, imports it and reads status; it must NOT assert anything about the daemon's behaviour
//! (that belongs to each test) and must not start processes (see `daemon`, `moto`, `sandbox`).

use std::path::Path;
use std::time::{Duration, Instant};

use fb_model::config::Config;

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, RecordState, Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::moto::Moto;

/// The member account every scenario runs in.
pub const ACCOUNT: &str = "111111111111";
/// The one region every scenario runs in.
pub const REGION: &str = "us-east-1";
/// The execution role the daemon assumes in `ACCOUNT`.
pub const ROLE: &str = "FindingsBridgeExecution";
/// GuardDuty's product ARN in `REGION`.
pub const PRODUCT_ARN: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
/// A cron schedule that never fires in a test's lifetime (jobs run only at start).
pub const NEVER: &str = "0 0 0 1 1 * 2099";

/// A family of GuardDuty port-probe findings numbered `0..`: each scenario uses its own detector
/// so ids never collide between scenarios.
#[derive(Debug, Clone, Copy)]
pub struct Detector {
    /// The detector's name, in the id and the generator id.
    pub name: &'static str,
    /// Put before the zero-padded number in the finding id.
    pub id_prefix: &'static str,
    /// How many digits the number is padded to.
    pub digits: usize,
}

impl Detector {
    /// The id of finding `n`.
    pub fn finding_id(&self, n: usize) -> String {
        let Detector {
            name,
            id_prefix,
            digits,
        } = self;
        format!(
            "arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{name}/finding/{id_prefix}{n:0digits$}"
        )
    }

    /// The generator id every finding of this detector carries.
    pub fn generator_id(&self) -> String {
        format!(
            "arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{}",
            self.name
        )
    }

    /// Finding `n` as Security Hub puts it in an Imported event (Workflow NEW, ACTIVE).
    pub fn finding_json(&self, n: usize) -> Value {
        json!({
            "SchemaVersion": "2018-10-08",
            "Id": self.finding_id(n),
            "ProductArn": PRODUCT_ARN,
            "ProductName": "GuardDuty",
            "GeneratorId": self.generator_id(),
            "AwsAccountId": ACCOUNT,
            "Region": REGION,
            "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
            "CreatedAt": "2026-01-01T00:00:00.000Z",
            "UpdatedAt": "2026-01-01T00:00:00.000Z",
            "Severity": {"Label": "HIGH", "Normalized": 70},
            "Title": format!("Unprotected port on instance {n} is being probed"),
            "Description": "An unprotected port is being probed by a known malicious host.",
            "Resources": [{"Type": "AwsEc2Instance", "Id": format!("i-{n:017}")}],
            "Workflow": {"Status": "NEW"},
            "RecordState": "ACTIVE"
        })
    }

    /// The EventBridge "Security Hub Findings - Imported" event carrying finding `n`
    /// ([`Detector::finding_json`]) with event id `event_id`.
    pub fn event(&self, n: usize, event_id: &str) -> Value {
        fb_model::finding::asff_event(self.finding_json(n), event_id, "2026-01-01T00:00:00Z")
    }

    /// Finding `n` as its provider sends it to Security Hub (the same finding as
    /// [`Detector::finding_json`], with the given update time, record state and workflow).
    pub fn sdk_finding(
        &self,
        n: usize,
        updated_at: &str,
        record_state: RecordState,
        workflow: WorkflowStatus,
    ) -> AwsSecurityFinding {
        AwsSecurityFinding::builder()
            .schema_version("2018-10-08")
            .id(self.finding_id(n))
            .product_arn(PRODUCT_ARN)
            .product_name("GuardDuty")
            .generator_id(self.generator_id())
            .aws_account_id(ACCOUNT)
            .region(REGION)
            .types("TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort")
            .created_at("2026-01-01T00:00:00.000Z")
            .updated_at(updated_at)
            .severity(
                Severity::builder()
                    .label(SeverityLabel::High)
                    .normalized(70)
                    .build(),
            )
            .title(format!("Unprotected port on instance {n} is being probed"))
            .description("An unprotected port is being probed by a known malicious host.")
            .resources(
                Resource::builder()
                    .r#type("AwsEc2Instance")
                    .id(format!("i-{n:017}"))
                    .build(),
            )
            .record_state(record_state)
            .workflow(Workflow::builder().status(workflow).build())
            .build()
    }

    /// Findings `0..count`, ACTIVE, created and updated at the scenario's start, with Workflow
    /// `workflow`.
    pub fn sdk_findings(&self, count: usize, workflow: WorkflowStatus) -> Vec<AwsSecurityFinding> {
        (0..count)
            .map(|n| {
                self.sdk_finding(
                    n,
                    "2026-01-01T00:00:00.000Z",
                    RecordState::Active,
                    workflow.clone(),
                )
            })
            .collect()
    }
}

/// `BatchImportFindings` into moto's Security Hub in `ACCOUNT`/`REGION`, as a provider calls
/// it (at most 100 findings a call); panics unless every finding is accepted.
pub async fn batch_import(moto: &Moto, findings: Vec<AwsSecurityFinding>) {
    let hub = moto
        .securityhub(ACCOUNT, REGION)
        .await
        .expect("Security Hub client");
    for chunk in findings.chunks(100) {
        let out = hub
            .batch_import_findings()
            .set_findings(Some(chunk.to_vec()))
            .send()
            .await
            .expect("BatchImportFindings");
        assert_eq!(out.failed_count(), Some(0), "{out:?}");
    }
}

/// The daemon configuration of the closure-sync scenarios: one GuardDuty rule, `Closed` is
/// closed, `Won't Fix`/`Invalid`/`Duplication` suppress, only `closure_sync` is scheduled.
/// `name` is the deployment name; secrets come from `env:{env_prefix}_BACKLOG_KEY`,
/// `{env_prefix}_WEBHOOK_TOKEN` and `{env_prefix}_INGEST_KEY`.
pub fn closure_config_text(
    name: &str,
    env_prefix: &str,
    backlog_url: &str,
    store: &Path,
    closure_sync: &str,
) -> String {
    let head = config_head(name, env_prefix, backlog_url);
    format!(
        r#"{head}
  closed_statuses: [Closed]
  suppress_resolutions: ["Won't Fix", Invalid, Duplication]
  webhook_token: env:{env_prefix}_WEBHOOK_TOKEN
relay:
  public_url: http://127.0.0.1:8080
  api_key: env:{env_prefix}_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\nSeverity: <Severity>"
server:
  listen: "127.0.0.1:0"
store:
  path: {store}
schedules:
  reconcile: "{NEVER}"
  closure_sync: "{closure_sync}"
  backfill: "{NEVER}"
"#,
        store = store.display()
    )
}

/// The start of every daemon configuration the end-to-end tests write: `version` to
/// `backlog.priority`, in `ACCOUNT`/`REGION` with `ROLE`. `name` is the deployment name; the
/// Backlog key comes from `env:{env_prefix}_BACKLOG_KEY`. Ends without a newline, inside the
/// `backlog` block, so the caller continues it.
pub fn config_head(name: &str, env_prefix: &str, backlog_url: &str) -> String {
    format!(
        r#"version: 1
name: {name}
accounts:
  ids: ["{ACCOUNT}"]
  role: {ROLE}
  regions: [{REGION}]
security_hub:
  account: "{ACCOUNT}"
  region: {REGION}
backlog:
  base_url: {backlog_url}
  api_key: env:{env_prefix}_BACKLOG_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}"#
    )
}

/// Where the in-process reconcile tests apply: the accounts and regions in the file, and the
/// Security Hub (aggregation) account and region.
#[derive(Debug, Clone, Copy)]
pub struct ReconcilePlaces<'a> {
    /// Member accounts (`accounts.ids`).
    pub accounts: &'a [&'a str],
    /// `accounts.regions`.
    pub regions: &'a [&'a str],
    /// `security_hub.account`.
    pub hub_account: &'a str,
    /// `security_hub.region`.
    pub hub_region: &'a str,
}

/// The parsed configuration of the in-process reconcile tests: deployment `name` (file
/// `{name}.yaml`), one GuardDuty rule, Backlog never called (an unused env key on port 9), the
/// ingest key from the file `key`, the store unused.
pub fn reconcile_config(name: &str, places: ReconcilePlaces<'_>, key: &Path) -> Config {
    let ids: Vec<String> = places.accounts.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        r#"version: 1
name: {name}
accounts:
  ids: [{ids}]
  role: {ROLE}
  regions: [{regions}]
security_hub: {{account: "{hub}", region: {hub_region}}}
backlog:
  base_url: http://127.0.0.1:9
  api_key: env:FB_{upper}_TEST_UNUSED_BACKLOG_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
relay:
  public_url: https://bridge.example.test
  api_key: file:{key}
rules:
  - name: guardduty
    match: {{product_names: [GuardDuty], record_states: [ACTIVE], workflow_statuses: [NEW]}}
    issue: {{summary: "<FindingType> in <AwsAccountId>", description: "<Title>"}}
server: {{listen: "127.0.0.1:0"}}
store: {{path: /nonexistent/unused}}
"#,
        ids = ids.join(", "),
        regions = places.regions.join(", "),
        hub = places.hub_account,
        hub_region = places.hub_region,
        upper = name.to_uppercase(),
        key = key.display(),
    );
    fb_model::config::parse_str(&text, &format!("{name}.yaml")).expect("valid file")
}

/// The daemon's `GET /v1/status`, as JSON (panics when the daemon does not answer).
pub async fn status(http: &reqwest::Client, daemon: &Daemon) -> Value {
    let url = format!("{}/v1/status", daemon.base_url);
    let response = http.get(&url).send().await.expect(&url);
    response.json().await.expect("status JSON")
}

/// How long [`until_status`] waits at most, and how often it asks.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    /// Give up (panic) after this long.
    pub within: Duration,
    /// Pause between two status reads.
    pub every: Duration,
}

/// Reads the daemon's status until `check` holds and returns that status; panics with `what`,
/// the last status and the daemon's log when it does not hold within `poll.within`.
pub async fn until_status(
    http: &reqwest::Client,
    daemon: &Daemon,
    poll: Poll,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + poll.within;
    loop {
        let status = status(http, daemon).await;
        if check(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting until {what}; last status {status:#}\ndaemon log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(poll.every).await;
    }
}

/// Sandbox arguments that put Backlog's read, update and search rate limits out of the way
/// (for scenarios that count calls rather than pace them).
pub const UNTHROTTLED: [&str; 6] = [
    "--rate-read",
    "100000",
    "--rate-update",
    "100000",
    "--rate-search",
    "100000",
];

/// The secrets a scenario's config refers to by `env:{env_prefix}_…`.
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    /// `{env_prefix}_BACKLOG_KEY`: the sandbox's API key.
    pub backlog_key: &'a str,
    /// `{env_prefix}_INGEST_KEY`.
    pub ingest_key: &'a str,
    /// `{env_prefix}_WEBHOOK_TOKEN`, when the config has one.
    pub webhook_token: Option<&'a str>,
}

/// The daemon's environment: moto's endpoint and fake credentials in `REGION`, the secrets as
/// `{env_prefix}_BACKLOG_KEY` / `_INGEST_KEY` / `_WEBHOOK_TOKEN`, and `RUST_LOG` when given.
pub fn daemon_env(
    moto: &Moto,
    env_prefix: &str,
    secrets: Secrets<'_>,
    rust_log: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = moto.env(REGION);
    env.push((
        format!("{env_prefix}_BACKLOG_KEY"),
        secrets.backlog_key.to_owned(),
    ));
    env.push((
        format!("{env_prefix}_INGEST_KEY"),
        secrets.ingest_key.to_owned(),
    ));
    if let Some(token) = secrets.webhook_token {
        env.push((format!("{env_prefix}_WEBHOOK_TOKEN"), token.to_owned()));
    }
    if let Some(level) = rust_log {
        env.push(("RUST_LOG".to_owned(), level.to_owned()));
    }
    env
}

/// Runs `job` on every item of `work` with `senders` concurrent tasks taking items from one
/// shared queue (from its end), as EventBridge's parallel deliveries do; returns when the queue
/// is empty and every task finished (a panicking job panics here).
pub async fn concurrently<T, F, Fut>(senders: usize, work: Vec<T>, job: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let queue = std::sync::Arc::new(std::sync::Mutex::new(work));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (queue, job) = (queue.clone(), job.clone());
        tasks.spawn(async move {
            loop {
                let Some(item) = queue.lock().expect("queue").pop() else {
                    return;
                };
                job(item).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("sender");
    }
}
