//! The scheduler: runs named jobs on cron schedules (with seconds), one loop per job.
//!
//! Promises: a job never overlaps itself (its loop awaits each run); a slow job delays its next
//! run instead of piling up (the next fire time is computed after the run ends); a job can be
//! triggered out of schedule (a config reload triggers `reconcile`), and triggers arriving during
//! a run coalesce into one more run; every run is recorded (start, duration, result, error).
//!
//! Time comes from a [`Clock`] so tests drive the scheduler with `tokio::time::pause` instead
//! of sleeping. Must not: know what the jobs do.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Where "now" comes from.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time derived from tokio's clock: `base` plus the tokio time elapsed since creation.
/// Under `tokio::time::pause` it advances exactly as the runtime's timers do.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed();
        self.base + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::zero())
    }
}

/// What one run of a job returns: a short summary on success, the error chain as text on failure.
pub type JobResult = Result<String, String>;

/// A job body. Called once per run; the future it returns is the run.
pub type JobFn = Arc<dyn Fn() -> BoxFuture<'static, JobResult> + Send + Sync>;

/// Called after each run with (job name, duration, succeeded) — the metrics hook.
pub type RunObserver = Arc<dyn Fn(&str, Duration, bool) + Send + Sync>;

/// One scheduled job.
#[derive(Clone)]
pub struct JobSpec {
    pub name: String,
    pub schedule: cron::Schedule,
    /// Run once as soon as the scheduler starts (backfill does).
    pub run_at_start: bool,
    pub run: JobFn,
}

impl fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("name", &self.name)
            .field("schedule", &self.schedule.source())
            .field("run_at_start", &self.run_at_start)
            .finish_non_exhaustive()
    }
}

/// A cron expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("schedule for job {job} is not a valid cron expression ({expression:?})")]
pub struct ScheduleError {
    pub job: String,
    pub expression: String,
    #[source]
    pub source: cron::error::Error,
}

impl JobSpec {
    pub fn new(
        name: impl Into<String>,
        expression: &str,
        run_at_start: bool,
        run: JobFn,
    ) -> Result<Self, ScheduleError> {
        let name = name.into();
        let schedule = expression
            .parse::<cron::Schedule>()
            .map_err(|source| ScheduleError {
                job: name.clone(),
                expression: expression.to_owned(),
                source,
            })?;
        Ok(JobSpec {
            name,
            schedule,
            run_at_start,
            run,
        })
    }
}

/// The last known state of one job, as shown in status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    pub running: bool,
    pub last_start: Option<DateTime<Utc>>,
    pub last_duration_ms: Option<u64>,
    /// `ok` or `failed`.
    pub last_result: Option<String>,
    pub last_summary: Option<String>,
    pub last_error: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub runs: u64,
    pub failures: u64,
}

/// Shared, readable records of every job (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct JobRecords(Arc<Mutex<BTreeMap<String, JobRecord>>>);

impl JobRecords {
    pub fn snapshot(&self) -> BTreeMap<String, JobRecord> {
        self.lock().clone()
    }

    pub fn get(&self, job: &str) -> Option<JobRecord> {
        self.lock().get(job).cloned()
    }

