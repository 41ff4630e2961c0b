//! Background supervision: prepare the engine (retrying while Backlog is unreachable or a name
//! does not resolve — `/readyz` shows why), then run the scheduled jobs until stopped. Also the
//! request trace layer, which must not log URIs (the webhook path carries its token).
//!
//! Must not: decide what a job does beyond calling the engine and recording its outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::Request;
use tokio::sync::watch;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;

use crate::app::Shared;
use crate::backend::{chain, Backend};
use crate::schedule::{JobFn, JobRecords, JobSpec, Scheduler};
use crate::status::condition;

const MAX_PREPARE_RETRY: Duration = Duration::from_secs(300);

/// Prepares the first engine, then runs the scheduler until `stop`.
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    backend: Arc<dyn Backend>,
    first_retry: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = first_retry;
    let engine = loop {
        let runtime = shared.runtime.current();
        let prepared = tokio::select! {
            r = backend.prepare(runtime, shared.store.clone(), shared.metrics.clone()) => r,
            _ = stop.changed() => return,
        };
        match prepared {
            Ok(engine) => break engine,
            Err(e) => {
                let reason = chain(e.as_ref());
                shared.board.task("engine", |t| {
                    t.state = "preparing".into();
                    t.runs += 1;
                    t.last_error = Some(reason.clone());
                });
                tracing::warn!(error = %reason, retry_in_seconds = delay.as_secs(), "cannot prepare Backlog and AWS clients yet");
                shared.readiness.pending(condition::BACKLOG, reason);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
                delay = (delay * 2).min(MAX_PREPARE_RETRY);
            }
        }
    };
    shared.set_engine(engine);
    shared.readiness.met(condition::BACKLOG);
    let now = shared.clock.now();
    shared.board.task("engine", |t| {
        t.state = "ready".into();
        t.runs += 1;
        t.last_run_at = Some(now);
        t.last_error = None;
    });
    tracing::info!("ready");

    let records = JobRecords::default();
    let mut rescheduled = false;
    loop {
        // Built from the current config: a reload that changes `schedules` rebuilds it.
        let scheduler = Scheduler::new(jobs(&shared, !rescheduled), shared.clock.clone())
            .with_records(records.clone())
            .with_observer({
                let metrics = shared.metrics.clone();
                Arc::new(move |job: &str, d: Duration, ok: bool| metrics.job_finished(job, d, ok))
            });
        let (handle, mut set) = scheduler.start();
        shared.set_scheduler(handle.clone());
        if rescheduled {
            // The reload that changed the schedules asks for a reconcile like any other.
            handle.trigger("reconcile");
        }
        let stopping = tokio::select! {
            _ = stop.wait_for(|v| *v) => true,
            _ = shared.reschedule.notified() => false,
        };
        handle.stop();
        while set.join_next().await.is_some() {}
        if stopping {
            return;
        }
        tracing::info!("schedules changed: scheduler rebuilt");
        rescheduled = true;
    }
}

/// The scheduled jobs from `schedules` (`closure_sync` only when the engine has closure sync).
/// Jobs that run at start do so only in the first scheduler of the process: a scheduler
/// rebuilt by a reload keeps to its schedule (the reload triggers its own reconcile).
fn jobs(shared: &Arc<Shared>, first_start: bool) -> Vec<JobSpec> {
    let schedules = shared.runtime.current().config.schedules.clone();
    let mut jobs = Vec::new();
    for (name, expression, at_start, run) in [
        (
            "reconcile",
            &schedules.reconcile,
            // At start too: a file changed (or a key rotated) while the daemon was stopped
            // takes effect now, not at the next scheduled run.
            true,
            reconcile_job(shared),
        ),
        ("backfill", &schedules.backfill, true, backfill_job(shared)),
        (
            "closure_sync",
            &schedules.closure_sync,
            true,
            crate::closure::job(shared),
        ),
    ] {
        if name == "closure_sync" && shared.engine().and_then(|e| e.closure()).is_none() {
            // This engine has no closure sync: no job rather than a fake success.
            continue;
        }
        match JobSpec::new(name, expression, at_start && first_start, run) {
            Ok(job) => jobs.push(job),
            // The loader validated the expression; this only guards a cron crate mismatch.
            Err(e) => tracing::error!(error = %chain(&e), "job not scheduled"),
        }
    }
    jobs
}

fn reconcile_job(shared: &Arc<Shared>) -> JobFn {
    let shared = shared.clone();
    Arc::new(move || {
        let shared = shared.clone();
        Box::pin(async move {
            let engine = shared.engine().ok_or("the engine is not ready")?;
            let places = engine.reconcile().await.map_err(|e| chain(e.as_ref()))?;
            for p in &places {
                shared.metrics.set_drift(&p.account, &p.region, p.drift);
            }
            let failed: Vec<String> = places
                .iter()
                .filter(|p| p.result == "failed")
                .map(|p| {
                    format!(
                        "{} {}: {}",
                        p.account,
                        p.region,
                        p.error.as_deref().unwrap_or("failed")
                    )
                })
                .collect();
            let drift: usize = places.iter().map(|p| p.drift).sum();
            let total = places.len();
            shared.board.set_places(places);
            if failed.is_empty() {
                Ok(format!("{total} account × region(s), {drift} change(s)"))
            } else {
                Err(format!(
                    "{} of {total} account × region(s) failed: {}",
                    failed.len(),
                    failed.join("; ")
                ))
            }
        })
    })
}

fn backfill_job(shared: &Arc<Shared>) -> JobFn {
    let shared = shared.clone();
    Arc::new(move || {
        let shared = shared.clone();
        Box::pin(async move {
            let engine = shared.engine().ok_or("the engine is not ready")?;
            let mut summary = engine.backfill().await.map_err(|e| chain(e.as_ref()))?;
            // The findings behind tracked issues too: lifecycle changes whose events were lost.
            if let Some(closure) = engine.closure() {
                let recheck = closure.recheck_findings().await.map_err(|e| chain(&e))?;
                summary = format!("{summary}; {}", recheck.summary());
            }
            shared.wake.notify_one();
            Ok(summary)
        })
    })
}

/// Logs each request with its method and matched route — never the URI, which may carry the
/// webhook token.
pub(crate) fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    impl Fn(&Request<axum::body::Body>) -> tracing::Span + Clone,
> {
    TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| "(unmatched)".to_owned());
        tracing::debug_span!("http", method = %req.method(), route = %route)
    })
}
