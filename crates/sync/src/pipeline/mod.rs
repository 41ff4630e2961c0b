//! The dispatcher: inbox events → findings → issues, in order per finding key.
//!
//! One pass ([`Pipeline::process_pending`]) reads a batch of inbox events in sequence order,
//! groups their findings by key (keeping order), and runs the groups concurrently (bounded), each
//! group sequentially under its key lock — so at most one action is in flight per finding. An
//! inbox event is removed only after every finding in it was handled and the store was flushed
//! (mappings, intents and outbox written first), so a crash at any point replays it, and
//! replaying is harmless: a known finding never gets a second issue.
//!
//! A finding that cannot be handled now (tracker unavailable, create time-out) keeps its event
//! in the inbox, blocks the later events of the same key in that pass, and its key backs off
//! (exponentially, in memory) before the next attempt.
//!
//! Must not: call Backlog or Security Hub except through the traits, or hold a key lock across
//! passes.

mod finding;
mod lifecycle;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fb_model::config::Config;
use fb_model::finding::{parse_event, Event, Finding};
use fb_store::{Store, StoreError};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::Instant;

use crate::keylock::KeyLocks;
use crate::rules::single_finding_event;
use crate::stats::PipelineStats;
use crate::tracker::IssueTracker;
use crate::writer::FindingsWriter;

/// Tuning knobs; the defaults suit production.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// Inbox events read per pass.
    pub inbox_batch: usize,
    /// Finding keys handled at once.
    pub concurrency: usize,
    /// Findings per BatchUpdateFindings call (Security Hub allows 100).
    pub writeback_batch: usize,
    /// Outbox items looked at per flush.
    pub writeback_scan: usize,
    /// Non-retryable write-back errors are retried this many times, then dropped.
    pub writeback_permanent_attempts: u32,
    /// First retry delay (doubles per failure) for a finding key or an outbox item.
    pub retry_base: Duration,
    /// Upper bound of the retry delay.
    pub retry_max: Duration,
    /// GetFindings pages read per backfill run.
    pub backfill_max_pages: usize,
    /// After a create whose outcome is unknown, wait this long before searching for its marker:
    /// Backlog's keyword-search indexing delay is unverified, and a search that runs before the
    /// issue is indexed would lead to a second issue.
    pub intent_settle: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            inbox_batch: 512,
            concurrency: 8,
            writeback_batch: 100,
            writeback_scan: 10_000,
            writeback_permanent_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            backfill_max_pages: 100,
            intent_settle: Duration::from_secs(30),
        }
    }
}

impl PipelineSettings {
    /// `retry_base · 2^(failures-1)`, capped at `retry_max`.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// What one [`Pipeline::process_pending`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcessReport {
    /// Inbox events handled and removed.
    pub events_done: usize,
    /// Inbox events left for a later pass (a finding in them must be retried, or waits behind one).
    pub events_kept: usize,
    /// Inbox events that do not parse (removed).
    pub malformed: usize,
    pub created: usize,
    pub adopted: usize,
    /// Known findings (repeats, updates, lifecycle actions) — no new issue.
    pub known: usize,
    pub echoes: usize,
    pub ignored: usize,
    /// Findings to retry later.
    pub retry: usize,
    pub failed: usize,
    /// Findings not attempted because their key is backing off.
    pub deferred: usize,
    /// When kept events become due again (milliseconds from the end of this pass): the worker
    /// can sleep this long instead of polling.
    pub retry_in_ms: Option<u64>,
}

/// A pass failed on the store; nothing was removed from the inbox.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the store failed while processing the inbox")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ProcessError {
    fn from(e: StoreError) -> Self {
        ProcessError::Store(e)
    }
}

/// How one finding ended in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    Adopted,
    Known,
    Echo,
    Ignored,
    Retry,
    Failed,
}

/// The finding → issue pipeline. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Pipeline {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) tracker: Arc<dyn IssueTracker>,
    pub(crate) writer: Arc<dyn FindingsWriter>,
    config: RwLock<Arc<Config>>,
    pub(crate) settings: PipelineSettings,
    pub(crate) stats: Arc<PipelineStats>,
    /// One pass at a time; holds each key's failure count and next allowed attempt.
    run: AsyncMutex<HashMap<String, (u32, Instant)>>,
    /// One write-back flush at a time; next allowed attempt per outbox sequence.
    pub(crate) writeback: AsyncMutex<HashMap<u64, Instant>>,
    pub(crate) keys: KeyLocks,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("settings", &self.inner.settings)
            .field("stats", &self.inner.stats.snapshot())
            .finish_non_exhaustive()
    }
}

/// One finding to handle, with the event narrowed to it.
struct Work {
    seq: u64,
    finding: Finding,
    event: serde_json::Value,
}

struct GroupResult {
    key: String,
    handled: Vec<(u64, Outcome)>,
    /// Sequences not finished (the failing one and those behind it).
    kept: Vec<u64>,
}

impl Pipeline {
    pub fn new(
        store: Store,
        tracker: Arc<dyn IssueTracker>,
        writer: Arc<dyn FindingsWriter>,
        config: Arc<Config>,
    ) -> Pipeline {
        Pipeline::with_settings(store, tracker, writer, config, PipelineSettings::default())
    }

