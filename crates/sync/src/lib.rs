//! `fb-sync`: the finding → issue pipeline (and, later, the closure sync), written against
//! traits so it is tested without servers.
//!
//! - [`IssueTracker`] (Backlog) and [`FindingsWriter`] (Security Hub): what the pipeline needs
//!   from the outside; the daemon adapts the real clients, [`testing`] has in-memory fakes.
//! - [`Pipeline`]: [`Pipeline::process_pending`] (inbox → issues, one issue per finding, in
//!   order per finding key), [`Pipeline::flush_writebacks`] (Workflow NOTIFIED + note, batched),
//!   [`Pipeline::backfill`] (NEW findings missed while down → inbox), [`PipelineStats`].
//!
//! Must not: depend on a concrete Backlog or AWS client, or read the clock for decisions other
//! than retry pacing (tokio time, so tests can pause it).

mod backfill;
pub mod closure;
mod keylock;
mod pipeline;
mod rules;
mod stats;
pub mod testing;
mod tracker;
mod writeback;
mod writer;

pub use backfill::{BackfillError, BackfillReport};
pub use pipeline::{Pipeline, PipelineSettings, ProcessError, ProcessReport};
pub use rules::matching_rule;
pub use stats::{PipelineStats, StatsSnapshot};
pub use tracker::{
    FoundIssue, Issue, IssueChange, IssueRef, IssueTracker, NewIssue, StatusChange, TrackerError,
};
pub use writeback::WritebackReport;
pub use writer::{
    BatchResult, FindingQuery, FindingsPage, FindingsWriter, Unprocessed, WorkflowUpdate,
    WriterError,
};
