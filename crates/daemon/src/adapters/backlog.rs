//! `fb_backlog::Client` as the pipeline's [`IssueTracker`]: configured names (issue types,
//! priorities, statuses) become ids resolved once at prepare time, and every HTTP attempt is
//! counted into the metrics.
//!
//! Must not: log a key or a URL with its query (the Backlog client redacts its own errors).

use std::sync::Arc;

use async_trait::async_trait;
use fb_backlog::{CallObserver, CallOutcome, Client, CreateError, ResolvedNames};
use fb_model::config::Config;
use fb_sync::{
    FoundIssue, Issue, IssueChange, IssueRef, IssueTracker, NewIssue, StatusChange, TrackerError,
};

use crate::backend::chain;
use crate::metrics::Metrics;

/// Backlog's built-in "Open" status id (statuses are localized; ids are not).
const STATUS_OPEN: i64 = 1;

/// Counts every Backlog HTTP attempt into the metrics.
#[derive(Debug)]
pub(crate) struct BacklogMetrics(pub(crate) Arc<Metrics>);

impl CallObserver for BacklogMetrics {
    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        let outcome = match outcome {
            CallOutcome::Success => "ok",
            CallOutcome::NotFound => "not_found",
            CallOutcome::Rejected => "rejected",
            CallOutcome::RateLimited => "rate_limited",
            CallOutcome::ServerError => "server_error",
            CallOutcome::TransportError => "transport_error",
            CallOutcome::Paced => "paced",
        };
        if matches!(outcome, "rate_limited" | "paced") {
            self.0
                .rate_limit_waits
                .get_or_create(&crate::metrics::ServiceLabels {
                    service: "backlog".into(),
                })
                .inc();
        }
        self.0.backlog_call(operation, outcome);
    }
}

/// The Backlog client as the pipeline's issue tracker.
#[derive(Debug, Clone)]
pub struct BacklogTracker {
    client: Client,
    names: ResolvedNames,
    /// Ids of `backlog.closed_statuses`.
    closed_ids: Vec<i64>,
    /// `https://space.backlog.jp`, for issue links.
    space_url: String,
}

impl BacklogTracker {
    pub fn new(client: Client, names: ResolvedNames, config: &Config) -> Self {
        let closed_ids = config
            .backlog
            .closed_statuses
            .iter()
            .filter_map(|n| names.status_ids.get(n).copied())
            .collect();
        BacklogTracker {
            client,
            names,
            closed_ids,
            space_url: config.backlog.base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn issue_ref(&self, issue: &fb_backlog::Issue) -> IssueRef {
        IssueRef {
            key: issue.issue_key.clone(),
            id: u64::try_from(issue.id).unwrap_or_default(),
            url: format!("{}/view/{}", self.space_url, issue.issue_key),
        }
    }

    fn id_of(
        map: &std::collections::BTreeMap<String, i64>,
        kind: &str,
        name: &str,
        operation: &'static str,
    ) -> Result<i64, TrackerError> {
        map.get(name)
            .copied()
            .ok_or_else(|| TrackerError::Permanent {
                operation,
                message: format!("{kind} {name:?} was not resolved from the configuration"),
            })
    }
}

fn call_error(operation: &'static str, e: &fb_backlog::CallError) -> TrackerError {
    let message = chain(e);
    if e.is_retryable() {
        TrackerError::Retryable { operation, message }
    } else {
        TrackerError::Permanent { operation, message }
    }
}

#[async_trait]
impl IssueTracker for BacklogTracker {
    async fn create_issue(&self, issue: &NewIssue) -> Result<IssueRef, TrackerError> {
        const OP: &str = "create_issue";
        let new = fb_backlog::NewIssue {
            project_id: self.names.project_id,
            summary: issue.summary.clone(),
            description: issue.description.clone(),
            issue_type_id: Self::id_of(
                &self.names.issue_type_ids,
                "issue type",
                &issue.issue_type,
                OP,
            )?,
            priority_id: Self::id_of(&self.names.priority_ids, "priority", &issue.priority, OP)?,
        };
        match self.client.create_issue(&new).await {
            Ok(created) => Ok(self.issue_ref(&created)),
            Err(e @ CreateError::Ambiguous { .. }) => Err(TrackerError::Ambiguous {
                operation: OP,
                message: chain(&e),
            }),
            Err(CreateError::Failed(e)) => Err(call_error(OP, &e)),
        }
    }

    async fn find_by_marker(&self, marker: &str) -> Result<Vec<FoundIssue>, TrackerError> {
        let query = fb_backlog::IssueQuery {
            project_ids: vec![self.names.project_id],
            keyword: Some(marker.to_owned()),
            count: Some(fb_backlog::MAX_COUNT),
            ..Default::default()
        };
        let issues = self
            .client
            .list_issues(&query)
            .await
            .map_err(|e| call_error("find_by_marker", &e))?;
        Ok(issues
            .iter()
            .map(|i| FoundIssue {
                issue: self.issue_ref(i),
                description: i.description.clone(),
            })
            .collect())
    }

    async fn get_issue(&self, key: &str) -> Result<Issue, TrackerError> {
        const OP: &str = "get_issue";
        let issue = self
            .client
            .get_issue(key)
            .await
            .map_err(|e| call_error(OP, &e))?
            .ok_or_else(|| TrackerError::Permanent {
                operation: OP,
                message: format!("issue {key} does not exist"),
            })?;
        Ok(Issue {
            issue: self.issue_ref(&issue),
            summary: issue.summary.clone(),
            description: issue.description.clone(),
            status: issue.status.name.clone(),
            closed: self.closed_ids.contains(&issue.status.id),
            priority: issue.priority.name.clone(),
        })
    }

    async fn add_comment(&self, key: &str, text: &str) -> Result<(), TrackerError> {
        self.client
            .add_comment(key, text)
            .await
            .map(|_| ())
            .map_err(|e| call_error("add_comment", &e))
    }

    async fn update_issue(&self, key: &str, change: &IssueChange) -> Result<(), TrackerError> {
        const OP: &str = "update_issue";
        let status_id = match &change.status {
            None => None,
            Some(StatusChange::Open) => Some(STATUS_OPEN),
            Some(StatusChange::Named(name)) => {
                Some(Self::id_of(&self.names.status_ids, "status", name, OP)?)
            }
        };
        let priority_id = match &change.priority {
            None => None,
            Some(name) => Some(Self::id_of(&self.names.priority_ids, "priority", name, OP)?),
        };
        let update = fb_backlog::IssueUpdate {
            status_id,
            resolution_id: None,
            priority_id,
            comment: change.comment.clone(),
        };
        self.client
            .update_issue(key, &update)
            .await
            .map(|_| ())
            .map_err(|e| call_error(OP, &e))
    }
}
