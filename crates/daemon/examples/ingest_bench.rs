//! Benchmark (not a test): acknowledged `POST /v1/events` throughput and latency with 64
//! concurrent connections on loopback, next to a server that answers 202 and does nothing
//! (the ceiling of this HTTP stack and load generator on the same cores).
//!
//! `cargo run --release -p fb-daemon --example ingest_bench [-- EVENTS CONNECTIONS]`
//! (defaults 50000 and 64). The daemon runs in-process with its real intake (auth, parse, rule
//! match, group-committed durable accept into a sled store in a temporary directory) and an
//! engine that leaves the inbox alone, so only intake is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fb_daemon::backend::{Backend, BoxError, Engine, WorkReport};
use fb_daemon::metrics::Metrics;
use fb_daemon::runtime::Runtime;
use fb_daemon::status::PlaceStatus;
use futures::future::BoxFuture;

struct Idle;

impl Engine for Idle {
    fn process_pending(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async { Ok(WorkReport::default()) })
    }
    fn flush_writebacks(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async { Ok(WorkReport::default()) })
    }
    fn backfill(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(async { Ok(String::new()) })
    }
    fn reconcile(&self) -> BoxFuture<'_, Result<Vec<PlaceStatus>, BoxError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

struct IdleBackend;

impl Backend for IdleBackend {
    fn prepare(
        &self,
        _runtime: Arc<Runtime>,
        _store: fb_store::Store,
        _metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        Box::pin(async { Ok(Arc::new(Idle) as Arc<dyn Engine>) })
    }
}

const KEY: &str = "bench-ingest-key-0123456789";

fn config(store: &std::path::Path) -> String {
    format!(
        r#"version: 1
name: bench
accounts:
  ids: ["111111111111"]
  role: FindingsBridgeExecution
  regions: [us-east-1]
security_hub:
  account: "111111111111"
  region: us-east-1
backlog:
  base_url: http://127.0.0.1:9
  api_key: env:FB_BENCH_BACKLOG_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
relay:
  public_url: http://127.0.0.1:8080
  api_key: env:FB_BENCH_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
    rate_limit_per_second: 2
    issue:
      summary: "<Title>"
      description: "<Description>"
server:
  listen: "127.0.0.1:0"
store:
  path: {}
schedules:
  reconcile: "0 0 0 1 1 * 2099"
  closure_sync: "0 0 0 1 1 * 2099"
  backfill: "0 0 0 1 1 * 2099"
"#,
        store.display()
    )
}

/// A ~3 KB ASFF event (the size DESIGN §5 measured with).
fn event(n: usize) -> String {
    let finding = serde_json::json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/{n:08}"),
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "ProductName": "GuardDuty",
        "GeneratorId": "arn:aws:guardduty:us-east-1:111111111111:detector/d",
        "AwsAccountId": "111111111111",
        "Region": "us-east-1",
        "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        "CreatedAt": "2026-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": "Unprotected port on EC2 instance is being probed",
        "Description": "x".repeat(2200),
        "Resources": [{"Type": "AwsEc2Instance", "Id": "i-0123456789abcdef0"}],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    });
    fb_model::finding::asff_event(finding, &format!("e{n}"), "2026-01-01T00:00:00Z").to_string()
}

struct Run {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn print(&self, name: &str) {
        let mut l = self.latencies.clone();
        l.sort();
        let p = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
        println!(
            "{name:<28} {:>8.0} events/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} events in {:.2} s)",
            self.events as f64 / self.elapsed.as_secs_f64(),
            p(0.50).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            self.events,
            self.elapsed.as_secs_f64()
        );
    }
}

async fn load(url: &str, bodies: Arc<Vec<String>>, connections: usize) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, url, bodies, next) =
            (client.clone(), url.to_owned(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return latencies;
                };
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-api-key", KEY)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 202);
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r.unwrap());
    }
    Run {
        events: bodies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    std::env::set_var("FB_BENCH_INGEST_KEY", KEY);
    std::env::set_var("FB_BENCH_BACKLOG_KEY", "bench-backlog-key");
    let bodies = Arc::new((0..events).map(event).collect::<Vec<_>>());

    // The ceiling: a server that answers 202 and does nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let nothing = axum::Router::new().route(
        "/v1/events",
        axum::routing::post(|| async { axum::http::StatusCode::ACCEPTED }),
    );
    tokio::spawn(async move { axum::serve(listener, nothing).await });
    let ceiling = load(
        &format!("http://{addr}/v1/events"),
        bodies.clone(),
        connections,
    )
    .await;

    // The daemon.
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("bench.yaml");
    std::fs::write(&config_path, config(&dir.path().join("store"))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = fb_daemon::Options {
        watch_config: false,
        ..fb_daemon::Options::default()
    };
    let daemon = tokio::spawn(async move {
        fb_daemon::serve(
            &config_path,
            listener,
            async move {
                let _ = stopped.await;
            },
            Arc::new(IdleBackend),
            options,
        )
        .await
    });
    let measured = load(&format!("http://{addr}/v1/events"), bodies, connections).await;
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();

    println!("{connections} connections, ~{} byte events", event(0).len());
    ceiling.print("do-nothing 202 server");
    measured.print("daemon (durable accept)");
}
