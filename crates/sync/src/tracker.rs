//! The issue tracker the pipeline files issues in (Backlog in production), as a trait so the
//! pipeline is tested against an in-memory fake ([`crate::testing::FakeTracker`]).
//!
//! The daemon adapts the real Backlog client to it: names (issue type, priority, status) are
//! resolved to ids there, not here. Must not: carry Backlog ids or HTTP details.

use async_trait::async_trait;

/// An issue to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIssue {
    pub summary: String,
    /// Ends with the footer and the marker line (`fb_model::template::marker_line`).
    pub description: String,
    /// Issue type name, e.g. `Task`.
    pub issue_type: String,
    /// Priority name, e.g. `High`.
    pub priority: String,
}

/// Where an issue lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueRef {
    /// e.g. `SEC-12`.
    pub key: String,
    pub id: u64,
    /// Browser URL of the issue.
    pub url: String,
}

/// A search hit: the caller checks the marker in `description` exactly (keyword search is fuzzy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundIssue {
    pub issue: IssueRef,
    pub description: String,
}

/// An issue as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub issue: IssueRef,
    pub summary: String,
    pub description: String,
    /// Status name as the tracker shows it.
    pub status: String,
    /// Whether `status` is one of the configured closed statuses (decided by the adapter).
    pub closed: bool,
    pub priority: String,
}

/// The status an update moves an issue to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// The tracker's initial "open" status (Backlog's built-in status 1).
    Open,
    /// A status by name, e.g. `Closed`.
    Named(String),
}

/// A change to an existing issue; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueChange {
    pub status: Option<StatusChange>,
    pub priority: Option<String>,
    pub comment: Option<String>,
}

/// Why a tracker call failed, by what the caller may do next.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The request was sent and may have taken effect (time-out or 5xx after sending): an
    /// issue may exist. Keep the create intent and search before trying again.
    #[error("{operation}: the outcome is unknown (the request may have taken effect): {message}")]
    Ambiguous {
        operation: &'static str,
        message: String,
    },
    /// It did not take effect; trying again later may help (429, connection refused…).
    #[error("{operation} failed, a retry may help: {message}")]
    Retryable {
        operation: &'static str,
        message: String,
    },
    /// It did not take effect and retrying will not help (400, 401, unknown issue…).
    #[error("{operation} failed: {message}")]
    Permanent {
        operation: &'static str,
        message: String,
    },
}

impl TrackerError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, TrackerError::Permanent { .. })
    }
}

/// An issue tracker. Implementations must never log or return secrets in errors.
#[async_trait]
pub trait IssueTracker: Send + Sync {
    async fn create_issue(&self, issue: &NewIssue) -> Result<IssueRef, TrackerError>;
    /// Keyword search for `marker` in the project's issues (a superset is fine: the caller
    /// checks the description's marker line exactly).
    async fn find_by_marker(&self, marker: &str) -> Result<Vec<FoundIssue>, TrackerError>;
    async fn get_issue(&self, key: &str) -> Result<Issue, TrackerError>;
    async fn add_comment(&self, key: &str, text: &str) -> Result<(), TrackerError>;
    async fn update_issue(&self, key: &str, change: &IssueChange) -> Result<(), TrackerError>;
}
