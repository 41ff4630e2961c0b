//! What closure sync needs from Backlog beyond [`crate::IssueTracker`]: the project's issue
//! activities after a cursor, our own user id (to skip our own echoes), and an issue's current
//! status and resolution by id. A trait so closure sync is tested against
//! [`super::fake::FakeBacklog`]; the daemon adapts `fb_backlog::Client` to it.
//!
//! Must not: carry HTTP details, or interpret statuses (that is [`super::decide`]'s job).

use async_trait::async_trait;

use crate::tracker::TrackerError;

/// Backlog activity types closure sync reads: issue updated, deleted, bulk-updated.
pub const CLOSURE_ACTIVITY_TYPES: [i64; 3] = [
    ACTIVITY_ISSUE_UPDATED,
    ACTIVITY_ISSUE_DELETED,
    ACTIVITY_ISSUES_BULK_UPDATED,
];
/// With direct-delivery rules, issue creations are read too (adoption, see `adopt.rs`).
pub const ADOPTION_ACTIVITY_TYPES: [i64; 4] = [
    ACTIVITY_ISSUE_CREATED,
    ACTIVITY_ISSUE_UPDATED,
    ACTIVITY_ISSUE_DELETED,
    ACTIVITY_ISSUES_BULK_UPDATED,
];
pub const ACTIVITY_ISSUE_CREATED: i64 = 1;
pub const ACTIVITY_ISSUE_UPDATED: i64 = 2;
pub const ACTIVITY_ISSUE_DELETED: i64 = 4;
pub const ACTIVITY_ISSUES_BULK_UPDATED: i64 = 14;

/// Activities per page (Backlog's maximum `count`).
pub const ACTIVITY_PAGE: usize = 100;

/// One project activity, reduced to what closure sync reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRef {
    pub id: i64,
    pub type_id: i64,
    /// `createdUser.id`: who did it (our own user → an echo).
    pub user_id: Option<i64>,
    /// `PROJECT-N` of every issue it touches (type 14: each `content.link[]`).
    pub issue_keys: Vec<String>,
    /// `content.description` (type 1: the created issue's, where its marker line is).
    pub description: Option<String>,
}

/// An id and its (possibly localized) display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// An issue's state as re-read from Backlog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueView {
    pub key: String,
    pub status: Named,
    pub resolution: Option<Named>,
    /// `updatedUser.name`: who made the last change (the closer, for a close).
    pub updated_by: Option<String>,
}

/// Backlog as closure sync reads it. Implementations never log or return secrets.
#[async_trait]
pub trait ActivitySource: Send + Sync {
    /// The numeric id of the user whose API key we use (`GET /users/myself`).
    async fn own_user_id(&self) -> Result<i64, TrackerError>;
    /// One page (≤ [`ACTIVITY_PAGE`]) of the project's activities of `types`, oldest first,
    /// starting at `min_id` (`None`: the oldest). Whether `min_id` itself is included is
    /// unverified; the caller skips ids it has done.
    async fn activities(
        &self,
        min_id: Option<i64>,
        types: &[i64],
    ) -> Result<Vec<ActivityRef>, TrackerError>;
    /// The issue now; `Ok(None)` when it does not exist (deleted: 404).
    async fn issue_view(&self, key: &str) -> Result<Option<IssueView>, TrackerError>;
    /// Closes `key` in the first closed status with resolution Duplication and `comment`
    /// (direct-delivery adoption: a second issue for one finding).
    async fn close_duplicate(&self, key: &str, comment: &str) -> Result<(), TrackerError>;
}
