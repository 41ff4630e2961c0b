//! End to end, the relay pipeline: the real `findings-bridge run` binary, moto (Security Hub,
//! STS) and backlog-sandbox. Findings are delivered repeatedly, shuffled, by 16 concurrent
//! senders, as EventBridge would (it retries until it gets a 2xx); the daemon is SIGKILLed
//! mid-stream, SIGTERMed during a burst, and Backlog misbehaves — and still every finding gets
//! exactly one issue and is marked NOTIFIED in Security Hub with that issue's key.
//!
//! Isolation note: the findings are imported into moto with Workflow NOTIFIED (the events say
//! NEW), so the start-up backfill — which asks Security Hub for NEW findings — finds nothing,
//! and every issue here comes from a delivered event. The write-back still has to set the note.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_securityhub::types::WorkflowStatus;
use fb_e2e::daemon::Daemon;
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::sandbox::Sandbox;
use fb_e2e::scenario::{
    batch_import, concurrently, config_head, daemon_env, Detector, Secrets, ACCOUNT, NEVER, REGION,
    ROLE,
};
use serde_json::json;

const INGEST_KEY: &str = "e2e-ingest-key-7Hq2";
const TOKEN: &str = "e2e-webhook-token-9Kd1";
const SENDERS: usize = 16;

const DETECTOR: Detector = Detector {
    name: "e2e",
    id_prefix: "f",
    digits: 4,
};

fn event_body(n: usize, delivery: usize) -> String {
    DETECTOR
        .event(n, &format!("e2e-event-{n}-{delivery}"))
        .to_string()
}

/// Imports findings `0..count` into moto's Security Hub with Workflow `workflow` (NOTIFIED
/// for the delivery tests: see the header).
async fn import_findings(moto: &Moto, count: usize, workflow: WorkflowStatus) {
    batch_import(moto, DETECTOR.sdk_findings(count, workflow)).await;
}

/// A deterministic shuffle (xorshift), so a failure replays the same order.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = usize::try_from(x % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
    items
}

/// Finding n delivered 1–6 times, all shuffled: (finding, delivery number) pairs.
fn deliveries(count: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut all = Vec::new();
    for n in 0..count {
        let times = 1 + (n * 7 + 3) % 6;
        all.extend((0..times).map(|d| (n, d)));
    }
    shuffled(all, seed)
}

/// Everything one scenario needs: emulators, the config, the binary's environment.
struct World {
    moto: Moto,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl World {
    async fn new(findings: usize, sandbox_args: &[&str]) -> World {
        Self::with_workflow(findings, sandbox_args, WorkflowStatus::Notified).await
    }

    async fn with_workflow(
        findings: usize,
        sandbox_args: &[&str],
        workflow: WorkflowStatus,
    ) -> World {
        let moto = Moto::start().unwrap();
        let mut args = vec![
            "--rate-read",
            "100000",
            "--rate-update",
            "100000",
            "--rate-search",
            "100000",
        ];
        args.extend_from_slice(sandbox_args);
        let sandbox = Sandbox::start_with(&args);
        moto.create_execution_role(ACCOUNT, ROLE).await.unwrap();
        import_findings(&moto, findings, workflow).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("findings-bridge.yaml");
        std::fs::write(
            &config,
            config_text(&sandbox.base_url, &dir.path().join("store")),
        )
        .unwrap();
        let secrets = Secrets {
            backlog_key: &sandbox.api_key,
            ingest_key: INGEST_KEY,
            webhook_token: Some(TOKEN),
        };
        let env = daemon_env(&moto, "FB_E2E", secrets, Some("info"));
        World {
            moto,
            sandbox,
            dir,
            config,
            env,
        }
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.config, &self.env).unwrap()
    }

    /// Issues in the sandbox by the finding id their marker names.
    async fn issues_by_finding(&self) -> BTreeMap<String, Vec<String>> {
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for issue in self.sandbox.issues().await {
            let description = issue["description"].as_str().unwrap_or_default();
            let key = issue["issueKey"].as_str().unwrap_or_default().to_owned();
            let marker = fb_model::template::find_marker(description)
                .unwrap_or_else(|| panic!("issue {key} has no marker:\n{description}"));
            by.entry(marker.to_owned()).or_default().push(key);
        }
        by
    }

