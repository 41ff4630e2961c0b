//! Write-back: outbox `WriteBack` items → Security Hub, in batches of at most 100 per format.
//!
//! Processed items leave the outbox and their mapping records `workflow_written` (echo
//! detection, no repeated writes). Unprocessed or failed items stay with `attempts` and
//! `last_error` and back off exponentially; non-retryable ones are given up after
//! `writeback_permanent_attempts`. When one finding has several pending items, the newest wins
//! and the older ones are dropped (Security Hub refuses duplicate identifiers in one call).
//!
//! Must not: hold the write-back lock while the inbox pass needs it (separate locks), or update
//! a mapping without its key lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use fb_store::{FindingFormat, OutboxItem};
use serde::Serialize;
use tokio::time::Instant;

use crate::pipeline::{Pipeline, ProcessError};
use crate::stats::PipelineStats;
use crate::writer::WorkflowUpdate;

/// What one [`Pipeline::flush_writebacks`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WritebackReport {
    /// BatchUpdateFindings(V2) calls made.
    pub calls: usize,
    pub sent: usize,
    /// Failed this time, will be retried.
    pub retried: usize,
    /// Given up on.
    pub failed: usize,
    /// Older items replaced by a newer one for the same finding.
    pub superseded: usize,
    /// Waiting for their backoff to pass.
    pub deferred: usize,
}

/// A pending write-back, unpacked.
struct Pending {
    seq: u64,
    finding_key: String,
    workflow: String,
    note: String,
    attempts: u32,
    created_at: DateTime<Utc>,
}

