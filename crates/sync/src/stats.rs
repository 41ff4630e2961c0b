//! Counters the daemon reads for `/metrics` and `/v1/status`. Atomics: cheap to bump from the
//! pipeline's concurrent tasks, readable without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! stats {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters since the pipeline was built.
        #[derive(Debug, Default)]
        pub struct PipelineStats { $($(#[$doc])* pub $name: AtomicU64,)* }

        /// A copy of [`PipelineStats`] at one moment.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct StatsSnapshot { $($(#[$doc])* pub $name: u64,)* }

        impl PipelineStats {
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

stats! {
    /// Inbox events fully handled and removed.
    events_processed,
    /// Inbox events that could not be parsed (removed: they can never succeed).
    events_malformed,
    /// Findings no enabled relay rule matches and that have no mapping.
    findings_ignored,
    /// Issues created.
    issues_created,
    /// Create intents resolved by finding the issue already in the tracker.
    issues_adopted,
    /// Deliveries of a finding that already has its issue (no new issue).
    duplicates_absorbed,
    /// Our own write-back echoes, dropped.
    echoes,
    /// Known findings whose severity rose: comment + priority.
    severity_raised,
    /// Closed issues reopened because their finding returned.
    issues_reopened,
    /// Comments added for other lifecycle changes (returned with `on_recurrence: comment`).
    recurrence_comments,
    /// Issues closed because their finding went away (`close_issue_on`).
    issues_closed,
    /// Comments on issues whose finding went away, without closing them.
    lifecycle_comments,
    /// Findings whose handling failed permanently (logged; the event is dropped).
    findings_failed,
    /// Findings left for a later pass (tracker unavailable, ambiguous create…).
    findings_retried,
    /// Write-backs Security Hub accepted.
    writebacks_sent,
    /// Write-back attempts that failed and will be retried.
    writebacks_retried,
    /// Write-backs given up on (non-retryable after the bound, or no mapping).
    writebacks_failed,
    /// Events queued into the inbox by backfill.
    backfill_queued,
}

impl PipelineStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
