//! Closure sync, Backlog → Security Hub: an issue entering one of `backlog.closed_statuses`
//! resolves its findings (Workflow RESOLVED, or SUPPRESSED for a resolution in
//! `backlog.suppress_resolutions`); reopening it sets them NOTIFIED again; a deleted issue
//! (404) is recorded on its mappings and Security Hub is left as it is.
//!
//! Two entry points, one way of acting:
//! - [`ClosureSync::poll`] reads the project's activities (types 2, 4, 14) after the persisted
//!   cursor [`CURSOR`], skips those made by our own Backlog user (our echoes), re-reads each
//!   touched issue we have a mapping for, and acts. Polling alone is enough when every webhook
//!   is lost; the cursor only moves once what a page queued is durable, so nothing is missed
//!   across restarts.
//! - [`ClosureSync::hint`] is for webhooks: the payload is unsigned, so it only names an issue
//!   to re-read; nothing in it (e.g. `changes[]`) is trusted.
//!
//! Acting = [`decide`] on the re-read issue, then a write-back queued in the store's outbox
//! (sent by the pipeline's batched flush, ≤ 100 per BatchUpdateFindings) only when the wanted
//! Workflow differs from what was last written — so once both sides agree, nothing is written.
//!
//! Must not: trust webhook payloads, write to Backlog, or advance the cursor past work that is
//! not durable.

mod adopt;
mod decide;
pub mod fake;
mod recheck;
mod source;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use fb_store::{IssueStatus, OutboxItem, StoreError};
use serde::Serialize;
use tokio::sync::{Mutex as AsyncMutex, OnceCell};

pub use decide::{decide, ClosurePolicy, Decision, NOTIFIED, RESOLVED, SUPPRESSED};
pub use recheck::RecheckReport;
pub use source::{
    ActivityRef, ActivitySource, IssueView, Named, ACTIVITY_ISSUES_BULK_UPDATED,
    ACTIVITY_ISSUE_CREATED, ACTIVITY_ISSUE_DELETED, ACTIVITY_ISSUE_UPDATED, ACTIVITY_PAGE,
    ADOPTION_ACTIVITY_TYPES, CLOSURE_ACTIVITY_TYPES,
};

use crate::pipeline::{Pipeline, ProcessError};
use crate::tracker::TrackerError;
use crate::writeback::WritebackReport;

/// The store cursor holding the highest activity id handled.
pub const CURSOR: &str = "backlog.activity_min_id";

/// Pages read per poll at most (the next poll goes on from the cursor).
const MAX_PAGES: usize = 50;

/// What one poll or hint did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClosureReport {
    /// Activity pages read.
    pub pages: usize,
    /// New activities seen (after the cursor).
    pub activities: usize,
    /// Activities by our own user, skipped.
    pub echoes: usize,
    /// Issues re-read.
    pub issues_read: usize,
    pub resolved: usize,
    pub suppressed: usize,
    pub reopened: usize,
    pub deleted: usize,
    /// Mappings that already agreed with their issue.
    pub unchanged: usize,
    /// Issues that could not be read and will not be retried (permanent errors), or
    /// direct-delivery issues naming a finding Security Hub does not have.
    pub failed: usize,
    /// Direct-delivery issues adopted (mapping recorded, NOTIFIED queued).
    pub adopted: usize,
    /// Second issues for one finding closed as Duplication.
    pub duplicates_closed: usize,
    /// The cursor after this run.
    pub cursor: Option<i64>,
    /// The write-back flush that followed.
    pub writeback: WritebackReport,
}

impl ClosureReport {
    /// One line for job records and logs.
    pub fn summary(&self) -> String {
        format!(
            "{} activit(ies), {} issue(s) read: {} resolved, {} suppressed, {} reopened, {} deleted, {} write-back(s) sent",
            self.activities,
            self.issues_read,
            self.resolved,
            self.suppressed,
            self.reopened,
            self.deleted,
            self.writeback.sent
        )
    }
}

/// Why a poll or hint stopped; what was done before stays done, the cursor did not pass it.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("the store failed during closure sync")]
    Store(#[source] StoreError),
    #[error("reading Backlog failed during closure sync")]
    Backlog(#[source] TrackerError),
    #[error("reading Security Hub failed during closure sync")]
    SecurityHub(#[source] crate::writer::WriterError),
    #[error("the stored closure cursor {value:?} is not an activity id")]
    Cursor { value: String },
}

impl From<StoreError> for ClosureError {
    fn from(e: StoreError) -> Self {
        ClosureError::Store(e)
    }
}

impl From<ProcessError> for ClosureError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Store(e) => ClosureError::Store(e),
        }
    }
}

