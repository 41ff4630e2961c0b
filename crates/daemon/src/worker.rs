//! The pipeline worker: wakes when an event is accepted (and every `interval`), then drains the
//! inbox and the write-back outbox through the current engine, passing results to metrics.
//!
//! One worker per daemon, so one pass at a time; the engine itself bounds the concurrency
//! inside a pass. Must not: drop work on error — the inbox and outbox are durable, a failed
//! pass is simply retried on the next wake.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::Shared;
use crate::backend::{chain, WorkReport};

/// Runs until `stop` turns true; a pass in progress is finished first.
pub async fn run(shared: Arc<Shared>, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let Some(engine) = shared.engine() else {
            continue;
        };
        loop {
            let more = pass(&shared, engine.as_ref()).await;
            if !more || *stop.borrow() {
                break;
            }
        }
    }
}

/// One inbox pass and one write-back pass. Returns whether more work is ready now.
async fn pass(shared: &Shared, engine: &dyn crate::backend::Engine) -> bool {
    let mut more = false;
    let mut errors = Vec::new();
    match engine.process_pending().await {
        Ok(report) => {
            more |= report.more;
            record(shared, &report);
        }
        Err(e) => {
            let error = chain(e.as_ref());
            tracing::warn!(error = %error, "pipeline pass failed; retrying later");
            errors.push(format!("inbox: {error}"));
        }
    }
    match engine.flush_writebacks().await {
        Ok(report) => {
            more |= report.more;
            record(shared, &report);
        }
        Err(e) => {
            let error = chain(e.as_ref());
            tracing::warn!(error = %error, "write-back pass failed; retrying later");
            errors.push(format!("write-back: {error}"));
        }
    }
    shared.queues();
    let now = shared.clock.now();
    shared.board.task("worker", |t| {
        t.state = "running".into();
        t.runs += 1;
        t.last_run_at = Some(now);
        t.last_error = (!errors.is_empty()).then(|| errors.join("; "));
    });
    more
}

fn record(shared: &Shared, r: &WorkReport) {
    let m = &shared.metrics;
    m.issues_created.inc_by(r.issues_created);
    m.duplicates_absorbed.inc_by(r.duplicates_absorbed);
    m.writeback("done", r.writebacks_done);
    m.writeback("failed", r.writebacks_failed);
    m.writeback("retrying", r.writebacks_retrying);
    if r.events > 0 || r.writebacks_done > 0 {
        tracing::info!(
            events = r.events,
            issues_created = r.issues_created,
            duplicates_absorbed = r.duplicates_absorbed,
            writebacks_done = r.writebacks_done,
            writebacks_failed = r.writebacks_failed,
            "pipeline pass"
        );
    }
}
