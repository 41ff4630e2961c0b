//! Lifecycle actions on the issue of a known finding: it returned (reopen / comment / new issue
//! per `on_recurrence`), it went away in Security Hub (archived by its provider, or resolved
//! outside Backlog: a comment, and the issue closed when `close_issue_on` says so), or its
//! severity rose (a comment and the new priority). Each action is followed by a mapping write
//! of the state it consumed, so a retry does not repeat it.
//!
//! Must not: act on stale deliveries (the caller checks `UpdatedAt` first).

use chrono::Utc;
use fb_model::config::{CloseOn, Config, OnRecurrence, Rule};
use fb_model::finding::{Finding, Severity, UPDATED_BY};
use fb_store::{IssueStatus, Mapping};
use serde_json::Value;

use super::{Outcome, Pipeline, ProcessError};
use crate::rules;
use crate::stats::PipelineStats;
use crate::tracker::{IssueChange, StatusChange};

impl Pipeline {
    /// The finding is back (Security Hub reset it to NEW, or it is ACTIVE again): act on its
    /// issue per `on_recurrence` when the issue is closed, and mark it NOTIFIED again.
    /// Returns `Known` when done (the caller goes on), else the outcome to report.
    pub(super) async fn on_return(
        &self,
        config: &Config,
        rule: Option<&Rule>,
        finding: &Finding,
        event: &Value,
        mapping: &mut Mapping,
    ) -> Result<Outcome, ProcessError> {
        let tracker = &self.inner.tracker;
        let issue_key = mapping.issue_key.clone().unwrap_or_default();
        let issue = match tracker.get_issue(&issue_key).await {
            Ok(issue) => issue,
            Err(error) => {
                tracing::warn!(finding_key = %finding.key, issue = %issue_key, %error, "cannot read the issue of a returning finding");
                return Ok(if error.is_permanent() {
                    Outcome::Failed
                } else {
                    Outcome::Retry
                });
            }
        };
        let text = format!(
            "The finding is back in Security Hub (Workflow {}, RecordState {}, updated {}).",
            finding.workflow_status,
            finding.record_state,
            finding.updated_at.as_deref().unwrap_or("-"),
        );
        let action = match (issue.closed, config.backlog.on_recurrence, rule) {
            (false, _, _) => Ok(()),
            (true, OnRecurrence::NewIssue, Some(rule)) => {
                return match self
                    .create(config, rule, finding, event, Some(&issue_key))
                    .await?
                {
                    Outcome::Created | Outcome::Adopted => Ok(Outcome::Created),
                    other => Ok(other),
                };
            }
            (true, OnRecurrence::Reopen, _) => {
                let change = IssueChange {
                    status: Some(StatusChange::Open),
                    priority: None,
                    comment: Some(format!("{text} Reopened by findings-bridge.")),
                };
                let done = tracker.update_issue(&issue_key, &change).await;
                if done.is_ok() {
                    mapping.issue_status = IssueStatus::Open;
                    PipelineStats::bump(&self.inner.stats.issues_reopened);
                }
                done
            }
            // `comment`, or `new_issue` for a finding whose rule is gone (no template).
            (true, _, _) => {
                let done = tracker.add_comment(&issue_key, &text).await;
                if done.is_ok() {
                    PipelineStats::bump(&self.inner.stats.recurrence_comments);
                }
                done
            }
        };
        if let Err(error) = action {
            tracing::warn!(finding_key = %finding.key, issue = %issue_key, %error, "cannot act on the issue of a returning finding");
            if !error.is_permanent() {
                return Ok(Outcome::Retry);
            }
        }
        self.push_notified(&finding.key, &issue.issue)?;
        mapping.record_state = finding.record_state.clone();
        mapping.workflow_status = finding.workflow_status.clone();
        mapping.workflow_written = None;
        mapping.finding_updated_at = finding.updated_at.clone();
        mapping.updated_at = Utc::now();
        self.inner.store.put_mapping(mapping)?;
        Ok(Outcome::Known)
    }