/// Closure sync over a [`Pipeline`] (its store, key locks and write-back flush). Cheap to clone.
#[derive(Clone)]
pub struct ClosureSync {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Pipeline,
    source: Arc<dyn ActivitySource>,
    policy: ClosurePolicy,
    own_user: OnceCell<i64>,
    /// One poll or hint at a time (they update the same mappings and cursor).
    run: AsyncMutex<()>,
}

impl std::fmt::Debug for ClosureSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosureSync")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// How re-reading and acting on one issue ended.
enum IssueOutcome {
    Done,
    /// A retry may help: the cursor must not pass it.
    Retry(TrackerError),
}

impl ClosureSync {
    pub fn new(
        pipeline: Pipeline,
        source: Arc<dyn ActivitySource>,
        policy: ClosurePolicy,
    ) -> ClosureSync {
        ClosureSync {
            inner: Arc::new(Inner {
                pipeline,
                source,
                policy,
                own_user: OnceCell::new(),
                run: AsyncMutex::new(()),
            }),
        }
    }

    /// Reads new activities and acts on the issues they touch (see the module header), then
    /// sends due write-backs.
    pub async fn poll(&self) -> Result<ClosureReport, ClosureError> {
        let _run = self.inner.run.lock().await;
        let store = &self.inner.pipeline.inner.store;
        let own = self.own_user().await?;
        let mut cursor = self.cursor()?;
        let mut report = ClosureReport::default();
        let types: &[i64] = if adopt::adoption_enabled(&self.inner.pipeline.config()) {
            &ADOPTION_ACTIVITY_TYPES
        } else {
            &CLOSURE_ACTIVITY_TYPES
        };
        for _ in 0..MAX_PAGES {
            let page = self
                .inner
                .source
                .activities(cursor, types)
                .await
                .map_err(ClosureError::Backlog)?;
            report.pages += 1;
            let full = page.len() >= ACTIVITY_PAGE;
            let mut fresh: Vec<ActivityRef> = page
                .into_iter()
                .filter(|a| cursor.is_none_or(|c| a.id > c))
                .collect();
            fresh.sort_by_key(|a| a.id);
            let Some(last) = fresh.last().map(|a| a.id) else {
                break;
            };
            report.activities += fresh.len();
            // Creations first: an issue adopted here may be closed later in the same page.
            let mut outcome = self.adopt_created(&fresh, &mut report).await?;
            if matches!(outcome, IssueOutcome::Done) {
                for key in self.touched_keys(&fresh, own, &mut report)? {
                    outcome = self.act_on_issue(&key, &mut report).await?;
                    if matches!(outcome, IssueOutcome::Retry(_)) {
                        break;
                    }
                }
            }
            if let IssueOutcome::Retry(error) = outcome {
                // Keep the cursor before this page: the next poll reads it again (acting
                // twice is harmless: decisions compare with what was written, adoption with
                // the mappings).
                store.flush().await?;
                return Err(ClosureError::Backlog(error));
            }
            // Queued write-backs and mapping changes first, then the cursor.
            store.flush().await?;
            store.set_cursor(CURSOR, &last.to_string())?;
            store.flush().await?;
            cursor = Some(last);
            if !full {
                break;
            }
        }
        report.cursor = cursor;
        report.writeback = self.inner.pipeline.flush_writebacks().await?;
        if report.activities > 0 {
            tracing::info!(summary = %report.summary(), cursor = ?cursor, "closure sync poll");
        }
        Ok(report)
    }

    /// A webhook named `issue_key`: re-read it and act the same way a poll would. `actor` is
    /// the payload's `createdUser.id`: our own user's changes are skipped like in a poll (a
    /// forged actor can only delay an action until the next poll, which reads the real log).
    pub async fn hint(
        &self,
        issue_key: &str,
        actor: Option<i64>,
    ) -> Result<ClosureReport, ClosureError> {
        let _run = self.inner.run.lock().await;
        let store = &self.inner.pipeline.inner.store;
        let mut report = ClosureReport::default();
        if actor.is_some() && actor == Some(self.own_user().await?) {
            report.echoes += 1;
            return Ok(report);
        }
        if store.mappings_by_issue(issue_key)?.is_empty() {
            tracing::debug!(
                issue = issue_key,
                "webhook hint for an issue we do not track"
            );
            return Ok(report);
        }
        let outcome = self.act_on_issue(issue_key, &mut report).await?;
        store.flush().await?;
        if let IssueOutcome::Retry(error) = outcome {
            // The next poll covers it (its activity is after the cursor).
            return Err(ClosureError::Backlog(error));
        }
        report.cursor = self.cursor()?;
        report.writeback = self.inner.pipeline.flush_writebacks().await?;
        tracing::debug!(issue = issue_key, summary = %report.summary(), "closure sync hint");
        Ok(report)
    }

