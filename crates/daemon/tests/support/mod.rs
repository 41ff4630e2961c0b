//! In-process daemon for tests: a config in a temporary directory (store beside it), the
//! server on 127.0.0.1 port 0, an injectable backend, and a shutdown trigger.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fb_daemon::backend::{Backend, BoxError, Engine, WorkReport};
use fb_daemon::metrics::Metrics;
use fb_daemon::runtime::Runtime;
use fb_daemon::status::{PlaceStatus, StatusView};
use fb_daemon::Options;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::sync::oneshot;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Distinct environment variable names per daemon, so parallel tests do not share secrets.
#[derive(Clone, Debug)]
pub struct Secrets {
    pub ingest_var: String,
    pub token_var: String,
    pub backlog_var: String,
    pub ingest_key: String,
    pub webhook_token: String,
    pub backlog_key: String,
}

impl Secrets {
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let s = Secrets {
            ingest_var: format!("FB_TEST_INGEST_{pid}_{n}"),
            token_var: format!("FB_TEST_TOKEN_{pid}_{n}"),
            backlog_var: format!("FB_TEST_BACKLOG_{pid}_{n}"),
            ingest_key: format!("ingest-key-{n}-Zq81xw"),
            webhook_token: format!("hook-token-{n}-Pw03kd"),
            backlog_key: format!("backlog-key-{n}-Lm55ty"),
        };
        std::env::set_var(&s.ingest_var, &s.ingest_key);
        std::env::set_var(&s.token_var, &s.webhook_token);
        std::env::set_var(&s.backlog_var, &s.backlog_key);
        s
    }
}

/// A config in the demo's shape with the given secrets, Backlog URL and store path.
pub fn config_yaml(secrets: &Secrets, backlog_url: &str, store: &Path) -> String {
    format!(
        r#"version: 1
name: test
accounts:
  ids: ["111111111111"]
  role: FindingsBridgeExecution
  regions: [us-east-1]
security_hub:
  account: "111111111111"
  region: us-east-1
backlog:
  base_url: {backlog_url}
  api_key: env:{backlog}
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
  webhook_token: env:{token}
relay:
  public_url: http://127.0.0.1:8080
  api_key: env:{ingest}
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    rate_limit_per_second: 2
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\nSeverity: <Severity>"
server:
  listen: "127.0.0.1:0"
  shutdown_timeout_seconds: 5
store:
  path: {store}
# Never within a test run: jobs run only when a test triggers them (reload) or at start.
schedules:
  reconcile: "0 0 0 1 1 * 2099"
  closure_sync: "0 0 0 1 1 * 2099"
  backfill: "0 0 0 1 1 * 2099"
"#,
        backlog = secrets.backlog_var,
        token = secrets.token_var,
        ingest = secrets.ingest_var,
        store = store.display(),
    )
}

/// An ASFF `Security Hub Findings - Imported` event for finding number `n`.
pub fn asff_event(n: usize, product: &str) -> Value {
    let finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:guardduty:us-east-1:111111111111:detector/d1/finding/f{n:04}"),
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "ProductName": product,
        "GeneratorId": "arn:aws:guardduty:us-east-1:111111111111:detector/d1",
        "AwsAccountId": "111111111111",
        "Region": "us-east-1",
        "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        "CreatedAt": "2026-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": format!("Finding number {n}"),
        "Description": "Unprotected port probed.",
        "Resources": [{"Type": "AwsEc2Instance", "Id": "i-0123456789"}],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    });
    fb_model::finding::asff_event(finding, &format!("event-{n}"), "2026-01-01T00:00:00Z")
}

/// Controls and observations of [`FakeBackend`].
#[derive(Debug, Default)]
pub struct FakeControl {
    /// While true, `prepare` fails (Backlog "unreachable").
    pub fail_prepare: AtomicBool,
    pub prepares: AtomicUsize,
    pub reconciles: AtomicUsize,
    pub backfills: AtomicUsize,
    /// Inbox events drained by `process_pending`.
    pub processed: AtomicUsize,
    /// Whether `process_pending` drains the inbox (off: events stay for inspection).
    pub drain: AtomicBool,
}