    /// Comment (and the new priority when it follows severity). `false` = retry later.
    pub(super) async fn raise_severity(
        &self,
        config: &Config,
        rule: Option<&Rule>,
        finding: &Finding,
        old: Severity,
        mapping: &Mapping,
    ) -> bool {
        let issue_key = mapping.issue_key.as_deref().unwrap_or_default();
        let priority = rules::priority_follows_severity(rule)
            .then(|| rules::priority_for(config, rule, finding.severity))
            .filter(|p| *p != rules::priority_for(config, rule, old));
        let mut comment = format!(
            "Severity raised from {old} to {} in Security Hub (updated {}).",
            finding.severity,
            finding.updated_at.as_deref().unwrap_or("-")
        );
        if let Some(p) = &priority {
            comment.push_str(&format!(" Priority set to {p}."));
        }
        let change = IssueChange {
            status: None,
            priority,
            comment: Some(comment),
        };
        match self.inner.tracker.update_issue(issue_key, &change).await {
            Ok(()) => {
                PipelineStats::bump(&self.inner.stats.severity_raised);
                true
            }
            Err(error) if error.is_permanent() => {
                // Retrying cannot help; record the new severity anyway so it is not retried.
                tracing::error!(finding_key = %finding.key, issue = issue_key, %error, "cannot record a raised severity on the issue");
                true
            }
            Err(error) => {
                tracing::warn!(finding_key = %finding.key, issue = issue_key, %error, "severity update failed; retrying later");
                false
            }
        }
    }

    /// The finding went away in Security Hub: a comment on its issue, and the issue closed
    /// (first of `backlog.closed_statuses`) when `close_issue_on` names the reason.
    pub(super) async fn on_gone(
        &self,
        config: &Config,
        finding: &Finding,
        why: Gone,
        mapping: &mut Mapping,
    ) -> Result<Outcome, ProcessError> {
        let issue_key = mapping.issue_key.clone().unwrap_or_default();
        let (reason, text) = match why {
            Gone::Archived => (
                CloseOn::Archived,
                format!(
                    "The finding was archived by its provider in Security Hub (updated {}).",
                    finding.updated_at.as_deref().unwrap_or("-")
                ),
            ),
            Gone::Resolved => (
                CloseOn::Resolved,
                format!(
                    "The finding was resolved outside Backlog (Workflow RESOLVED{}, updated {}).",
                    finding
                        .compliance_status
                        .as_deref()
                        .map(|c| format!(", Compliance {c}"))
                        .unwrap_or_default(),
                    finding.updated_at.as_deref().unwrap_or("-")
                ),
            ),
        };
        let close_to = config
            .backlog
            .close_issue_on
            .contains(&reason)
            .then(|| config.backlog.closed_statuses.first().cloned())
            .flatten()
            .filter(|_| mapping.issue_status == IssueStatus::Open);
        let tracker = &self.inner.tracker;
        let done = match &close_to {
            Some(status) => {
                let change = IssueChange {
                    status: Some(StatusChange::Named(status.clone())),
                    priority: None,
                    comment: Some(format!("{text} Closed by findings-bridge.")),
                };
                tracker.update_issue(&issue_key, &change).await
            }
            None => tracker.add_comment(&issue_key, &text).await,
        };
        match done {
            Ok(()) => {
                if close_to.is_some() {
                    mapping.issue_status = IssueStatus::Closed;
                    PipelineStats::bump(&self.inner.stats.issues_closed);
                } else {
                    PipelineStats::bump(&self.inner.stats.lifecycle_comments);
                }
            }
            Err(error) if error.is_permanent() => {
                tracing::error!(finding_key = %finding.key, issue = %issue_key, %error, "cannot note a finding that went away on its issue");
            }
            Err(error) => {
                tracing::warn!(finding_key = %finding.key, issue = %issue_key, %error, "lifecycle update failed; retrying later");
                return Ok(Outcome::Retry);
            }
        }
        mapping.record_state = finding.record_state.clone();
        mapping.workflow_status = finding.workflow_status.clone();
        mapping.finding_updated_at = finding.updated_at.clone();
        mapping.updated_at = Utc::now();
        self.inner.store.put_mapping(mapping)?;
        Ok(Outcome::Known)
    }
}