    /// Waits until findings `0..count` each have exactly one issue and are NOTIFIED in
    /// Security Hub with a note naming that issue; panics with the daemon log otherwise.
    async fn expect_all_done(&self, count: usize, daemon: &Daemon, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let problem = self.first_problem(count).await;
            let Some(problem) = problem else { return };
            if Instant::now() > deadline {
                panic!("{problem}\ndaemon log:\n{}", daemon.log());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn first_problem(&self, count: usize) -> Option<String> {
        let issues = self.issues_by_finding().await;
        if issues.len() > count {
            return Some(format!(
                "{} findings have issues, expected {count}",
                issues.len()
            ));
        }
        for n in 0..count {
            let id = DETECTOR.finding_id(n);
            let keys = match issues.get(&id) {
                Some(keys) if keys.len() == 1 => keys,
                Some(keys) => return Some(format!("{id} has {} issues: {keys:?}", keys.len())),
                None => return Some(format!("{id} has no issue yet")),
            };
            let finding = match self.moto.finding(ACCOUNT, REGION, &id).await {
                Ok(Some(finding)) => finding,
                Ok(None) => panic!("{id} is not in Security Hub"),
                // moto's control endpoint can be slow under load: ask again next round.
                Err(e) => return Some(format!("{id}: reading it from moto failed: {e:#}")),
            };
            let note = finding["Note"]["Text"].as_str().unwrap_or_default();
            if !note.contains(&format!("Backlog {}", keys[0])) {
                return Some(format!("{id}: note {note:?} does not name {}", keys[0]));
            }
            if finding["Workflow"]["Status"] != "NOTIFIED" {
                return Some(format!("{id}: workflow {}", finding["Workflow"]));
            }
        }
        None
    }
}

fn config_text(backlog_url: &str, store: &Path) -> String {
    let head = config_head("e2e", "FB_E2E", backlog_url);
    format!(
        r#"{head}
  webhook_token: env:FB_E2E_WEBHOOK_TOKEN
relay:
  public_url: http://127.0.0.1:8080
  api_key: env:FB_E2E_INGEST_KEY
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
      description: "<Title>\n\nDescription:\n<Description>\n\nSeverity: <Severity>"
server:
  listen: "127.0.0.1:0"
  shutdown_timeout_seconds: 20
store:
  path: {store}
# Jobs run only at start (backfill) in these tests.
schedules:
  reconcile: "{NEVER}"
  closure_sync: "{NEVER}"
  backfill: "{NEVER}"
"#,
        store = store.display()
    )
}

/// What the senders saw: deliveries acknowledged (202) and deliveries that failed.
#[derive(Default)]
struct Outcomes {
    acked: Vec<(usize, usize)>,
    failed: Vec<(usize, usize)>,
}

/// Sends `work` with [`SENDERS`] concurrent senders to `base`. A delivery that does not get a
/// 202 is recorded as failed (the caller re-sends, as EventBridge retries).
async fn send(base: String, work: Vec<(usize, usize)>, outcomes: Arc<Mutex<Outcomes>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("{base}/v1/events");
    concurrently(SENDERS, work, move |(n, d)| {
        let (client, url, outcomes) = (client.clone(), url.clone(), outcomes.clone());
        async move {
            let sent = client
                .post(&url)
                .header("x-api-key", INGEST_KEY)
                .header("content-type", "application/json")
                .body(event_body(n, d))
                .send()
                .await;
            let mut o = outcomes.lock().unwrap();
            match sent {
                Ok(r) if r.status() == 202 => o.acked.push((n, d)),
                _ => o.failed.push((n, d)),
            }
        }
    })
    .await;
}

#[test]
fn two_hundred_findings_one_issue_each_through_a_sigkill() {
    block_on(|| async {
        const COUNT: usize = 200;
        let world = World::new(COUNT, &[]).await;
        let mut daemon = world.start();
        let work = deliveries(COUNT, 42);
        let total = work.len();
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));

        // Stream everything; SIGKILL the daemon once a third was acknowledged.
        let sender = tokio::spawn(send(daemon.base_url.clone(), work, outcomes.clone()));
        loop {
            if outcomes.lock().unwrap().acked.len() >= total / 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        daemon.kill();
        sender.await.unwrap();
        let (acked_before, failed) = {
            let o = outcomes.lock().unwrap();
            (o.acked.clone(), o.failed.clone())
        };
        assert!(!failed.is_empty(), "the kill interrupted the stream");
        let acked_findings: BTreeSet<usize> = acked_before.iter().map(|(n, _)| *n).collect();

        // Restart: every finding acknowledged before the kill gets its issue without any
        // re-delivery (the inbox is durable before each 202).
        let daemon = world.start();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let issues = world.issues_by_finding().await;
            let missing: Vec<usize> = acked_findings
                .iter()
                .copied()
                .filter(|n| !issues.contains_key(&DETECTOR.finding_id(*n)))
                .collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "acknowledged findings lost: {missing:?}\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // EventBridge retries what was not acknowledged.
        let retry = Arc::new(Mutex::new(Outcomes::default()));
        send(daemon.base_url.clone(), shuffled(failed, 7), retry.clone()).await;
        assert!(retry.lock().unwrap().failed.is_empty());
        world
            .expect_all_done(COUNT, &daemon, Duration::from_secs(180))
            .await;
        let issues = world.sandbox.issues().await;
        assert_eq!(issues.len(), COUNT, "exactly one issue per finding");
        drop(world.dir);
    });
}

#[test]
fn backlog_faults_for_a_while_still_give_one_issue_each() {
    block_on(|| async {
        const COUNT: usize = 30;
        let world = World::new(COUNT, &[]).await;
        let daemon = world.start();
        // 429s, 500s, and one create that succeeds but answers after the client gave up.
        world
            .sandbox
            .faults(json!({
                "rate_limit_next": 4,
                "error_5xx_next": 4,
                "slow_after_create_next": 1,
                "slow_ms": 31000
            }))
            .await;
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        send(
            daemon.base_url.clone(),
            deliveries(COUNT, 9),
            outcomes.clone(),
        )
        .await;
        assert!(outcomes.lock().unwrap().failed.is_empty());
        world
            .expect_all_done(COUNT, &daemon, Duration::from_secs(240))
            .await;
        assert_eq!(world.sandbox.issues().await.len(), COUNT);
        // The faults were met: the daemon counted them.
        let metrics = reqwest::get(format!("{}/metrics", daemon.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for outcome in ["rate_limited", "server_error", "transport_error"] {
            assert!(
                metrics.contains(&format!(r#"outcome="{outcome}""#)),
                "no {outcome} call counted:\n{metrics}"
            );
        }
    });
}

#[test]
fn sigterm_during_a_burst_exits_zero_and_loses_nothing() {
    block_on(|| async {
        const COUNT: usize = 60;
        let world = World::new(COUNT, &[]).await;
        let mut daemon = world.start();
        let work = deliveries(COUNT, 3);
        let total = work.len();
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let sender = tokio::spawn(send(daemon.base_url.clone(), work, outcomes.clone()));
        loop {
            if outcomes.lock().unwrap().acked.len() >= total / 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let status = daemon.terminate(Duration::from_secs(25)).unwrap();
        assert!(status.success(), "exit status {status:?}\n{}", daemon.log());
        assert!(daemon.log().contains("stopped"), "{}", daemon.log());
        sender.await.unwrap();
        let (acked, failed) = {
            let o = outcomes.lock().unwrap();
            (o.acked.clone(), o.failed.clone())
        };
        let acked_findings: HashSet<usize> = acked.iter().map(|(n, _)| *n).collect();

        let daemon = world.start();
        // Every acknowledged finding is processed exactly once (one issue), no re-delivery.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let issues = world.issues_by_finding().await;
            assert!(issues.values().all(|k| k.len() == 1), "{issues:?}");
            if acked_findings
                .iter()
                .all(|n| issues.contains_key(&DETECTOR.finding_id(*n)))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "acknowledged findings lost\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let retry = Arc::new(Mutex::new(Outcomes::default()));
        send(daemon.base_url.clone(), failed, retry.clone()).await;
        world
            .expect_all_done(COUNT, &daemon, Duration::from_secs(120))
            .await;
        assert_eq!(world.sandbox.issues().await.len(), COUNT);
    });
}

#[test]
fn backfill_at_start_files_findings_no_event_delivered() {
    block_on(|| async {
        // Findings still NEW in Security Hub (their events were lost while the daemon was
        // down past EventBridge's retries): the start-up backfill feeds them to the pipeline.
        const COUNT: usize = 12;
        let world = World::with_workflow(COUNT, &[], WorkflowStatus::New).await;
        let daemon = world.start();
        world
            .expect_all_done(COUNT, &daemon, Duration::from_secs(120))
            .await;
        assert_eq!(world.sandbox.issues().await.len(), COUNT);
    });
}
