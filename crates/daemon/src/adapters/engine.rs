//! The engine `run` and the tests use: the finding → issue pipeline (over any tracker and
//! writer), closure sync when configured, and the scheduled reconcile.
//!
//! Must not: hold daemon state; it is replaced whole on reload.

use std::sync::{Arc, Mutex};

use fb_sync::{FindingsWriter, IssueTracker, Pipeline, PipelineSettings, StatsSnapshot};
use futures::future::BoxFuture;

use crate::backend::{BoxError, Engine, WorkReport};
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// The engine: the finding → issue pipeline plus the scheduled reconcile.
pub struct PipelineEngine {
    pipeline: Pipeline,
    runtime: Arc<Runtime>,
    store: fb_store::Store,
    batch: usize,
    /// Where the scheduled reconcile counts its AWS calls.
    metrics: Option<Arc<Metrics>>,
    /// Stats at the last report, to turn the pipeline's totals into per-pass deltas.
    last: Mutex<StatsSnapshot>,
    closure: Option<fb_sync::closure::ClosureSync>,
}

impl std::fmt::Debug for PipelineEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineEngine")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl PipelineEngine {
    /// An engine over `tracker` and `writer` (the real adapters, or the sync crate's fakes).
    pub fn new(
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        tracker: Arc<dyn IssueTracker>,
        writer: Arc<dyn FindingsWriter>,
        settings: PipelineSettings,
    ) -> Self {
        let batch = settings.inbox_batch;
        let pipeline = Pipeline::with_settings(
            store.clone(),
            tracker,
            writer,
            runtime.config.clone(),
            settings,
        );
        PipelineEngine {
            last: Mutex::new(pipeline.stats().snapshot()),
            pipeline,
            runtime,
            store,
            batch,
            metrics: None,
            closure: None,
        }
    }

    /// Counts the scheduled reconcile's AWS calls into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Adds Backlog → Security Hub closure sync over this engine's pipeline.
    pub fn with_closure(
        mut self,
        source: Arc<dyn fb_sync::closure::ActivitySource>,
        policy: fb_sync::closure::ClosurePolicy,
    ) -> Self {
        self.closure = Some(fb_sync::closure::ClosureSync::new(
            self.pipeline.clone(),
            source,
            policy,
        ));
        self
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn delta(&self) -> (u64, u64) {
        let now = self.pipeline.stats().snapshot();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let d = (
            now.issues_created.saturating_sub(last.issues_created),
            now.duplicates_absorbed
                .saturating_sub(last.duplicates_absorbed),
        );
        *last = now;
        d
    }
}

impl Engine for PipelineEngine {
    fn process_pending(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.process_pending().await?;
            let (issues_created, duplicates_absorbed) = self.delta();
            Ok(WorkReport {
                events: u64::try_from(r.events_done + r.malformed).unwrap_or(u64::MAX),
                issues_created,
                duplicates_absorbed,
                // A full batch means more events are probably waiting.
                more: r.events_done + r.malformed + r.events_kept >= self.batch,
                ..WorkReport::default()
            })
        })
    }

    fn flush_writebacks(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.flush_writebacks().await?;
            Ok(WorkReport {
                writebacks_done: r.sent as u64,
                writebacks_failed: r.failed as u64,
                writebacks_retrying: r.retried as u64,
                ..WorkReport::default()
            })
        })
    }

    fn backfill(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.backfill().await?;
            Ok(format!(
                "{} finding(s) read in {} page(s), {} queued, {} already known",
                r.fetched, r.pages, r.queued, r.known
            ))
        })
    }

    fn reconcile(&self) -> BoxFuture<'_, Result<Vec<PlaceStatus>, BoxError>> {
        Box::pin(async move {
            crate::reconcile_job::run(&self.runtime, &self.store, self.metrics.as_deref()).await
        })
    }

    fn closure(&self) -> Option<fb_sync::closure::ClosureSync> {
        self.closure.clone()
    }
}