/// Our own write-back coming back (the caller has checked `UpdatedAt` is unchanged): the
/// note is ours or the Workflow is the one we wrote, and nothing else we track changed.
pub(super) fn is_echo(finding: &Finding, mapping: &Mapping) -> bool {
    let ours = finding.note_updated_by.as_deref() == Some(UPDATED_BY)
        || mapping.workflow_written.as_deref() == Some(finding.workflow_status.as_str());
    ours && finding.severity.as_str() == mapping.severity
        && finding.record_state == mapping.record_state
}

/// Why a known finding went away in Security Hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gone {
    /// RecordState ACTIVE → ARCHIVED (the provider archived it).
    Archived,
    /// Workflow RESOLVED, not written by us (e.g. a control back to PASSED).
    Resolved,
}

/// Whether the finding just went away (compared with the mapping's last seen state).
pub(super) fn gone(finding: &Finding, mapping: &Mapping) -> Option<Gone> {
    if finding.record_state == "ARCHIVED" && mapping.record_state != "ARCHIVED" {
        return Some(Gone::Archived);
    }
    // Only what we wrote says "ours": Security Hub keeps our NOTIFIED note when it resolves a
    // control back to PASSED, so the note's author cannot tell.
    let ours = mapping.workflow_written.as_deref() == Some("RESOLVED");
    (finding.workflow_status == "RESOLVED" && mapping.workflow_status != "RESOLVED" && !ours)
        .then_some(Gone::Resolved)
}

/// NEW again after we (or someone) moved it on, or ACTIVE again after ARCHIVED.
pub(super) fn returned(finding: &Finding, mapping: &Mapping) -> bool {
    let moved_on = |s: &str| matches!(s, "NOTIFIED" | "RESOLVED");
    let was_moved_on = mapping.workflow_written.as_deref().is_some_and(moved_on)
        || moved_on(&mapping.workflow_status);
    (finding.workflow_status == "NEW" && was_moved_on)
        || (finding.record_state == "ACTIVE" && mapping.record_state == "ARCHIVED")
}