    async fn own_user(&self) -> Result<i64, ClosureError> {
        self.inner
            .own_user
            .get_or_try_init(|| self.inner.source.own_user_id())
            .await
            .copied()
            .map_err(ClosureError::Backlog)
    }

    fn cursor(&self) -> Result<Option<i64>, ClosureError> {
        match self.inner.pipeline.inner.store.cursor(CURSOR)? {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ClosureError::Cursor { value }),
        }
    }

    /// Issue keys touched by others' activities that we have mappings for, in first-seen order.
    fn touched_keys(
        &self,
        activities: &[ActivityRef],
        own: i64,
        report: &mut ClosureReport,
    ) -> Result<Vec<String>, ClosureError> {
        let store = &self.inner.pipeline.inner.store;
        let mut seen = BTreeSet::new();
        let mut keys = Vec::new();
        for activity in activities {
            if activity.type_id == ACTIVITY_ISSUE_CREATED {
                // Creations cannot close an issue (adoption handles them).
                continue;
            }
            if activity.user_id == Some(own) {
                report.echoes += 1;
                continue;
            }
            for key in &activity.issue_keys {
                if seen.insert(key.clone()) && !store.mappings_by_issue(key)?.is_empty() {
                    keys.push(key.clone());
                }
            }
        }
        Ok(keys)
    }

    /// Re-reads one issue and applies [`decide`] to each of its mappings.
    async fn act_on_issue(
        &self,
        issue_key: &str,
        report: &mut ClosureReport,
    ) -> Result<IssueOutcome, ClosureError> {
        report.issues_read += 1;
        let view = match self.inner.source.issue_view(issue_key).await {
            Ok(view) => view,
            Err(error) if error.is_permanent() => {
                tracing::warn!(issue = issue_key, %error, "cannot re-read the issue; skipped");
                report.failed += 1;
                return Ok(IssueOutcome::Done);
            }
            Err(error) => return Ok(IssueOutcome::Retry(error)),
        };
        let pipeline = &self.inner.pipeline.inner;
        for listed in pipeline.store.mappings_by_issue(issue_key)? {
            let _guard = pipeline.keys.lock(&listed.finding_key).await;
            // Re-read under the lock: the pipeline may have changed it meanwhile.
            let Some(mut mapping) = pipeline.store.mapping(&listed.finding_key)? else {
                continue;
            };
            if mapping.issue_key.as_deref() != Some(issue_key) {
                continue;
            }
            match decide(&mapping, view.as_ref(), &self.inner.policy) {
                Decision::Nothing => {
                    report.unchanged += 1;
                    continue;
                }
                Decision::Record(status) => mapping.issue_status = status,
                Decision::Deleted => {
                    tracing::info!(issue = issue_key, finding_key = %mapping.finding_key, "issue deleted in Backlog; the finding is left as it is in Security Hub");
                    report.deleted += 1;
                    mapping.issue_status = IssueStatus::Deleted;
                }
                Decision::Write {
                    workflow,
                    note,
                    issue_status,
                } => {
                    pipeline.store.push_outbox(&OutboxItem::WriteBack {
                        finding_key: mapping.finding_key.clone(),
                        workflow: workflow.to_string(),
                        note,
                        attempts: 0,
                        last_error: None,
                        created_at: Utc::now(),
                    })?;
                    let counter = match workflow {
                        RESOLVED => &mut report.resolved,
                        SUPPRESSED => &mut report.suppressed,
                        _ => &mut report.reopened,
                    };
                    *counter += 1;
                    tracing::info!(issue = issue_key, finding_key = %mapping.finding_key, workflow, "closure sync: write-back queued");
                    mapping.issue_status = issue_status;
                }
            }
            mapping.updated_at = Utc::now();
            pipeline.store.put_mapping(&mapping)?;
        }
        Ok(IssueOutcome::Done)
    }
}

#[cfg(test)]
mod tests;
