//! Benchmark, not a test: Backlog calls per finding (issue 3) and closure sync latency and calls
//! (issue 4), measured end to end with the real `findings-bridge` binary, moto (Security Hub,
//! STS) and backlog-sandbox on 127.0.0.1, through the e2e harness (`fb_e2e`).
//!
//! `cargo run -p fb-e2e --example bench_e2e [-- FINDINGS CLOSES POLL_SECONDS]`
//! (defaults 200, 10, 5; `scripts/bench-e2e.sh` builds the binaries and runs it). Binaries come
//! from `$FB_TEST_BIN_DIR`, else `target/debug`, as for the e2e tests.
//!
//! What it prints, one `key: value` line per number:
//! 1. **calls**: FINDINGS distinct findings, each delivered 3 times by 16 senders; the Backlog
//!    calls the pipeline made (from the sandbox's `/_sandbox/requests` log) split into creates
//!    (`POST /issues`), searches (`GET /issues`) and others, and the BatchUpdateFindings calls
//!    (from the daemon's `/metrics`).
//! 2. **unfinished intents**: FINDINGS more findings, the daemon SIGKILLed while it files them
//!    and restarted; searches happen only to resolve the creates that were in flight.
//! 3. **closure**: CLOSES issues closed one at a time with webhooks dropped (polling every
//!    POLL_SECONDS), then CLOSES with webhooks delivered (and the default one-minute poll), then
//!    CLOSES in one bulk update: time from the close to the daemon's BatchUpdateFindings
//!    (confirmed in moto), Backlog and Security Hub calls per closed issue.
//! 4. **quiet polls**: Backlog calls per closure poll when nothing changed.
//!
//! Must not: talk to anything but the emulators and the daemon it starts; assert timings (these
//! are measurements; it fails only when the system misbehaves: a second issue, a lost finding).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_securityhub::types::WorkflowStatus;
use fb_e2e::daemon::Daemon;
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::sandbox::Sandbox;
use fb_e2e::scenario::{
    self, batch_import, closure_config_text, concurrently, daemon_env, Detector, Poll, Secrets,
    ACCOUNT, NEVER, REGION, ROLE, UNTHROTTLED,
};
use serde_json::{json, Value};

const INGEST_KEY: &str = "bench-e2e-ingest-key-6Wm3";
const TOKEN: &str = "bench-e2e-webhook-token-8Zp5";
const DELIVERIES: usize = 3;
const SENDERS: usize = 16;
const BUF_OK: &str =
    r#"findings_bridge_aws_calls_total{operation="securityhub:BatchUpdateFindings",outcome="ok"} "#;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("FINDINGS CLOSES POLL_SECONDS are numbers"))
        .collect();
    let findings = args.first().copied().unwrap_or(200);
    let closes = args.get(1).copied().unwrap_or(10);
    let poll = args.get(2).copied().unwrap_or(5) as u64;
    assert!(
        findings >= 3 * closes,
        "FINDINGS must be at least 3 × CLOSES"
    );
    block_on(move || async move {
        let world = World::new(2 * findings).await;
        calls_per_finding(&world, 0..findings).await;
        unfinished_intents(&world, findings..2 * findings).await;
        closure(&world, findings, closes, poll).await;
        quiet_polls(&world).await;
    });
}

const DETECTOR: Detector = Detector {
    name: "bench",
    id_prefix: "b",
    digits: 5,
};

/// Imports the findings with Workflow NOTIFIED, so the start-up backfill (NEW findings) finds
/// nothing and every issue comes from a delivered event.
async fn import_findings(moto: &Moto, count: usize) {
    batch_import(moto, DETECTOR.sdk_findings(count, WorkflowStatus::Notified)).await;
}

fn config_text(backlog_url: &str, store: &std::path::Path, closure_sync: &str) -> String {
    closure_config_text("bench", "FB_BENCH", backlog_url, store, closure_sync)
}

/// The emulators, one store, and an HTTP client; daemons are started per phase.
struct World {
    moto: Moto,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    http: reqwest::Client,
}