/// The Security Hub side of a mapping's state machine, one transition per case.
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use fb_model::finding::FindingFormat;

    fn finding(workflow: &str, record: &str, severity: Severity, note: Option<&str>) -> Finding {
        Finding {
            key: "k".into(),
            id: "k".into(),
            product_arn: None,
            metadata_uid: None,
            format: FindingFormat::Asff,
            product_name: "GuardDuty".into(),
            finding_type: String::new(),
            title: String::new(),
            description: String::new(),
            severity,
            account: String::new(),
            region: String::new(),
            source_url: None,
            resource_type: None,
            resource_id: None,
            created_at: None,
            updated_at: None,
            workflow_status: workflow.into(),
            record_state: record.into(),
            compliance_status: None,
            note_updated_by: note.map(str::to_string),
            count: None,
        }
    }

    fn mapping(workflow: &str, written: Option<&str>, record: &str) -> Mapping {
        Mapping {
            finding_key: "k".into(),
            finding_id: "k".into(),
            product_arn: None,
            metadata_uid: None,
            format: fb_store::FindingFormat::Asff,
            account: String::new(),
            region: String::new(),
            rule: "r".into(),
            title: String::new(),
            issue_key: Some("SEC-1".into()),
            issue_id: Some(1),
            issue_status: IssueStatus::Open,
            severity: "HIGH".into(),
            record_state: record.into(),
            workflow_status: workflow.into(),
            workflow_written: written.map(str::to_string),
            finding_updated_at: None,
            seen_count: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    const H: Severity = Severity::High;
    const US: Option<&str> = Some(UPDATED_BY);

    #[test]
    fn echoes() {
        let written = mapping("NEW", Some("NOTIFIED"), "ACTIVE");
        assert!(is_echo(&finding("NOTIFIED", "ACTIVE", H, US), &written));
        assert!(
            is_echo(&finding("NOTIFIED", "ACTIVE", H, None), &written),
            "OCSF: no UpdatedBy"
        );
        let unwritten = mapping("NEW", None, "ACTIVE");
        assert!(
            is_echo(&finding("NOTIFIED", "ACTIVE", H, US), &unwritten),
            "before mark_written"
        );
        assert!(
            !is_echo(&finding("NEW", "ACTIVE", H, None), &unwritten),
            "a plain repeat"
        );
        assert!(
            !is_echo(&finding("NOTIFIED", "ARCHIVED", H, US), &written),
            "archived too"
        );
        assert!(!is_echo(
            &finding("NOTIFIED", "ACTIVE", Severity::Critical, US),
            &written
        ));
    }

    #[test]
    fn returns() {
        let notified = mapping("NOTIFIED", Some("NOTIFIED"), "ACTIVE");
        assert!(returned(&finding("NEW", "ACTIVE", H, US), &notified));
        assert!(returned(
            &finding("NEW", "ACTIVE", H, None),
            &mapping("RESOLVED", None, "ACTIVE")
        ));
        assert!(returned(
            &finding("NEW", "ACTIVE", H, None),
            &mapping("NEW", Some("RESOLVED"), "ACTIVE")
        ));
        assert!(returned(
            &finding("NOTIFIED", "ACTIVE", H, US),
            &mapping("NOTIFIED", Some("NOTIFIED"), "ARCHIVED")
        ));
        assert!(
            !returned(
                &finding("NEW", "ACTIVE", H, None),
                &mapping("NEW", None, "ACTIVE")
            ),
            "never moved on"
        );
        assert!(!returned(&finding("NOTIFIED", "ACTIVE", H, US), &notified));
        assert!(
            !returned(
                &finding("NEW", "ACTIVE", H, None),
                &mapping("SUPPRESSED", None, "ACTIVE")
            ),
            "suppressed is not reset by Security Hub"
        );
    }

    #[test]
    fn goes_away() {
        let notified = mapping("NOTIFIED", Some("NOTIFIED"), "ACTIVE");
        assert_eq!(
            gone(&finding("NOTIFIED", "ARCHIVED", H, US), &notified),
            Some(Gone::Archived)
        );
        assert_eq!(
            gone(
                &finding("NOTIFIED", "ARCHIVED", H, US),
                &mapping("NOTIFIED", None, "ARCHIVED")
            ),
            None,
            "already archived"
        );
        assert_eq!(
            gone(
                &finding("RESOLVED", "ACTIVE", H, Some("someone")),
                &notified
            ),
            Some(Gone::Resolved)
        );
        assert_eq!(
            gone(&finding("RESOLVED", "ACTIVE", H, US), &notified),
            Some(Gone::Resolved),
            "Security Hub resolved a control back to PASSED and kept our NOTIFIED note"
        );
        assert_eq!(
            gone(
                &finding("RESOLVED", "ACTIVE", H, None),
                &mapping("NOTIFIED", Some("RESOLVED"), "ACTIVE")
            ),
            None
        );
        assert_eq!(
            gone(
                &finding("RESOLVED", "ACTIVE", H, None),
                &mapping("RESOLVED", None, "ACTIVE")
            ),
            None,
            "already seen"
        );
        assert_eq!(gone(&finding("NOTIFIED", "ACTIVE", H, US), &notified), None);
    }
}
