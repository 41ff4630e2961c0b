//! The state every part of the running daemon shares: the current config and engine, the
//! store, metrics, status, readiness, and the wake-up for the pipeline worker.
//!
//! Must not: do work itself; tasks (worker, scheduler, reload) and handlers do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fb_store::Store;
use serde::Serialize;
use tokio::sync::Notify;

use crate::backend::Engine;
use crate::metrics::Metrics;
use crate::runtime::RuntimeCell;
use crate::schedule::{Clock, JobRecords, SchedulerHandle};
use crate::status::{Counters, QueueStatus, Readiness, StatusBoard, StatusView};

/// How many webhook hints are kept for the closure sync.
const MAX_HINTS: usize = 1000;

/// What a Backlog webhook said, kept as a hint for the closure sync (which re-reads the issue
/// before acting: webhooks are not signed).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WebhookHint {
    pub received_at: DateTime<Utc>,
    /// Backlog activity type (1 created, 2 updated, 3 commented, …) when present.
    pub activity_type: Option<i64>,
    /// `PROJECT-N` when the payload names an issue.
    pub issue_key: Option<String>,
    /// `createdUser.id`: who made the change (our own user → an echo closure sync skips).
    pub user_id: Option<i64>,
}

/// Shared daemon state. Cloned as `Arc<Shared>`.
pub struct Shared {
    pub runtime: RuntimeCell,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub board: StatusBoard,
    pub readiness: Readiness,
    pub clock: Arc<dyn Clock>,
    pub started_at: DateTime<Utc>,
    /// Wakes the pipeline worker (an event was accepted, an engine became ready).
    pub wake: Notify,
    engine: RwLock<Option<Arc<dyn Engine>>>,
    scheduler: RwLock<Option<SchedulerHandle>>,
    /// Asks the supervisor to rebuild the scheduler (the schedules changed on reload).
    pub reschedule: Notify,
    hints: Mutex<VecDeque<WebhookHint>>,
    /// Wakes the closure sync's hint loop when a hint arrives.
    pub hint_wake: Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("store", &self.store)
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(
        runtime: RuntimeCell,
        store: Store,
        metrics: Arc<Metrics>,
        readiness: Readiness,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let started_at = clock.now();
        Shared {
            runtime,
            store,
            metrics,
            board: StatusBoard::default(),
            readiness,
            clock,
            started_at,
            wake: Notify::new(),
            engine: RwLock::new(None),
            scheduler: RwLock::new(None),
            reschedule: Notify::new(),
            hints: Mutex::new(VecDeque::new()),
            hint_wake: Notify::new(),
        }
    }

    pub fn engine(&self) -> Option<Arc<dyn Engine>> {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_engine(&self, engine: Arc<dyn Engine>) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Some(engine);
        self.wake.notify_one();
    }

    pub fn set_scheduler(&self, handle: SchedulerHandle) {
        *self.scheduler.write().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    pub fn scheduler(&self) -> Option<SchedulerHandle> {
        self.scheduler
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn job_records(&self) -> JobRecords {
        self.scheduler()
            .map(|s| s.records().clone())
            .unwrap_or_default()
    }

    pub fn push_hint(&self, hint: WebhookHint) {
        let mut hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
        if hints.len() == MAX_HINTS {
            hints.pop_front();
        }
        hints.push_back(hint);
        drop(hints);
        self.hint_wake.notify_one();
    }

    /// Removes and returns the queued hints (closure sync acts on them).
    pub fn take_hints(&self) -> Vec<WebhookHint> {
        self.hints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }

    pub fn hints(&self) -> Vec<WebhookHint> {
        self.hints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Samples queue depths into the metrics and returns them.
    pub fn queues(&self) -> QueueStatus {
        let now = self.clock.now();
        let age = |t: Option<DateTime<Utc>>| t.and_then(|t| (now - t).to_std().ok());
        let inbox_age = age(self.store.inbox_oldest());
        let outbox_age = age(self.store.outbox_oldest());
        let inbox = self.store.inbox_len();
        let outbox = self.store.outbox_len();
        self.metrics.queue("inbox", inbox, inbox_age);
        self.metrics.queue("outbox", outbox, outbox_age);
        let oldest: Option<Duration> = inbox_age.into_iter().chain(outbox_age).max();
        QueueStatus {
            inbox,
            outbox,
            oldest_pending_age_seconds: oldest.map(|d| d.as_secs()),
        }
    }

    pub fn is_ready(&self) -> bool {
        let ready = self.readiness.is_ready();
        self.metrics.ready.set(i64::from(ready));
        ready
    }

    /// The `/v1/status` view.
    pub fn status(&self) -> StatusView {
        let mut view = StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ready: self.is_ready(),
            not_ready_reasons: self.readiness.reasons(),
            started_at: Some(self.started_at),
            jobs: self.job_records().snapshot(),
            queues: self.queues(),
            counters: self.counters(),
            ..StatusView::default()
        };
        self.board.fill(&mut view);
        view
    }

    fn counters(&self) -> Counters {
        let m = &self.metrics;
        let rejected = ["unauthorized", "malformed", "too_large"]
            .iter()
            .map(|r| m.event_count("rejected", r))
            .sum();
        Counters {
            events_accepted: m.event_count("accepted", ""),
            events_ignored: m.event_count("ignored", ""),
            events_rejected: rejected,
            issues_created: m.issues_created.get(),
            duplicates_absorbed: m.duplicates_absorbed.get(),
        }
    }
}