impl Pipeline {
    /// Sends due write-backs (see the module header).
    pub async fn flush_writebacks(&self) -> Result<WritebackReport, ProcessError> {
        let mut next_attempt = self.inner.writeback.lock().await;
        let store = &self.inner.store;
        let mut report = WritebackReport::default();

        let mut latest: HashMap<String, Pending> = HashMap::new();
        for (seq, item) in store.outbox_pending(self.inner.settings.writeback_scan)? {
            #[allow(unreachable_patterns)] // other variants belong to other workers
            let pending = match item {
                OutboxItem::WriteBack {
                    finding_key,
                    workflow,
                    note,
                    attempts,
                    created_at,
                    ..
                } => Pending {
                    seq,
                    finding_key,
                    workflow,
                    note,
                    attempts,
                    created_at,
                },
                _ => continue,
            };
            // The outbox is read in sequence order: what was there before is older.
            if let Some(older) = latest.insert(pending.finding_key.clone(), pending) {
                store.remove_outbox(older.seq)?;
                next_attempt.remove(&older.seq);
                report.superseded += 1;
            }
        }

        let now = Instant::now();
        let mut batches: BTreeMap<u8, Vec<(Pending, WorkflowUpdate)>> = BTreeMap::new();
        let mut due: Vec<Pending> = latest.into_values().collect();
        due.sort_by_key(|p| p.seq);
        for pending in due {
            if next_attempt.get(&pending.seq).is_some_and(|at| *at > now) {
                report.deferred += 1;
                continue;
            }
            let Some(mapping) = store.mapping(&pending.finding_key)? else {
                tracing::warn!(finding_key = %pending.finding_key, "write-back for a finding with no mapping: dropped");
                store.remove_outbox(pending.seq)?;
                PipelineStats::bump(&self.inner.stats.writebacks_failed);
                report.failed += 1;
                continue;
            };
            let update = WorkflowUpdate {
                finding_key: mapping.finding_key,
                finding_id: mapping.finding_id,
                product_arn: mapping.product_arn,
                metadata_uid: mapping.metadata_uid,
                account: mapping.account,
                format: mapping.format,
                workflow: pending.workflow.clone(),
                note: pending.note.clone(),
            };
            let slot = match update.format {
                FindingFormat::Asff => 0,
                FindingFormat::Ocsf => 1,
            };
            batches.entry(slot).or_default().push((pending, update));
        }

        let size = self.inner.settings.writeback_batch.clamp(1, 100);
        for (_, items) in batches {
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                let chunk: Vec<(Pending, WorkflowUpdate)> = items.by_ref().take(size).collect();
                self.send_chunk(chunk, &mut next_attempt, &mut report)
                    .await?;
            }
        }
        if report != WritebackReport::default() {
            tracing::debug!(?report, "write-back flush");
        }
        Ok(report)
    }

    async fn send_chunk(
        &self,
        chunk: Vec<(Pending, WorkflowUpdate)>,
        next_attempt: &mut HashMap<u64, Instant>,
        report: &mut WritebackReport,
    ) -> Result<(), ProcessError> {
        let updates: Vec<WorkflowUpdate> = chunk.iter().map(|(_, u)| u.clone()).collect();
        report.calls += 1;
        let result = self.inner.writer.batch_update(&updates).await;
        for (pending, update) in chunk {
            let failure = match &result {
                Err(error) => Some((error.to_string(), error.is_retryable())),
                Ok(batch) => {
                    let processed: HashSet<&str> =
                        batch.processed.iter().map(String::as_str).collect();
                    if processed.contains(update.finding_key.as_str()) {
                        None
                    } else {
                        Some(
                            batch
                                .unprocessed
                                .iter()
                                .find(|u| u.finding_key == update.finding_key)
                                .map_or_else(
                                    || ("absent from the response".to_string(), true),
                                    |u| (format!("{}: {}", u.code, u.message), u.retryable),
                                ),
                        )
                    }
                }
            };
            match failure {
                None => {
                    self.inner.store.remove_outbox(pending.seq)?;
                    next_attempt.remove(&pending.seq);
                    self.mark_written(&update.finding_key, &update.workflow)
                        .await?;
                    PipelineStats::bump(&self.inner.stats.writebacks_sent);
                    report.sent += 1;
                }
                Some((error, retryable)) => {
                    self.failed_attempt(pending, error, retryable, next_attempt, report)?;
                }
            }
        }
        Ok(())
    }

    fn failed_attempt(
        &self,
        pending: Pending,
        error: String,
        retryable: bool,
        next_attempt: &mut HashMap<u64, Instant>,
        report: &mut WritebackReport,
    ) -> Result<(), ProcessError> {
        let store = &self.inner.store;
        let attempts = pending.attempts + 1;
        if !retryable && attempts >= self.inner.settings.writeback_permanent_attempts {
            tracing::error!(finding_key = %pending.finding_key, attempts, %error, "write-back given up");
            store.remove_outbox(pending.seq)?;
            next_attempt.remove(&pending.seq);
            PipelineStats::bump(&self.inner.stats.writebacks_failed);
            report.failed += 1;
            return Ok(());
        }
        tracing::warn!(finding_key = %pending.finding_key, attempts, retryable, %error, "write-back failed; will retry");
        store.update_outbox(
            pending.seq,
            &OutboxItem::WriteBack {
                finding_key: pending.finding_key,
                workflow: pending.workflow,
                note: pending.note,
                attempts,
                last_error: Some(error),
                created_at: pending.created_at,
            },
        )?;
        next_attempt.insert(
            pending.seq,
            Instant::now() + self.inner.settings.backoff(attempts),
        );
        PipelineStats::bump(&self.inner.stats.writebacks_retried);
        report.retried += 1;
        Ok(())
    }

    async fn mark_written(&self, finding_key: &str, workflow: &str) -> Result<(), ProcessError> {
        let _guard = self.inner.keys.lock(finding_key).await;
        if let Some(mut mapping) = self.inner.store.mapping(finding_key)? {
            mapping.workflow_written = Some(workflow.to_string());
            mapping.updated_at = Utc::now();
            self.inner.store.put_mapping(&mapping)?;
        }
        Ok(())
    }
}
