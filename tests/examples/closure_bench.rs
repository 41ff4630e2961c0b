//! Closure sync benchmark (issue 4, "Performance"): the real `findings-bridge` binary with moto
//! and backlog-sandbox on this machine.
//!
//! For webhooks on (closure poll once a minute, so the webhook is what acts) and off (dropped,
//! poll every 5 s) it closes issues one at a time and measures the time from the close to the
//! finding's Workflow RESOLVED in Security Hub; it counts Backlog calls per closed issue (from
//! the sandbox's request log), BatchUpdateFindings calls (the daemon's metrics), and Backlog
//! calls per poll when nothing changed. Prints a markdown table.
//!
//! Run: `cargo build --bins && cargo run -p fb-e2e --example closure_bench [-- CLOSES]`.
//! Must not: be read as a test (it asserts nothing beyond the run completing).

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_securityhub::types::WorkflowStatus;
use fb_e2e::daemon::Daemon;
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::sandbox::Sandbox;
use fb_e2e::scenario::{batch_import, daemon_env, Detector, Secrets, ACCOUNT, REGION};
use serde_json::Value;

const INGEST_KEY: &str = "bench-closure-ingest-key-7Tq1";
const TOKEN: &str = "bench-closure-webhook-token-3Lp9";

const DETECTOR: Detector = Detector {
    name: "bench",
    id_prefix: "closure",
    digits: 4,
};

