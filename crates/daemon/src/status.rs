//! What the daemon knows about itself: readiness conditions, the loaded config's identity, the
//! last reconcile per account × region, the last refused reload, webhook hints — and the JSON
//! view served at `/v1/status` (also parsed back by `findings-bridge status`).
//!
//! Must not: hold or show a secret. Errors shown here are texts already free of secrets (the
//! libraries redact; config errors print references, never values).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::JobRecord;

/// Conditions that must all hold before `/readyz` answers 200. Each pending one has a reason.
#[derive(Debug, Default)]
pub struct Readiness {
    pending: Mutex<BTreeMap<String, String>>,
}

/// Readiness condition names.
pub mod condition {
    pub const STORE: &str = "store";
    pub const CONFIG: &str = "config";
    pub const BACKLOG: &str = "backlog";
}

impl Readiness {
    /// All three conditions pending.
    pub fn starting() -> Self {
        let r = Readiness::default();
        r.pending(condition::STORE, "the store is not open yet");
        r.pending(condition::CONFIG, "the configuration is not loaded yet");
        r.pending(condition::BACKLOG, "Backlog names are not resolved yet");
        r
    }

    pub fn pending(&self, condition: &str, reason: impl Into<String>) {
        self.lock().insert(condition.to_owned(), reason.into());
    }

    pub fn met(&self, condition: &str) {
        self.lock().remove(condition);
    }

    pub fn is_ready(&self) -> bool {
        self.lock().is_empty()
    }

    /// `"<condition>: <reason>"`, sorted.
    pub fn reasons(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|(c, r)| format!("{c}: {r}"))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The last reconcile of one account × region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaceStatus {
    pub account: String,
    pub region: String,
    pub time: Option<DateTime<Utc>>,
    /// `in_sync`, `applied`, `failed`.
    pub result: String,
    /// Changes the plan found (drift) at that reconcile.
    pub drift: usize,
    pub error: Option<String>,
}

/// The loaded config's identity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub path: String,
    /// sha256 of the file's bytes, hex.
    pub hash: String,
    pub loaded_at: Option<DateTime<Utc>>,
}

/// A refused reload: the old config keeps running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigErrorInfo {
    pub at: DateTime<Utc>,
    /// sha256 of the refused file (so an operator can tell which commit it was).
    pub hash: Option<String>,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueStatus {
    pub inbox: usize,
    pub outbox: usize,
    /// Age in seconds of the oldest item waiting in either queue.
    pub oldest_pending_age_seconds: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookStatus {
    pub hints_received: u64,
    pub last_received_at: Option<DateTime<Utc>>,
    /// What happens with the hints in this build.
    pub note: String,
}

/// Event counters since start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub events_accepted: u64,
    pub events_ignored: u64,
    pub events_rejected: u64,
    pub issues_created: u64,
    pub duplicates_absorbed: u64,
}

/// A background task's state (the pipeline worker, the config watcher, the engine).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskStatus {
    /// e.g. `running`, `preparing`, `ready`, `watching`, `disabled`.
    pub state: String,
    pub last_run_at: Option<DateTime<Utc>>,
    pub runs: u64,
    /// The last pass's error; cleared by a pass without one.
    pub last_error: Option<String>,
}

/// `/v1/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    pub ready: bool,
    pub not_ready_reasons: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub config: ConfigInfo,
    pub last_config_error: Option<ConfigErrorInfo>,
    pub reconcile: Vec<PlaceStatus>,
    pub jobs: BTreeMap<String, JobRecord>,
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskStatus>,
    pub queues: QueueStatus,
    pub webhook: WebhookStatus,
    pub counters: Counters,
}