    pub fn with_settings(
        store: Store,
        tracker: Arc<dyn IssueTracker>,
        writer: Arc<dyn FindingsWriter>,
        config: Arc<Config>,
        settings: PipelineSettings,
    ) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                store,
                tracker,
                writer,
                config: RwLock::new(config),
                settings,
                stats: Arc::new(PipelineStats::default()),
                run: AsyncMutex::new(HashMap::new()),
                writeback: AsyncMutex::new(HashMap::new()),
                keys: KeyLocks::default(),
            }),
        }
    }

    /// The counters for metrics and status.
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.inner.stats.clone()
    }

    /// Swaps the configuration (reload); passes already running finish with the old one.
    pub fn set_config(&self, config: Arc<Config>) {
        *self.inner.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the daemon should store `event`: a finding in it matches an enabled relay rule,
    /// or already has its issue (its later changes concern that issue). Otherwise it is
    /// answered 202 "ignored" and not stored.
    pub fn wants(&self, event: &Event) -> Result<bool, StoreError> {
        if crate::rules::matching_rule(&self.config(), event).is_some() {
            return Ok(true);
        }
        for finding in &event.findings {
            if self.inner.store.mapping(&finding.key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One pass over the pending inbox (see the module header). Call it again while
    /// `events_kept > 0` — after a pause, since kept keys back off.
    pub async fn process_pending(&self) -> Result<ProcessReport, ProcessError> {
        let mut backoff = self.inner.run.lock().await;
        let config = self.config();
        let store = &self.inner.store;
        let mut report = ProcessReport::default();

        let (groups, mut done, malformed) = self.read_inbox()?;
        if groups.is_empty() && done.is_empty() {
            return Ok(report);
        }
        report.malformed = malformed;
        let now = Instant::now();
        let (due, waiting): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .partition(|(key, _)| backoff.get(key).is_none_or(|(_, at)| *at <= now));
        let mut kept: Vec<u64> = Vec::new();
        for (_, work) in &waiting {
            report.deferred += work.len();
            kept.extend(work.iter().map(|w| w.seq));
        }

        let results: Vec<Result<GroupResult, ProcessError>> = stream::iter(due)
            .map(|(key, work)| self.run_group(&config, key, work))
            .buffer_unordered(self.inner.settings.concurrency.max(1))
            .collect()
            .await;
        for result in results {
            let group = result?;
            for (_, outcome) in &group.handled {
                count(&mut report, *outcome);
            }
            if group.kept.is_empty() {
                backoff.remove(&group.key);
            } else {
                let failures = backoff.get(&group.key).map_or(0, |(n, _)| *n) + 1;
                let delay = self.inner.settings.backoff(failures);
                backoff.insert(group.key.clone(), (failures, Instant::now() + delay));
                kept.extend(group.kept);
            }
            done.extend(group.handled.iter().map(|(seq, _)| *seq));
        }

        // An event is finished only when none of its findings is kept.
        done.sort_unstable();
        done.dedup();
        kept.sort_unstable();
        kept.dedup();
        done.retain(|seq| kept.binary_search(seq).is_err());
        store.flush().await?;
        for seq in &done {
            store.inbox_remove(*seq)?;
            PipelineStats::bump(&self.inner.stats.events_processed);
        }
        report.events_done = done.len();
        report.events_kept = kept.len();
        let now = Instant::now();
        report.retry_in_ms = backoff
            .values()
            .map(|(_, at)| at.saturating_duration_since(now).as_millis() as u64)
            .min()
            .filter(|_| !kept.is_empty());
        if report.events_done + report.events_kept > 0 {
            tracing::debug!(?report, "pipeline pass");
        }
        Ok(report)
    }

    /// Pending inbox events → groups of work per finding key (in sequence order), plus the
    /// sequences of malformed events (finished: they can never succeed).
    #[allow(clippy::type_complexity)]
    fn read_inbox(&self) -> Result<(Vec<(String, Vec<Work>)>, Vec<u64>, usize), ProcessError> {
        let pending = self
            .inner
            .store
            .inbox_pending(self.inner.settings.inbox_batch)?;
        let mut groups: Vec<(String, Vec<Work>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut finished = Vec::new();
        let mut malformed = 0;
        for (seq, inbox) in pending {
            let event = match parse_event(inbox.body.as_bytes()) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(seq, %error, "dropping an inbox event that does not parse");
                    PipelineStats::bump(&self.inner.stats.events_malformed);
                    malformed += 1;
                    finished.push(seq);
                    continue;
                }
            };
            for (i, finding) in event.findings.into_iter().enumerate() {
                let work = Work {
                    seq,
                    event: single_finding_event(&event.raw, i),
                    finding,
                };
                let slot = *index.entry(work.finding.key.clone()).or_insert_with(|| {
                    groups.push((work.finding.key.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[slot].1.push(work);
            }
        }
        Ok((groups, finished, malformed))
    }

    /// One key's findings, in order, under its lock; stops at the first one to retry.
    async fn run_group(
        &self,
        config: &Config,
        key: String,
        work: Vec<Work>,
    ) -> Result<GroupResult, ProcessError> {
        let _guard = self.inner.keys.lock(&key).await;
        let mut handled = Vec::new();
        let mut kept = Vec::new();
        let mut items = work.into_iter();
        for item in items.by_ref() {
            let outcome = self
                .handle_finding(config, &item.finding, &item.event)
                .await?;
            if outcome == Outcome::Retry {
                PipelineStats::bump(&self.inner.stats.findings_retried);
                handled.push((item.seq, outcome));
                kept.push(item.seq);
                break;
            }
            handled.push((item.seq, outcome));
        }
        kept.extend(items.map(|w| w.seq));
        Ok(GroupResult { key, handled, kept })
    }
}

fn count(report: &mut ProcessReport, outcome: Outcome) {
    let slot = match outcome {
        Outcome::Created => &mut report.created,
        Outcome::Adopted => &mut report.adopted,
        Outcome::Known => &mut report.known,
        Outcome::Echo => &mut report.echoes,
        Outcome::Ignored => &mut report.ignored,
        Outcome::Retry => &mut report.retry,
        Outcome::Failed => &mut report.failed,
    };
    *slot += 1;
}
