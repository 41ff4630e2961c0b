//! The seam between the daemon's runtime (server, worker, scheduler, reload) and the work it
//! drives. A [`Backend`] turns a loaded config into an [`Engine`]: the Backlog and Security Hub
//! clients with names resolved, the pipeline, the reconcile. `run` uses the real one
//! ([`crate::adapters`]); tests plug in the sync crate's fakes.
//!
//! Preparing is where Backlog's names are resolved, so a prepared engine is what `/readyz`
//! waits for, and a reload whose names no longer resolve is refused like an invalid file.
//!
//! Must not: hold daemon state; an engine is replaced whole on reload.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// An error crossing the seam, with its cause chain intact.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error and its causes on one line: `a: b: c`.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let next = c.to_string();
        // thiserror messages often already embed their source: do not repeat it.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// What one pass of the pipeline did, for metrics and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkReport {
    /// Inbox events handled (removed from the inbox).
    pub events: u64,
    pub issues_created: u64,
    pub duplicates_absorbed: u64,
    pub writebacks_done: u64,
    pub writebacks_failed: u64,
    pub writebacks_retrying: u64,
    /// Work is left that the next pass can do now (not waiting for a backoff).
    pub more: bool,
}

/// Everything that depends on one config.
pub trait Engine: Send + Sync + 'static {
    /// Handles pending inbox events (create/update issues, queue write-backs).
    fn process_pending(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>>;
    /// Sends due Security Hub write-backs.
    fn flush_writebacks(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>>;
    /// Feeds still-NEW findings from Security Hub into the inbox; returns a summary.
    fn backfill(&self) -> BoxFuture<'_, Result<String, BoxError>>;
    /// Plans and applies every account × region; returns each place's outcome.
    fn reconcile(&self) -> BoxFuture<'_, Result<Vec<PlaceStatus>, BoxError>>;
    /// Backlog → Security Hub closure sync, when this engine has it (the `closure_sync` job
    /// and webhook hints use it; `None` leaves both off).
    fn closure(&self) -> Option<fb_sync::closure::ClosureSync> {
        None
    }
}

/// Builds an [`Engine`] for a config.
pub trait Backend: Send + Sync + 'static {
    fn prepare(
        &self,
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>>;
}