impl StatusView {
    /// Why a person should look: not ready, a refused config, failed places or jobs.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .not_ready_reasons
            .iter()
            .map(|r| format!("not ready: {r}"))
            .collect();
        if let Some(e) = &self.last_config_error {
            problems.push(format!(
                "the configuration change at {} was refused ({} error(s))",
                e.at.to_rfc3339(),
                e.errors.len()
            ));
        }
        for p in self.reconcile.iter().filter(|p| p.result == "failed") {
            problems.push(format!(
                "reconcile of {} {} failed: {}",
                p.account,
                p.region,
                p.error.as_deref().unwrap_or("unknown error")
            ));
        }
        for (name, task) in &self.tasks {
            if let Some(error) = &task.last_error {
                problems.push(format!("{name}: {error}"));
            }
        }
        for (name, job) in &self.jobs {
            if job.last_result.as_deref() == Some("failed") {
                problems.push(format!(
                    "job {name} failed: {}",
                    job.last_error.as_deref().unwrap_or("unknown error")
                ));
            }
        }
        problems
    }
}

/// Mutable status parts that are not owned by another component.
#[derive(Debug, Default)]
pub struct StatusBoard {
    inner: Mutex<BoardInner>,
}

#[derive(Debug, Default)]
struct BoardInner {
    config: ConfigInfo,
    last_config_error: Option<ConfigErrorInfo>,
    places: BTreeMap<(String, String), PlaceStatus>,
    webhook: WebhookStatus,
    tasks: BTreeMap<String, TaskStatus>,
}

impl StatusBoard {
    pub fn set_config(&self, info: ConfigInfo) {
        let mut inner = self.lock();
        inner.config = info;
        inner.last_config_error = None;
    }

    pub fn config(&self) -> ConfigInfo {
        self.lock().config.clone()
    }

    pub fn config_refused(&self, error: ConfigErrorInfo) {
        self.lock().last_config_error = Some(error);
    }

    /// Replaces what is known about places: the last reconcile saw exactly these.
    pub fn set_places(&self, places: Vec<PlaceStatus>) {
        self.lock().places = places
            .into_iter()
            .map(|p| ((p.account.clone(), p.region.clone()), p))
            .collect();
    }

    pub fn webhook_hint(&self, at: DateTime<Utc>, note: &str) {
        let mut inner = self.lock();
        inner.webhook.hints_received += 1;
        inner.webhook.last_received_at = Some(at);
        inner.webhook.note = note.to_owned();
    }

    /// Updates the state of background task `name`.
    pub fn task(&self, name: &str, update: impl FnOnce(&mut TaskStatus)) {
        update(self.lock().tasks.entry(name.to_owned()).or_default());
    }

    /// Fills the parts of a view this board owns.
    pub fn fill(&self, view: &mut StatusView) {
        let inner = self.lock();
        view.config = inner.config.clone();
        view.last_config_error = inner.last_config_error.clone();
        view.reconcile = inner.places.values().cloned().collect();
        view.webhook = inner.webhook.clone();
        view.tasks = inner.tasks.clone();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_lists_pending_conditions_until_all_met() {
        let r = Readiness::starting();
        assert!(!r.is_ready());
        assert_eq!(r.reasons().len(), 3);
        r.met(condition::STORE);
        r.met(condition::CONFIG);
        assert_eq!(
            r.reasons(),
            vec!["backlog: Backlog names are not resolved yet".to_owned()]
        );
        r.met(condition::BACKLOG);
        assert!(r.is_ready());
        r.pending(condition::BACKLOG, "401 from Backlog");
        assert!(!r.is_ready());
    }

    #[test]
    fn problems_name_failed_places_jobs_and_refused_config() {
        let board = StatusBoard::default();
        board.set_places(vec![
            PlaceStatus {
                account: "111111111111".into(),
                region: "us-east-1".into(),
                result: "failed".into(),
                error: Some("AccessDenied".into()),
                ..Default::default()
            },
            PlaceStatus {
                account: "222222222222".into(),
                region: "us-east-1".into(),
                result: "in_sync".into(),
                ..Default::default()
            },
        ]);
        board.config_refused(ConfigErrorInfo {
            at: Utc::now(),
            hash: None,
            errors: vec!["f.yaml:3:1: version: must be 1".into()],
        });
        let mut view = StatusView::default();
        board.fill(&mut view);
        let problems = view.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("111111111111 us-east-1 failed: AccessDenied"));
        // A later good config clears the refusal.
        board.set_config(ConfigInfo::default());
        let mut view = StatusView::default();
        board.fill(&mut view);
        assert_eq!(view.problems().len(), 1);
    }
}
