//! Closure sync in the daemon: the Backlog client as `fb_sync::closure::ActivitySource`, the
//! policy (configured names → ids), the `closure_sync` schedule job (a poll; also at start),
//! and the webhook hint loop (each hint naming an issue → `ClosureSync::hint`; a hint without
//! a single issue, e.g. a type-14 bulk update, → a poll, which reads its `content.link[]`).
//!
//! Must not: act on a webhook payload's content beyond the issue key (payloads are unsigned;
//! closure sync re-reads the issue), or log the webhook token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use fb_backlog::{ActivityQuery, CallError, Client, IssueUpdate, Order, ResolvedNames};
use fb_model::config::Config;
use fb_sync::closure::{ActivityRef, ActivitySource, ClosurePolicy, IssueView, Named};
use fb_sync::TrackerError;
use tokio::sync::watch;

use crate::app::Shared;
use crate::backend::chain;
use crate::schedule::JobFn;

const UPDATED: i64 = fb_sync::closure::ACTIVITY_ISSUE_UPDATED;
const DELETED: i64 = fb_sync::closure::ACTIVITY_ISSUE_DELETED;
const BULK_UPDATED: i64 = fb_sync::closure::ACTIVITY_ISSUES_BULK_UPDATED;

/// Backlog's built-in resolution "Duplication" (names are localized; ids are not).
const DUPLICATION: i64 = 3;

/// `fb_backlog::Client` for one project, as closure sync reads it.
#[derive(Debug, Clone)]
pub struct BacklogActivities {
    client: Client,
    project: String,
    /// The first of `backlog.closed_statuses` (duplicates are closed into it).
    close_status: Option<i64>,
    duplication: i64,
}

impl BacklogActivities {
    pub fn new(client: Client, config: &Config, names: &ResolvedNames) -> Self {
        let close_status = config
            .backlog
            .closed_statuses
            .first()
            .and_then(|n| names.status_ids.get(n).copied());
        BacklogActivities {
            client,
            project: config.backlog.project.clone(),
            close_status,
            duplication: names
                .resolution_ids
                .get("Duplication")
                .copied()
                .unwrap_or(DUPLICATION),
        }
    }
}

fn tracker_error(operation: &'static str, e: &CallError) -> TrackerError {
    let message = chain(e);
    if e.is_retryable() {
        TrackerError::Retryable { operation, message }
    } else {
        TrackerError::Permanent { operation, message }
    }
}

#[async_trait]
impl ActivitySource for BacklogActivities {
    async fn own_user_id(&self) -> Result<i64, TrackerError> {
        self.client
            .myself()
            .await
            .map(|u| u.id)
            .map_err(|e| tracker_error("myself", &e))
    }

    async fn activities(
        &self,
        min_id: Option<i64>,
        types: &[i64],
    ) -> Result<Vec<ActivityRef>, TrackerError> {
        let query = ActivityQuery {
            type_ids: types.to_vec(),
            min_id,
            max_id: None,
            count: None,
            order: Order::Asc,
        };
        let page = self
            .client
            .project_activities(&self.project, &query)
            .await
            .map_err(|e| tracker_error("project_activities", &e))?;
        Ok(page
            .iter()
            .map(|a| ActivityRef {
                id: a.id,
                type_id: a.type_id,
                user_id: a.created_user.as_ref().map(|u| u.id),
                issue_keys: a.issue_keys(),
                description: a.content.description.clone(),
            })
            .collect())
    }

    async fn close_duplicate(&self, key: &str, comment: &str) -> Result<(), TrackerError> {
        const OP: &str = "close_duplicate";
        let Some(status) = self.close_status else {
            return Err(TrackerError::Permanent {
                operation: OP,
                message: "backlog.closed_statuses names no status of the project".into(),
            });
        };
        let update = IssueUpdate {
            status_id: Some(status),
            resolution_id: Some(self.duplication),
            priority_id: None,
            comment: Some(comment.to_owned()),
        };
        self.client
            .update_issue(key, &update)
            .await
            .map(|_| ())
            .map_err(|e| tracker_error(OP, &e))
    }

    async fn issue_view(&self, key: &str) -> Result<Option<IssueView>, TrackerError> {
        let issue = self
            .client
            .get_issue(key)
            .await
            .map_err(|e| tracker_error("get_issue", &e))?;
        Ok(issue.map(|i| IssueView {
            key: i.issue_key,
            status: Named {
                id: i.status.id,
                name: i.status.name,
            },
            resolution: i.resolution.map(|r| Named {
                id: r.id,
                name: r.name,
            }),
            updated_by: i.updated_user.map(|u| u.name),
        }))
    }
}

/// `backlog.closed_statuses` and `backlog.suppress_resolutions` as ids (name resolution
/// already refused names that do not exist).
pub fn policy(config: &Config, names: &ResolvedNames) -> ClosurePolicy {
    let ids = |wanted: &[String], map: &std::collections::BTreeMap<String, i64>| {
        wanted
            .iter()
            .filter_map(|n| map.get(n).copied())
            .collect::<BTreeSet<i64>>()
    };
    ClosurePolicy {
        closed_status_ids: ids(&config.backlog.closed_statuses, &names.status_ids),
        suppress_resolution_ids: ids(&config.backlog.suppress_resolutions, &names.resolution_ids),
    }
}

/// The `closure_sync` job: one poll.
pub(crate) fn job(shared: &Arc<Shared>) -> JobFn {
    let shared = shared.clone();
    Arc::new(move || {
        let shared = shared.clone();
        Box::pin(async move {
            let closure = shared
                .engine()
                .and_then(|e| e.closure())
                .ok_or("closure sync is not available")?;
            let report = closure.poll().await.map_err(|e| chain(&e))?;
            Ok(report.summary())
        })
    })
}

/// Acts on webhook hints as they arrive, until `stop`.
pub(crate) async fn hints(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = shared.hint_wake.notified() => {}
            _ = stop.changed() => return,
        }
        let Some(closure) = shared.engine().and_then(|e| e.closure()) else {
            // Not ready yet: the hints stay queued and the first poll covers them anyway.
            continue;
        };
        let hints = shared.take_hints();
        let mut keys = BTreeMap::new();
        let mut poll = false;
        for hint in hints {
            match (hint.activity_type, hint.issue_key) {
                (Some(UPDATED | DELETED), Some(key)) => {
                    // Several hints for one issue: one re-read, an echo only if all are ours.
                    let actor = keys.entry(key).or_insert(hint.user_id);
                    if *actor != hint.user_id {
                        *actor = None;
                    }
                }
                (Some(UPDATED | DELETED | BULK_UPDATED), _) => poll = true,
                // Other activity types (comments, notifications…) cannot close an issue.
                _ => {}
            }
        }
        for (key, actor) in keys {
            if let Err(e) = closure.hint(&key, actor).await {
                tracing::warn!(issue = %key, error = %chain(&e), "webhook hint not handled; the next poll covers it");
            }
        }
        if poll {
            if let Err(e) = closure.poll().await {
                tracing::warn!(error = %chain(&e), "closure sync poll after a webhook failed; the schedule retries");
            }
        }
    }
}
