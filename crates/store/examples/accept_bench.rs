//! Benchmark, not a test: `cargo run --release -p fb-store --example accept_bench [-- EVENTS MAPPINGS]`.
//!
//! 1. Acknowledged `accept` throughput and latency (p50/p99) with 64 concurrent tasks writing
//!    ~3 KB events to a store on disk (group commit: every `accept` returns only once durable).
//! 2. Resident memory (VmRSS) of a process holding 1,000,000 mappings: after writing them, and
//!    after reopening the store and reading every one (a daemon's steady state).
//!
//! Defaults: 200,000 events, 1,000,000 mappings. The store lives in a temporary directory
//! (set TMPDIR to choose the disk). Numbers depend on the machine; report them with its cores.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fb_store::{EventOrigin, FindingFormat, InboxEvent, IssueStatus, Mapping, Store};

const TASKS: usize = 64;

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--open-only") {
        return open_only(Path::new(&raw[1]));
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("EVENTS and MAPPINGS are numbers"))
        .collect();
    let events = args.first().copied().unwrap_or(200_000);
    let mappings = args.get(1).copied().unwrap_or(1_000_000);
    println!("rss at start: {}", rss());
    accept_throughput(events);
    mapping_memory(mappings);
}

fn accept_throughput(total: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = Arc::new(format!(r#"{{"detail":{{"pad":"{}"}}}}"#, "x".repeat(3000)));
    let started = Instant::now();
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (store, body) = (store.clone(), body.clone());
            let share = total / TASKS + usize::from(task < total % TASKS);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for _ in 0..share {
                    let event = InboxEvent {
                        received_at: Utc::now(),
                        origin: EventOrigin::Relay,
                        body: body.to_string(),
                    };
                    let t = Instant::now();
                    store.accept(event).await.expect("accept");
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::with_capacity(total);
        for t in tasks {
            all.extend(t.await.expect("join"));
        }
        all
    });
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "accept: {total} events × ~3 KB, {TASKS} tasks: {:.0} acknowledged/s, p50 {:?}, p99 {:?}, \
         {} flushes ({:.1} events per flush)",
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        store.flush_count(),
        total as f64 / store.flush_count().max(1) as f64
    );
}

fn mapping_memory(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let write_started = Instant::now();
    {
        let store = Store::open(dir.path()).expect("open");
        let now = Utc::now();
        for n in 0..count {
            store.put_mapping(&mapping(n, now)).expect("put");
        }
        println!(
            "mappings: wrote {count} in {:?}; rss {}; on disk {} MiB",
            write_started.elapsed(),
            rss(),
            store.size_on_disk().expect("size") / (1024 * 1024)
        );
    }
    // A fresh process, like a daemon starting on this store: memory freed by the writer above
    // must not count.
    let status = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--open-only")
        .arg(dir.path())
        .status()
        .expect("run the reader");
    assert!(status.success());
}

fn open_only(dir: &Path) {
    let open_started = Instant::now();
    let store = Store::open(dir).expect("reopen");
    println!(
        "mappings (new process): opened {} in {:?}; rss {}",
        store.mapping_count(),
        open_started.elapsed(),
        rss()
    );
    let read_started = Instant::now();
    let read = store.mappings().filter(Result::is_ok).count();
    let sample = store
        .mapping_by_finding_id(&format!("id-{}", read / 2))
        .expect("lookup");
    assert!(sample.is_some());
    println!(
        "mappings (new process): read {read} in {:?}; rss {} (target: under 200 MiB)",
        read_started.elapsed(),
        rss()
    );
}

fn mapping(n: usize, now: chrono::DateTime<Utc>) -> Mapping {
    let arn = format!(
        "arn:aws:guardduty:ap-northeast-1:{:012}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{n:032x}",
        n % 1000
    );
    Mapping {
        finding_key: arn.clone(),
        finding_id: format!("id-{n}"),
        product_arn: Some("arn:aws:securityhub:ap-northeast-1::product/aws/guardduty".into()),
        metadata_uid: None,
        format: FindingFormat::Asff,
        account: format!("{:012}", n % 1000),
        region: "ap-northeast-1".into(),
        rule: "guardduty".into(),
        title: "EC2 instance is communicating with a known command and control server".into(),
        issue_key: Some(format!("SEC-{}", n + 1)),
        issue_id: Some(n as u64 + 1),
        issue_status: IssueStatus::Open,
        severity: "HIGH".into(),
        record_state: "ACTIVE".into(),
        workflow_status: "NOTIFIED".into(),
        workflow_written: Some("NOTIFIED".into()),
        finding_updated_at: Some("2025-01-01T00:00:00.000Z".into()),
        seen_count: 1,
        created_at: now,
        updated_at: now,
    }
}

/// This process's resident set size, from /proc (Linux).
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