    fn update(&self, job: &str, f: impl FnOnce(&mut JobRecord)) {
        f(self.lock().entry(job.to_owned()).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JobRecord>> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs jobs until stopped. Created with [`Scheduler::new`], started with [`Scheduler::start`].
pub struct Scheduler {
    jobs: Vec<JobSpec>,
    clock: Arc<dyn Clock>,
    records: JobRecords,
    triggers: BTreeMap<String, Arc<Notify>>,
    observer: Option<RunObserver>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// A handle to trigger jobs out of schedule and to stop the scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerHandle {
    triggers: BTreeMap<String, Arc<Notify>>,
    stop: watch::Sender<bool>,
    records: JobRecords,
}

impl SchedulerHandle {
    /// Asks `job` to run as soon as it is not running. Returns false for an unknown job.
    pub fn trigger(&self, job: &str) -> bool {
        match self.triggers.get(job) {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn records(&self) -> &JobRecords {
        &self.records
    }

    /// Stops every job loop; a run in progress is abandoned.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Scheduler {
    pub fn new(jobs: Vec<JobSpec>, clock: Arc<dyn Clock>) -> Self {
        let triggers = jobs
            .iter()
            .map(|j| (j.name.clone(), Arc::new(Notify::new())))
            .collect();
        Scheduler {
            jobs,
            clock,
            records: JobRecords::default(),
            triggers,
            observer: None,
        }
    }

    /// Keeps recording into `records` (a scheduler rebuilt on reload keeps the history).
    pub fn with_records(mut self, records: JobRecords) -> Self {
        self.records = records;
        self
    }

    pub fn with_observer(mut self, observer: RunObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn records(&self) -> JobRecords {
        self.records.clone()
    }

    /// Spawns one loop per job. The returned set finishes when the handle's `stop` is called.
    pub fn start(self) -> (SchedulerHandle, JoinSet<()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut set = JoinSet::new();
        for job in self.jobs {
            let trigger = self.triggers[&job.name].clone();
            let job_loop = JobLoop {
                job,
                clock: self.clock.clone(),
                records: self.records.clone(),
                trigger,
                stop: stop_rx.clone(),
                observer: self.observer.clone(),
            };
            set.spawn(job_loop.run());
        }
        let handle = SchedulerHandle {
            triggers: self.triggers,
            stop: stop_tx,
            records: self.records,
        };
        (handle, set)
    }
}

struct JobLoop {
    job: JobSpec,
    clock: Arc<dyn Clock>,
    records: JobRecords,
    trigger: Arc<Notify>,
    stop: watch::Receiver<bool>,
    observer: Option<RunObserver>,
}

impl JobLoop {
    async fn run(mut self) {
        if self.job.run_at_start && !self.run_once().await {
            return;
        }
        // The last fire time we acted on: never fire the same instant twice even if the wall
        // clock is slightly behind the timer that woke us.
        let mut last_fire: Option<DateTime<Utc>> = None;
        loop {
            let now = self.clock.now();
            let from = match last_fire {
                Some(t) if t > now => t,
                _ => now,
            };
            let next = self.job.schedule.after(&from).next();
            self.records.update(&self.job.name, |r| r.next_run = next);
            let wait = next
                .map(|n| (n - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::MAX);
            tokio::select! {
                _ = tokio::time::sleep(wait), if next.is_some() => last_fire = next,
                _ = self.trigger.notified() => {}
                _ = self.stop.changed() => return,
            }
            if *self.stop.borrow() || !self.run_once().await {
                return;
            }
        }
    }

    /// One run, recorded. Returns false when the scheduler was stopped during the run.
    async fn run_once(&mut self) -> bool {
        let name = self.job.name.clone();
        let started_at = self.clock.now();
        let started = tokio::time::Instant::now();
        self.records.update(&name, |r| {
            r.running = true;
            r.last_start = Some(started_at);
        });
        tracing::debug!(job = %name, "job started");
        let run = (self.job.run)();
        let result = tokio::select! {
            result = run => result,
            _ = self.stop.changed() => {
                self.records.update(&name, |r| r.running = false);
                tracing::info!(job = %name, "job abandoned: stopping");
                return false;
            }
        };
        let duration = started.elapsed();
        self.record(&name, duration, result);
        true
    }

    fn record(&self, name: &str, duration: Duration, result: JobResult) {
        let ok = result.is_ok();
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(summary) => {
                tracing::info!(job = %name, duration_ms, summary = %summary, "job finished")
            }
            Err(error) => tracing::warn!(job = %name, duration_ms, error = %error, "job failed"),
        }
        self.records.update(name, |r| {
            r.running = false;
            r.last_duration_ms = Some(duration_ms);
            r.runs += 1;
            match result {
                Ok(summary) => {
                    r.last_result = Some("ok".into());
                    r.last_summary = Some(summary);
                    r.last_error = None;
                }
                Err(error) => {
                    r.last_result = Some("failed".into());
                    r.last_summary = None;
                    r.last_error = Some(error);
                    r.failures += 1;
                }
            }
        });
        if let Some(observer) = &self.observer {
            observer(name, duration, ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn base() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    /// A job that sleeps `secs` (tokio time), records its start times and its concurrency.
    fn slow_job(
        clock: TokioClock,
        secs: u64,
        starts: Arc<Mutex<Vec<i64>>>,
        in_flight: Arc<AtomicUsize>,
        max_in_flight: Arc<AtomicUsize>,
    ) -> JobFn {
        Arc::new(move || {
            let starts = starts.clone();
            let in_flight = in_flight.clone();
            let max_in_flight = max_in_flight.clone();
            Box::pin(async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                starts
                    .lock()
                    .unwrap()
                    .push((clock.now() - base()).num_seconds());
                tokio::time::sleep(Duration::from_secs(secs)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(format!("slept {secs}s"))
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn slow_job_never_overlaps_and_delays_its_next_run() {
        let clock = TokioClock::new(base());
        let starts = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let job = JobSpec::new(
            "reconcile",
            "*/10 * * * * *",
            false,
            slow_job(clock, 25, starts.clone(), in_flight, max_in_flight.clone()),
        )
        .unwrap();
        let (handle, mut set) = Scheduler::new(vec![job], Arc::new(clock)).start();

        tokio::time::sleep(Duration::from_secs(90)).await;
        handle.stop();
        while set.join_next().await.is_some() {}

        // Fires at 10 (runs to 35), then the first slot after 35 is 40 (to 65), then 70 (to 95).
        assert_eq!(*starts.lock().unwrap(), vec![10, 40, 70]);
        assert_eq!(max_in_flight.load(Ordering::SeqCst), 1);
        let rec = handle.records().get("reconcile").unwrap();
        assert_eq!(rec.runs, 2, "the third run was still going when stopped");
        assert_eq!(rec.last_duration_ms, Some(25_000));
        assert_eq!(rec.last_result.as_deref(), Some("ok"));
        assert_eq!(rec.last_summary.as_deref(), Some("slept 25s"));
        assert!(!rec.running, "an abandoned run is not shown as running");
    }

    #[tokio::test(start_paused = true)]
    async fn run_at_start_and_failures_are_recorded() {
        let clock = TokioClock::new(base());
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let job: JobFn = Arc::new(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Err("GetFindings: throttled".to_owned())
                } else {
                    Ok("fed 3 findings".to_owned())
                }
            })
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let observer: RunObserver = Arc::new(move |name: &str, d: Duration, ok: bool| {
            s.lock().unwrap().push((name.to_owned(), d, ok));
        });
        let spec = JobSpec::new("backfill", "0 30 * * * *", true, job).unwrap();
        let (handle, mut set) = Scheduler::new(vec![spec], Arc::new(clock))
            .with_observer(observer)
            .start();

        tokio::time::sleep(Duration::from_secs(1)).await;
        let rec = handle.records().get("backfill").unwrap();
        assert_eq!((rec.runs, rec.failures), (1, 1));
        assert_eq!(rec.last_error.as_deref(), Some("GetFindings: throttled"));
        assert_eq!(
            rec.next_run,
            Some("2026-01-01T00:30:00Z".parse().unwrap()),
            "after the start-up run the job waits for its schedule"
        );

        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        let rec = handle.records().get("backfill").unwrap();
        assert_eq!((rec.runs, rec.failures), (2, 1));
        assert_eq!(rec.last_result.as_deref(), Some("ok"));
        assert_eq!(rec.last_error, None);
        assert_eq!(
            rec.last_start,
            Some("2026-01-01T00:30:00Z".parse().unwrap())
        );
        handle.stop();
        while set.join_next().await.is_some() {}
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "backfill");
        assert!(!seen[0].2 && seen[1].2);
    }

    #[tokio::test(start_paused = true)]
    async fn triggers_run_out_of_schedule_and_coalesce() {
        let clock = TokioClock::new(base());
        let starts = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        // Hourly: without triggers it would not run in the first minutes.
        let job = JobSpec::new(
            "reconcile",
            "0 0 * * * *",
            false,
            slow_job(clock, 5, starts.clone(), in_flight, max_in_flight.clone()),
        )
        .unwrap();
        let (handle, mut set) = Scheduler::new(vec![job], Arc::new(clock)).start();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(handle.trigger("reconcile"));
        assert!(!handle.trigger("no-such-job"));
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Two triggers while the run is going: one more run afterwards, not two.
        handle.trigger("reconcile");
        handle.trigger("reconcile");
        tokio::time::sleep(Duration::from_secs(60)).await;
        handle.stop();
        while set.join_next().await.is_some() {}
        assert_eq!(*starts.lock().unwrap(), vec![1, 6]);
        assert_eq!(max_in_flight.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn bad_expression_names_the_job() {
        let job: JobFn = Arc::new(|| Box::pin(async { Ok(String::new()) }));
        let err = JobSpec::new("backfill", "every hour", false, job).unwrap_err();
        assert!(err.to_string().contains("backfill"), "{err}");
    }
}