fn config(backlog: &str, store: &std::path::Path, closure_sync: &str) -> String {
    format!(
        r#"version: 1
name: bench
accounts: {{ids: ["{ACCOUNT}"], role: FindingsBridgeExecution, regions: [{REGION}]}}
security_hub: {{account: "{ACCOUNT}", region: {REGION}}}
backlog:
  base_url: {backlog}
  api_key: env:FB_BENCH_BACKLOG_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
  webhook_token: env:FB_BENCH_WEBHOOK_TOKEN
relay: {{public_url: "http://127.0.0.1:8080", api_key: env:FB_BENCH_INGEST_KEY}}
rules:
  - name: guardduty
    match: {{product_names: [GuardDuty]}}
    issue: {{summary: "<FindingType>", description: "<Title>"}}
server: {{listen: "127.0.0.1:0"}}
store: {{path: {store}}}
schedules: {{reconcile: "0 0 0 1 1 * 2099", backfill: "0 0 0 1 1 * 2099", closure_sync: "{closure_sync}"}}
"#,
        store = store.display()
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn metric(http: &reqwest::Client, base: &str, needle: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Run {
    label: &'static str,
    latencies: Vec<Duration>,
    issue_reads: usize,
    activity_reads: usize,
    other_backlog: usize,
    batch_calls: f64,
}

fn main() {
    let closes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    block_on(move || async move {
        let moto = Moto::start().unwrap();
        let sandbox = Sandbox::start_with(&["--rate-read", "100000", "--rate-update", "100000"]);
        moto.create_execution_role(ACCOUNT, "FindingsBridgeExecution")
            .await
            .unwrap();
        let total = closes * 2;
        batch_import(
            &moto,
            DETECTOR.sdk_findings(total, WorkflowStatus::Notified),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.yaml");
        let secrets = Secrets {
            backlog_key: &sandbox.api_key,
            ingest_key: INGEST_KEY,
            webhook_token: Some(TOKEN),
        };
        let env = daemon_env(&moto, "FB_BENCH", secrets, None);
        let http = reqwest::Client::new();
        let store = dir.path().join("store");
        let mut runs = Vec::new();
        let mut keys = Vec::new();
        for (label, schedule, webhooks) in [
            ("webhooks on (poll every 60 s)", "0 * * * * *", true),
            ("webhooks dropped (poll every 5 s)", "*/5 * * * * *", false),
        ] {
            std::fs::write(&path, config(&sandbox.base_url, &store, schedule)).unwrap();
            let mut daemon = Daemon::start(&path, &env).unwrap();
            if keys.is_empty() {
                for n in 0..total {
                    let body = DETECTOR.event(n, &format!("bench-{n}"));
                    http.post(format!("{}/v1/events", daemon.base_url))
                        .header("x-api-key", INGEST_KEY)
                        .body(body.to_string())
                        .send()
                        .await
                        .unwrap();
                }
                while keys.len() < total {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    keys = sandbox
                        .issues()
                        .await
                        .iter()
                        .map(|i| {
                            let d = i["description"].as_str().unwrap_or_default();
                            let marker = fb_model::template::find_marker(d).unwrap_or_default();
                            (
                                marker.to_owned(),
                                i["issueKey"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect();
                }
                keys.sort();
            }
            // Let write-backs and the start-up poll settle.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let status = Command::new(fb_e2e::bin_path("findings-bridge"))
                .args([
                    "backlog",
                    "webhook",
                    "install",
                    "--url",
                    &daemon.base_url,
                    "-c",
                ])
                .arg(&path)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .output()
                .unwrap();
            assert!(status.status.success());
            sandbox.drop_webhooks(!webhooks).await;
            let before = sandbox.requests().await.len();
            let batch_before =
                metric(&http, &daemon.base_url, "securityhub:BatchUpdateFindings").await;
            let offset = if webhooks { 0 } else { closes };
            let mut latencies = Vec::new();
            for (id, key) in keys.iter().skip(offset).take(closes) {
                sandbox.close(key, "Fixed").await;
                let started = Instant::now();
                loop {
                    let f: Value = moto.finding(ACCOUNT, REGION, id).await.unwrap().unwrap();
                    if f["Workflow"]["Status"] == "RESOLVED" {
                        break;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "{id} not resolved"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                latencies.push(started.elapsed());
            }
            let requests = sandbox.requests().await;
            let window = &requests[before..];
            let path_of = |r: &Value| r["path"].as_str().unwrap_or_default().to_owned();
            let issue_reads = window
                .iter()
                .filter(|r| r["method"] == "GET" && path_of(r).contains("/issues/"))
                .count();
            let activity_reads = window
                .iter()
                .filter(|r| path_of(r).ends_with("/activities"))
                .count();
            let batch_calls = metric(&http, &daemon.base_url, "securityhub:BatchUpdateFindings")
                .await
                - batch_before;
            latencies.sort();
            runs.push(Run {
                label,
                latencies,
                issue_reads,
                activity_reads,
                other_backlog: window.len() - issue_reads - activity_reads,
                batch_calls,
            });
            daemon.terminate(Duration::from_secs(30)).unwrap();
        }

        // Calls per poll when nothing changed: poll every second for a while.
        std::fs::write(&path, config(&sandbox.base_url, &store, "* * * * * *")).unwrap();
        let daemon = Daemon::start(&path, &env).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let runs_of = |s: &Value| s["jobs"]["closure_sync"]["runs"].as_u64().unwrap_or(0);
        let status = |http: reqwest::Client, base: String| async move {
            http.get(format!("{base}/v1/status"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let before_runs = runs_of(&status(http.clone(), daemon.base_url.clone()).await);
        let before = sandbox.requests().await.len();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let polls = runs_of(&status(http.clone(), daemon.base_url.clone()).await) - before_runs;
        let quiet = sandbox.requests().await.len() - before;

        println!("| closure sync ({closes} closes, one at a time) | p50 | p95 | max | Backlog issue reads / close | activities reads | other Backlog calls | BatchUpdateFindings calls / close |");
        println!("|---|---|---|---|---|---|---|---|");
        for r in &runs {
            println!(
                "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {} | {} | {:.2} |",
                r.label,
                percentile(&r.latencies, 0.5).as_secs_f64() * 1000.0,
                percentile(&r.latencies, 0.95).as_secs_f64() * 1000.0,
                r.latencies.last().unwrap().as_secs_f64() * 1000.0,
                r.issue_reads as f64 / closes as f64,
                r.activity_reads,
                r.other_backlog,
                r.batch_calls / closes as f64,
            );
        }
        println!();
        println!(
            "quiet: {quiet} Backlog call(s) in {polls} poll(s) = {:.2} per poll",
            quiet as f64 / polls.max(1) as f64
        );
    });
}