/// A backend whose engine drains the inbox, counting events as issues.
#[derive(Debug, Clone)]
pub struct FakeBackend(pub Arc<FakeControl>);

struct FakeEngine {
    control: Arc<FakeControl>,
    store: fb_store::Store,
}

impl Backend for FakeBackend {
    fn prepare(
        &self,
        _runtime: Arc<Runtime>,
        store: fb_store::Store,
        _metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        let control = self.0.clone();
        Box::pin(async move {
            control.prepares.fetch_add(1, Ordering::SeqCst);
            if control.fail_prepare.load(Ordering::SeqCst) {
                return Err("Backlog: connection refused".into());
            }
            Ok(Arc::new(FakeEngine { control, store }) as Arc<dyn Engine>)
        })
    }
}

impl Engine for FakeEngine {
    fn process_pending(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async move {
            let mut report = WorkReport::default();
            if !self.control.drain.load(Ordering::SeqCst) {
                return Ok(report);
            }
            for (seq, _event) in self.store.inbox_pending(100)? {
                self.store.inbox_remove(seq)?;
                self.control.processed.fetch_add(1, Ordering::SeqCst);
                report.events += 1;
                report.issues_created += 1;
            }
            Ok(report)
        })
    }

    fn flush_writebacks(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async { Ok(WorkReport::default()) })
    }

    fn backfill(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        self.control.backfills.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok("0 findings queued".to_owned()) })
    }

    fn reconcile(&self) -> BoxFuture<'_, Result<Vec<PlaceStatus>, BoxError>> {
        self.control.reconciles.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            Ok(vec![PlaceStatus {
                account: "111111111111".into(),
                region: "us-east-1".into(),
                time: Some(chrono::Utc::now()),
                result: "applied".into(),
                drift: 2,
                error: None,
            }])
        })
    }
}

/// A daemon running in this process.
pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub store_path: PathBuf,
    pub base: String,
    pub secrets: Secrets,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), fb_daemon::RunError>>>,
}

impl TestDaemon {
    /// Starts with `backend`; `watch_config` enables the file watcher and SIGHUP.
    pub async fn start(backend: Arc<dyn Backend>, watch_config: bool) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::new();
        let store_path = dir.path().join("store");
        let config_path = dir.path().join("findings-bridge.yaml");
        std::fs::write(
            &config_path,
            config_yaml(&secrets, "http://127.0.0.1:9", &store_path),
        )
        .unwrap();
        Self::start_in(dir, config_path, store_path, secrets, backend, watch_config).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        store_path: PathBuf,
        secrets: Secrets,
        backend: Arc<dyn Backend>,
        watch_config: bool,
    ) -> TestDaemon {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let options = Options {
            worker_interval: Duration::from_millis(50),
            prepare_retry: Duration::from_millis(20),
            watch_config,
            ..Options::default()
        };
        let path = config_path.clone();
        let task = tokio::spawn(async move {
            fb_daemon::serve(
                &path,
                listener,
                async move {
                    let _ = stopped.await;
                },
                backend,
                options,
            )
            .await
        });
        TestDaemon {
            dir,
            config_path,
            store_path,
            base,
            secrets,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_event(
        &self,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url("/v1/events"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn status(&self) -> StatusView {
        self.http
            .get(self.url("/v1/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Waits (polling the running server) until `check` holds; panics after many tries.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..500 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gave up waiting until {what}");
    }

    /// Triggers the shutdown and returns the daemon's result.
    pub async fn stop(mut self) -> (Result<(), fb_daemon::RunError>, tempfile::TempDir, PathBuf) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = self.task.take().unwrap().await.unwrap();
        (result, self.dir, self.store_path)
    }
}
