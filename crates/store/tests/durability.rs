//! Acknowledged means durable: concurrent `accept`s, a clean reopen, and a real crash (the test
//! re-runs itself as a child process that aborts mid-stream).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::DateTime;
use fb_store::{EventOrigin, InboxEvent, Store};

fn event(task: usize, n: usize) -> InboxEvent {
    InboxEvent {
        received_at: DateTime::from_timestamp(1_735_689_600 + n as i64, 0).expect("time"),
        origin: EventOrigin::Relay,
        body: format!(r#"{{"task":{task},"n":{n},"pad":"{}"}}"#, "x".repeat(64)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_all_return_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut tasks = Vec::new();
    for task in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..20 {
                acked.push((
                    store.accept(event(task, n)).await.expect("accept"),
                    event(task, n),
                ));
            }
            acked
        }));
    }
    let mut acked = BTreeMap::new();
    for t in tasks {
        acked.extend(t.await.expect("join"));
    }
    assert_eq!(
        acked.len(),
        64 * 20,
        "every accept got its own sequence number"
    );
    assert_eq!(store.inbox_len(), 64 * 20);
    drop(store);

    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.inbox_len(), 64 * 20);
    let stored: BTreeMap<_, _> = store
        .inbox_pending(usize::MAX)
        .expect("pending")
        .into_iter()
        .collect();
    assert_eq!(stored, acked);
}

const CHILD_DIR: &str = "FB_STORE_CRASH_CHILD_DIR";
const CRASH_AFTER: usize = 300;

/// Parent: runs this same test as a child that acknowledges events and aborts (no destructors,
/// no final flush) while other accepts are still in flight; every event the child reported as
/// acknowledged must be in the store afterwards.
#[test]
fn acknowledged_events_survive_a_crash() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        crash_child(&dir);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "acknowledged_events_survive_a_crash",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .output()
        .expect("run the child");
    assert!(!output.status.success(), "the child must have crashed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acked: BTreeMap<u64, (usize, usize)> = stdout
        .lines()
        .filter_map(|l| l.split_once("acked ").map(|(_, rest)| rest))
        .map(|l| {
            let v: Vec<u64> = l.split(' ').map(|x| x.parse().expect("number")).collect();
            (v[0], (v[1] as usize, v[2] as usize))
        })
        .collect();
    assert!(
        acked.len() >= CRASH_AFTER,
        "child acknowledged {} events:\n{stdout}",
        acked.len()
    );

    let store = Store::open(dir.path()).expect("reopen after the crash");
    let stored: BTreeMap<_, _> = store
        .inbox_pending(usize::MAX)
        .expect("pending")
        .into_iter()
        .collect();
    for (seq, (task, n)) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(&event(*task, *n)),
            "acknowledged event {seq} lost"
        );
    }
}

fn crash_child(dir: &str) -> ! {
    let store = Store::open(std::path::Path::new(dir)).expect("child open");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let count = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for task in 0..64 {
            let (store, count) = (store.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let seq = store.accept(event(task, n)).await.expect("accept");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {seq} {task} {n}").expect("stdout");
                    out.flush().expect("stdout");
                    if count.fetch_add(1, Ordering::SeqCst) + 1 >= CRASH_AFTER {
                        std::process::abort();
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    std::process::abort()
}
