//! An in-memory [`ActivitySource`] for closure sync tests (here and in the daemon's): issues
//! with status and resolution, a project activity log whose ids grow, call counts, injected
//! failures, and both readings of the unverified `minId` (inclusive or exclusive).
//!
//! Must not: be used outside tests (nothing here persists).

use std::sync::Mutex;

use async_trait::async_trait;

use super::source::{
    ActivityRef, ActivitySource, IssueView, Named, ACTIVITY_ISSUES_BULK_UPDATED,
    ACTIVITY_ISSUE_CREATED, ACTIVITY_ISSUE_DELETED, ACTIVITY_ISSUE_UPDATED, ACTIVITY_PAGE,
};
use crate::tracker::TrackerError;

/// Our own user's id in the fake.
pub const OWN_USER: i64 = 1;
/// A human's id in the fake.
pub const HUMAN: i64 = 2;

#[derive(Debug, Default)]
struct State {
    issues: Vec<IssueView>,
    activities: Vec<ActivityRef>,
    next_activity: i64,
    min_id_exclusive: bool,
    fail_issue_reads: usize,
    activity_calls: usize,
    issue_calls: usize,
    /// (issue key, comment) of each `close_duplicate`.
    duplicates: Vec<(String, String)>,
}

/// See the module header. Statuses: 1 Open, 4 Closed; resolutions 0 Fixed, 1 Won't Fix.
#[derive(Debug, Default)]
pub struct FakeBacklog {
    state: Mutex<State>,
}

fn locked(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeBacklog {
    pub fn new() -> FakeBacklog {
        let fake = FakeBacklog::default();
        locked(&fake.state).next_activity = 1000;
        fake
    }

    /// Treat `minId` as exclusive (the default fake includes it).
    pub fn set_min_id_exclusive(&self, exclusive: bool) {
        locked(&self.state).min_id_exclusive = exclusive;
    }

    /// The next `times` issue reads fail with a retryable error.
    pub fn fail_issue_reads(&self, times: usize) {
        locked(&self.state).fail_issue_reads = times;
    }

    /// Adds an open issue (no activity: creation is type 1, which closure sync does not read).
    pub fn add_issue(&self, key: &str) {
        locked(&self.state).issues.push(IssueView {
            key: key.to_string(),
            status: Named {
                id: 1,
                name: "Open".into(),
            },
            resolution: None,
            updated_by: None,
        });
    }

    /// `user` sets the status (and resolution) of `key`: one type-2 activity.
    pub fn set_status(
        &self,
        key: &str,
        user: i64,
        status: (i64, &str),
        resolution: Option<(i64, &str)>,
    ) {
        let mut state = locked(&self.state);
        if let Some(issue) = state.issues.iter_mut().find(|i| i.key == key) {
            issue.status = Named {
                id: status.0,
                name: status.1.into(),
            };
            issue.resolution = resolution.map(|(id, name)| Named {
                id,
                name: name.into(),
            });
            issue.updated_by = Some(format!("user{user}"));
        }
        push(
            &mut state,
            ACTIVITY_ISSUE_UPDATED,
            user,
            vec![key.to_string()],
        );
    }

    /// `user` creates an open issue with `description`: one type-1 activity carrying it (as
    /// EventBridge does in direct delivery, with our own API key).
    pub fn create(&self, key: &str, description: &str, user: i64) {
        self.add_issue(key);
        let mut state = locked(&self.state);
        push(
            &mut state,
            ACTIVITY_ISSUE_CREATED,
            user,
            vec![key.to_string()],
        );
        if let Some(last) = state.activities.last_mut() {
            last.description = Some(description.to_string());
        }
    }

    /// `(issue key, comment)` of each duplicate closed through [`ActivitySource::close_duplicate`].
    pub fn duplicates(&self) -> Vec<(String, String)> {
        locked(&self.state).duplicates.clone()
    }

    /// `user` closes every key in one bulk update: one type-14 activity.
    pub fn bulk_close(&self, keys: &[&str], user: i64, resolution: (i64, &str)) {
        let mut state = locked(&self.state);
        for issue in state
            .issues
            .iter_mut()
            .filter(|i| keys.contains(&i.key.as_str()))
        {
            issue.status = Named {
                id: 4,
                name: "Closed".into(),
            };
            issue.resolution = Some(Named {
                id: resolution.0,
                name: resolution.1.into(),
            });
            issue.updated_by = Some(format!("user{user}"));
        }
        let keys = keys.iter().map(|k| k.to_string()).collect();
        push(&mut state, ACTIVITY_ISSUES_BULK_UPDATED, user, keys);
    }

    /// `user` deletes `key`: one type-4 activity; reads answer "not found".
    pub fn delete(&self, key: &str, user: i64) {
        let mut state = locked(&self.state);
        state.issues.retain(|i| i.key != key);
        push(
            &mut state,
            ACTIVITY_ISSUE_DELETED,
            user,
            vec![key.to_string()],
        );
    }

    /// `(activity pages read, issue reads)`.
    pub fn calls(&self) -> (usize, usize) {
        let state = locked(&self.state);
        (state.activity_calls, state.issue_calls)
    }
}

fn push(state: &mut State, type_id: i64, user: i64, issue_keys: Vec<String>) {
    state.next_activity += 1;
    let id = state.next_activity;
    state.activities.push(ActivityRef {
        id,
        type_id,
        user_id: Some(user),
        issue_keys,
        description: None,
    });
}

#[async_trait]
impl ActivitySource for FakeBacklog {
    async fn own_user_id(&self) -> Result<i64, TrackerError> {
        Ok(OWN_USER)
    }

    async fn activities(
        &self,
        min_id: Option<i64>,
        types: &[i64],
    ) -> Result<Vec<ActivityRef>, TrackerError> {
        let mut state = locked(&self.state);
        state.activity_calls += 1;
        let exclusive = state.min_id_exclusive;
        Ok(state
            .activities
            .iter()
            .filter(|a| types.contains(&a.type_id))
            .filter(|a| match min_id {
                None => true,
                Some(m) if exclusive => a.id > m,
                Some(m) => a.id >= m,
            })
            .take(ACTIVITY_PAGE)
            .cloned()
            .collect())
    }

    async fn issue_view(&self, key: &str) -> Result<Option<IssueView>, TrackerError> {
        let mut state = locked(&self.state);
        state.issue_calls += 1;
        if state.fail_issue_reads > 0 {
            state.fail_issue_reads -= 1;
            return Err(TrackerError::Retryable {
                operation: "get_issue",
                message: "injected failure".into(),
            });
        }
        Ok(state.issues.iter().find(|i| i.key == key).cloned())
    }

    async fn close_duplicate(&self, key: &str, comment: &str) -> Result<(), TrackerError> {
        locked(&self.state)
            .duplicates
            .push((key.to_string(), comment.to_string()));
        self.set_status(key, OWN_USER, (4, "Closed"), Some((3, "Duplication")));
        Ok(())
    }
}