impl World {
    async fn new(findings: usize) -> World {
        let moto = Moto::start().expect("start moto");
        // Backlog's rate limits are out of the way: this counts calls, it does not pace them.
        let sandbox = Sandbox::start_with(&UNTHROTTLED);
        moto.create_execution_role(ACCOUNT, ROLE)
            .await
            .expect("execution role");
        import_findings(&moto, findings).await;
        let secrets = Secrets {
            backlog_key: &sandbox.api_key,
            ingest_key: INGEST_KEY,
            webhook_token: Some(TOKEN),
        };
        let env = daemon_env(&moto, "FB_BENCH", secrets, Some("info"));
        World {
            moto,
            sandbox,
            dir: tempfile::tempdir().expect("tempdir"),
            env,
            http: reqwest::Client::new(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("findings-bridge.yaml")
    }

    fn start(&self, closure_sync: &str) -> Daemon {
        let text = config_text(
            &self.sandbox.base_url,
            &self.dir.path().join("store"),
            closure_sync,
        );
        std::fs::write(self.config_path(), text).expect("write config");
        Daemon::start(&self.config_path(), &self.env).expect("start findings-bridge")
    }

    async fn get(&self, url: String) -> reqwest::Response {
        self.http.get(&url).send().await.expect(&url)
    }

    async fn status(&self, daemon: &Daemon) -> Value {
        scenario::status(&self.http, daemon).await
    }

    /// The daemon's count of successful BatchUpdateFindings calls.
    async fn buf_calls(&self, daemon: &Daemon) -> u64 {
        let r = self.get(format!("{}/metrics", daemon.base_url)).await;
        let text = r.text().await.expect("metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(BUF_OK))
            .map_or(0, |n| n.trim().parse::<f64>().unwrap_or(0.0) as u64)
    }

    /// Waits until the status says `check`; panics with the log after two minutes.
    async fn until(&self, daemon: &Daemon, what: &str, check: impl Fn(&Value) -> bool) {
        let poll = Poll {
            within: Duration::from_secs(120),
            every: Duration::from_millis(100),
        };
        scenario::until_status(&self.http, daemon, poll, what, check).await;
    }

    /// Finding id → issue keys, from the markers in the sandbox's issues.
    async fn issues_by_finding(&self) -> BTreeMap<String, Vec<String>> {
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for issue in self.sandbox.issues().await {
            let description = issue["description"].as_str().unwrap_or_default();
            let key = issue["issueKey"].as_str().unwrap_or_default().to_owned();
            let marker = fb_model::template::find_marker(description).expect("marker");
            by.entry(marker.to_owned()).or_default().push(key);
        }
        by
    }

    fn webhook_install(&self, daemon: &Daemon) {
        let out = Command::new(fb_e2e::bin_path("findings-bridge"))
            .args(["backlog", "webhook", "install", "--url", &daemon.base_url])
            .arg("-c")
            .arg(self.config_path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("findings-bridge backlog webhook install");
        assert!(out.status.success(), "{out:?}");
    }
}

fn idle(status: &Value) -> bool {
    status["queues"]["inbox"] == 0 && status["queues"]["outbox"] == 0
}

fn closure_runs(status: &Value) -> u64 {
    status["jobs"]["closure_sync"]["runs"].as_u64().unwrap_or(0)
}

fn created(status: &Value) -> u64 {
    status["counters"]["issues_created"].as_u64().unwrap_or(0)
}

/// Sends every finding of `range` DELIVERIES times (distinct event ids) with SENDERS senders.
async fn deliver(world: &World, daemon: &Daemon, range: std::ops::Range<usize>) {
    let work: Vec<(usize, usize)> = (0..DELIVERIES)
        .flat_map(|d| range.clone().map(move |n| (n, d)))
        .collect();
    let url = format!("{}/v1/events", daemon.base_url);
    let http = world.http.clone();
    concurrently(SENDERS, work, move |(n, d)| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = DETECTOR.event(n, &format!("bench-event-{n}-{d}"));
            // EventBridge retries until it gets a 2xx; so does this sender.
            loop {
                let sent = http
                    .post(&url)
                    .header("x-api-key", INGEST_KEY)
                    .json(&body)
                    .send()
                    .await;
                if matches!(&sent, Ok(r) if r.status() == 202) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    })
    .await;
}

/// (creates, searches, others) among Backlog API calls.
fn classify(requests: &[Value]) -> (usize, usize, usize) {
    let (mut creates, mut searches, mut others) = (0, 0, 0);
    for r in requests {
        match (r["method"].as_str(), r["path"].as_str()) {
            (Some("POST"), Some("/api/v2/issues")) => creates += 1,
            (Some("GET"), Some("/api/v2/issues")) => searches += 1,
            _ => others += 1,
        }
    }
    (creates, searches, others)
}

fn others_summary(requests: &[Value]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests {
        let (m, p) = (r["method"].as_str(), r["path"].as_str());
        if !matches!((m, p), (Some("POST" | "GET"), Some("/api/v2/issues"))) {
            *by.entry(format!("{} {}", m.unwrap_or("?"), p.unwrap_or("?")))
                .or_default() += 1;
        }
    }
    format!("{by:?}")
}

/// Calls per `METHOD path`, issue keys folded into `:key`.
fn endpoint_counts(requests: &[Value]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests {
        let path = r["path"].as_str().unwrap_or("?");
        let path = match path.strip_prefix("/api/v2/issues/") {
            Some(rest) if !rest.contains('/') => "/api/v2/issues/:key",
            _ => path,
        };
        let method = r["method"].as_str().unwrap_or("?");
        *by.entry(format!("{method} {path}")).or_default() += 1;
    }
    format!("{by:?}")
}

/// Checks one issue per finding of `range`; returns the issue count.
async fn one_issue_each(world: &World, range: std::ops::Range<usize>) -> usize {
    let by = world.issues_by_finding().await;
    for n in range.clone() {
        let keys = by.get(&DETECTOR.finding_id(n)).map_or(0, Vec::len);
        assert_eq!(keys, 1, "finding {n} has {keys} issues");
    }
    range.len()
}

async fn calls_per_finding(world: &World, range: std::ops::Range<usize>) {
    let count = range.len();
    let mut daemon = world.start(NEVER);
    let before = world.sandbox.requests().await.len();
    let buf_before = world.buf_calls(&daemon).await;
    let started = Instant::now();
    deliver(world, &daemon, range.clone()).await;
    world
        .until(&daemon, "every finding filed and written back", |s| {
            idle(s) && created(s) >= count as u64
        })
        .await;
    let elapsed = started.elapsed();
    let requests = world.sandbox.requests().await;
    let (creates, searches, others) = classify(&requests[before..]);
    let buf = world.buf_calls(&daemon).await - buf_before;
    one_issue_each(world, range).await;
    println!("calls.findings: {count}");
    println!("calls.deliveries: {}", count * DELIVERIES);
    println!("calls.startup_backlog_calls: {before} (project, statuses, issue types, priorities, resolutions)");
    println!(
        "calls.backlog_creates: {creates} ({:.2} per finding)",
        creates as f64 / count as f64
    );
    println!("calls.backlog_searches: {searches}");
    println!(
        "calls.backlog_other: {others} {}",
        others_summary(&requests[before..])
    );
    println!(
        "calls.securityhub_batch_update_findings: {buf} ({:.1} findings per call)",
        count as f64 / buf.max(1) as f64
    );
    println!(
        "calls.wall_time_to_all_notified_s: {:.1}",
        elapsed.as_secs_f64()
    );
    daemon.terminate(Duration::from_secs(30)).expect("stop");
}

async fn unfinished_intents(world: &World, range: std::ops::Range<usize>) {
    let count = range.len();
    let mut daemon = world.start(NEVER);
    let before = world.sandbox.requests().await.len();
    let created_before = world.sandbox.issues().await.len();
    // The next creates succeed in Backlog but answer 3 s late, so the kill below surely cuts
    // creates whose issue exists while the daemon has not recorded it (unfinished intents).
    world
        .sandbox
        .faults(json!({"slow_after_create_next": 2, "slow_ms": 3000}))
        .await;
    let started = Instant::now();
    // Kill once a third of the new findings have issues, or 1.5 s in (a create is hanging).
    let sender = {
        let url = daemon.base_url.clone();
        let range = range.clone();
        let http = world.http.clone();
        tokio::spawn(async move {
            for n in range {
                let body = DETECTOR.event(n, &format!("bench-kill-{n}"));
                let r = http
                    .post(format!("{url}/v1/events"))
                    .header("x-api-key", INGEST_KEY)
                    .json(&body)
                    .send()
                    .await;
                if !matches!(&r, Ok(r) if r.status() == 202) {
                    return n; // the daemon is gone: the rest is re-sent after the restart
                }
            }
            usize::MAX
        })
    };
    loop {
        let issues = world.sandbox.issues().await.len() - created_before;
        if issues >= count / 3 || started.elapsed() > Duration::from_millis(1500) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.kill();
    let unsent = sender.await.expect("sender");
    let at_kill = world.sandbox.issues().await.len() - created_before;
    // The daemon is dead: read what it left in its store (then close it before the restart).
    let (intents, inbox) = {
        let store = fb_store::Store::open_without_migrating(&world.dir.path().join("store"))
            .expect("open the killed daemon's store");
        let intents = store.intents().expect("intents").len();
        (intents, store.inbox_len())
    };
    let daemon = world.start(NEVER);
    if unsent != usize::MAX {
        deliver(world, &daemon, unsent..range.end).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while world.sandbox.issues().await.len() - created_before < count {
        assert!(Instant::now() < deadline, "findings lost\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.until(&daemon, "idle", idle).await;
    let requests = world.sandbox.requests().await;
    let (creates, searches, _) = classify(&requests[before..]);
    one_issue_each(world, range).await;
    println!("intents.findings: {count}");
    println!("intents.issues_when_killed: {at_kill}");
    println!("intents.unfinished_create_intents_in_store_after_kill: {intents}");
    println!("intents.inbox_events_after_kill: {inbox}");
    println!("intents.backlog_creates: {creates}");
    println!("intents.backlog_searches: {searches}");
    drop(daemon);
}

/// Latency and calls of closing `keys` one at a time; `jitter` spreads the closes over the poll
/// period so they do not all land just after a poll.
async fn close_one_by_one(
    world: &World,
    daemon: &Daemon,
    label: &str,
    items: &[(usize, String)],
    jitter: Duration,
) {
    let mut latencies = Vec::new();
    let (mut backlog, mut activities, mut buf) = (0, 0, 0);
    let mut seen: Vec<Value> = Vec::new();
    for (i, (n, key)) in items.iter().enumerate() {
        let wait = jitter.mul_f64(((i * 7 + 3) % 10) as f64 / 10.0);
        tokio::time::sleep(wait).await;
        let requests_before = world.sandbox.requests().await.len();
        let buf_before = world.buf_calls(daemon).await;
        let started = Instant::now();
        world.sandbox.close(key, "Fixed").await;
        let deadline = started + Duration::from_secs(180);
        while world.buf_calls(daemon).await == buf_before {
            assert!(
                Instant::now() < deadline,
                "{key} not synced\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed());
        let finding = world
            .moto
            .finding(ACCOUNT, REGION, &DETECTOR.finding_id(*n))
            .await
            .expect("GetFindings")
            .expect("the finding");
        assert_eq!(finding["Workflow"]["Status"], "RESOLVED", "{finding}");
        // Settle: the calls of this closure, not of the next one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let requests = world.sandbox.requests().await;
        let window = &requests[requests_before..];
        backlog += window.len();
        seen.extend_from_slice(window);
        activities += window
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/activities"))
            })
            .count();
        buf += world.buf_calls(daemon).await - buf_before;
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len() as f64;
    let k = items.len() as f64;
    println!(
        "{label}.latency_ms: min {:.0} median {:.0} mean {mean:.0} max {:.0} (n={})",
        ms(latencies[0]),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1]),
        latencies.len()
    );
    println!(
        "{label}.backlog_calls_per_close: {:.1} (of which activities reads {:.1}) {}",
        backlog as f64 / k,
        activities as f64 / k,
        endpoint_counts(&seen)
    );
    println!("{label}.securityhub_calls_per_close: {:.1}", buf as f64 / k);
}

async fn closure(world: &World, findings: usize, closes: usize, poll: u64) {
    let keys_by = world.issues_by_finding().await;
    let item = |n: usize| (n, keys_by[&DETECTOR.finding_id(n)][0].clone());
    let polled: Vec<_> = (0..closes).map(item).collect();
    let hooked: Vec<_> = (closes..2 * closes).map(item).collect();
    let bulk: Vec<_> = (2 * closes..3 * closes).map(item).collect();
    assert!(3 * closes <= findings);

    // Webhooks off: polling every POLL seconds is the only way the daemon learns.
    let mut daemon = world.start(&format!("*/{poll} * * * * *"));
    world
        .until(&daemon, "the start-up poll", |s| closure_runs(s) >= 1)
        .await;
    world.sandbox.drop_webhooks(true).await;
    println!("closure.poll_interval_s: {poll}");
    close_one_by_one(
        world,
        &daemon,
        "closure.webhooks_off",
        &polled,
        Duration::from_secs(poll),
    )
    .await;
    daemon.terminate(Duration::from_secs(30)).expect("stop");

    // Webhooks on, with the default one-minute poll behind them.
    let mut daemon = world.start("0 * * * * *");
    world
        .until(&daemon, "the start-up poll", |s| closure_runs(s) >= 1)
        .await;
    world.webhook_install(&daemon);
    world.sandbox.drop_webhooks(false).await;
    close_one_by_one(
        world,
        &daemon,
        "closure.webhooks_on",
        &hooked,
        Duration::from_millis(500),
    )
    .await;

    // One bulk update closing CLOSES issues: one webhook, batched write-back.
    let requests_before = world.sandbox.requests().await.len();
    let buf_before = world.buf_calls(&daemon).await;
    let started = Instant::now();
    let keys: Vec<&String> = bulk.iter().map(|(_, k)| k).collect();
    let r = world
        .http
        .post(format!("{}/_sandbox/bulk_update", world.sandbox.base_url))
        .json(&json!({"keys": keys, "status": 4, "resolution": "Fixed", "user": "alice"}))
        .send()
        .await
        .expect("bulk update");
    assert!(r.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut remaining: Vec<usize> = bulk.iter().map(|(n, _)| *n).collect();
    while !remaining.is_empty() {
        assert!(
            Instant::now() < deadline,
            "bulk not synced\n{}",
            daemon.log()
        );
        let mut still = Vec::new();
        for n in remaining {
            let f = world
                .moto
                .finding(ACCOUNT, REGION, &DETECTOR.finding_id(n))
                .await
                .expect("GetFindings")
                .expect("the finding");
            if f["Workflow"]["Status"] != "RESOLVED" {
                still.push(n);
            }
        }
        remaining = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = world.sandbox.requests().await;
    let backlog = requests.len() - requests_before;
    let by_endpoint = endpoint_counts(&requests[requests_before..]);
    let buf = world.buf_calls(&daemon).await - buf_before;
    println!(
        "closure.bulk.issues: {} closed in one bulk update, all RESOLVED after {:.0} ms",
        bulk.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    println!(
        "closure.bulk.backlog_calls: {backlog} ({:.1} per closed issue) {by_endpoint}",
        backlog as f64 / bulk.len() as f64
    );
    println!("closure.bulk.securityhub_calls: {buf}");
    daemon.terminate(Duration::from_secs(30)).expect("stop");
}

async fn quiet_polls(world: &World) {
    let daemon = world.start("* * * * * *");
    let runs = closure_runs;
    world
        .until(&daemon, "a first poll", |s| runs(s) >= 1 && idle(s))
        .await;
    let requests_before = world.sandbox.requests().await.len();
    let runs_before = runs(&world.status(&daemon).await);
    world
        .until(&daemon, "ten more polls", |s| runs(s) >= runs_before + 10)
        .await;
    let polls = runs(&world.status(&daemon).await) - runs_before;
    let requests = world.sandbox.requests().await;
    let quiet = &requests[requests_before..];
    println!(
        "quiet.polls: {polls}, backlog calls: {} ({:.2} per poll) {}",
        quiet.len(),
        quiet.len() as f64 / polls as f64,
        others_summary(quiet)
    );
    drop(daemon);
}
