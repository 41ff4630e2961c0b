//! Handling one finding: a new one gets an issue (idempotently, through a create intent); a
//! known one never does — it is recorded, and lifecycle changes act on its existing issue
//! ([`super::lifecycle`]); our own write-back echoes change nothing.
//!
//! Idempotency: a durable [`CreateIntent`] is written before `create_issue`. When an intent is
//! already there (an earlier attempt timed out, or the process died after creating), the tracker
//! is searched for the marker line first — once the attempt is `intent_settle` old, so the
//! issue has had time to be indexed — and the hit checked exactly; found → adopted, not
//! created again. Every Backlog action is followed by a mapping write, so a retry does not
//! repeat it.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use fb_model::config::{Config, Rule};
use fb_model::finding::{Finding, FindingFormat, Severity};
use fb_model::template;
use fb_store::{CreateIntent, IssueStatus, Mapping, OutboxItem};
use serde_json::Value;

use super::{Outcome, Pipeline, ProcessError};
use crate::rules;
use crate::stats::PipelineStats;
use crate::tracker::{IssueRef, TrackerError};

use super::lifecycle::{gone, is_echo, returned};

/// The Workflow status written once a finding has its issue.
pub(crate) const NOTIFIED: &str = "NOTIFIED";

impl Pipeline {
    pub(super) async fn handle_finding(
        &self,
        config: &Config,
        finding: &Finding,
        event: &Value,
    ) -> Result<Outcome, ProcessError> {
        let existing = self.inner.store.mapping(&finding.key)?;
        if let Some(mapping) = existing.filter(|m| m.issue_key.is_some()) {
            return self.handle_known(config, finding, event, mapping).await;
        }
        match rules::select_rule(config, finding, event) {
            Some(rule) => self.create(config, rule, finding, event, None).await,
            None => {
                PipelineStats::bump(&self.inner.stats.findings_ignored);
                Ok(Outcome::Ignored)
            }
        }
    }

    /// Creates the finding's issue unless an earlier attempt already did (see module header).
    /// `exclude` is an older issue of the same finding that must not be adopted (`new_issue`
    /// on recurrence).
    pub(super) async fn create(
        &self,
        config: &Config,
        rule: &Rule,
        finding: &Finding,
        event: &Value,
        exclude: Option<&str>,
    ) -> Result<Outcome, ProcessError> {
        let store = &self.inner.store;
        let key = finding.key.as_str();
        let prior = store.intent(key)?;
        if let Some(prior) = &prior {
            let settle = chrono::Duration::from_std(self.inner.settings.intent_settle)
                .unwrap_or(chrono::Duration::MAX);
            if Utc::now() - prior.started_at < settle {
                tracing::debug!(
                    finding_key = key,
                    "unfinished create too recent to search for"
                );
                return Ok(Outcome::Retry);
            }
            match self.search_marker(key, exclude).await {
                Ok(Some(issue)) => {
                    tracing::info!(finding_key = key, issue = %issue.key, "unfinished create resolved: the issue exists");
                    self.record_issue(rule, finding, &issue)?;
                    PipelineStats::bump(&self.inner.stats.issues_adopted);
                    return Ok(Outcome::Adopted);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(finding_key = key, %error, "cannot search for an unfinished create; retrying later");
                    return Ok(Outcome::Retry);
                }
            }
        }
        let intent = CreateIntent {
            finding_key: key.to_string(),
            rule: rule.name.clone(),
            // This attempt's start: the settle time counts from the latest attempt.
            started_at: Utc::now(),
            attempts: prior.as_ref().map_or(0, |i| i.attempts) + 1,
        };
        store.put_intent(&intent).await?;
        let new_issue = rules::new_issue(config, rule, finding, event);
        match self.inner.tracker.create_issue(&new_issue).await {
            Ok(issue) => {
                self.record_issue(rule, finding, &issue)?;
                PipelineStats::bump(&self.inner.stats.issues_created);
                tracing::info!(finding_key = key, issue = %issue.key, rule = %rule.name, "issue created");
                Ok(Outcome::Created)
            }
            Err(error @ TrackerError::Ambiguous { .. }) => {
                tracing::warn!(finding_key = key, %error, "create may have happened; the intent stays and the next attempt searches first");
                Ok(Outcome::Retry)
            }
            Err(error) => {
                if prior.is_none() {
                    // This attempt certainly created nothing and no earlier one exists.
                    store.remove_intent(key)?;
                }
                if error.is_permanent() {
                    tracing::error!(finding_key = key, %error, "cannot create the issue; dropping this delivery");
                    PipelineStats::bump(&self.inner.stats.findings_failed);
                    Ok(Outcome::Failed)
                } else {
                    tracing::warn!(finding_key = key, %error, "create failed; retrying later");
                    Ok(Outcome::Retry)
                }
            }
        }
    }

    /// The issue carrying this finding's marker line exactly (not `exclude`), if any.
    async fn search_marker(
        &self,
        key: &str,
        exclude: Option<&str>,
    ) -> Result<Option<IssueRef>, TrackerError> {
        let hits = self
            .inner
            .tracker
            .find_by_marker(&template::marker_line(key))
            .await?;
        Ok(hits
            .into_iter()
            .filter(|hit| template::find_marker(&hit.description) == Some(key))
            .filter(|hit| Some(hit.issue.key.as_str()) != exclude)
            .min_by_key(|hit| hit.issue.id)
            .map(|hit| hit.issue))
    }

    /// Outbox write-back first, then the mapping, then the intent goes: a crash in between
    /// leaves the intent, and the next attempt finds the issue by its marker.
    fn record_issue(
        &self,
        rule: &Rule,
        finding: &Finding,
        issue: &IssueRef,
    ) -> Result<(), ProcessError> {
        let store = &self.inner.store;
        let now = Utc::now();
        self.push_notified(&finding.key, issue)?;
        let previous = store.mapping(&finding.key)?;
        store.put_mapping(&Mapping {
            finding_key: finding.key.clone(),
            finding_id: finding.id.clone(),
            product_arn: finding.product_arn.clone(),
            // An ASFF delivery of a finding first seen as OCSF keeps the uid it had.
            metadata_uid: finding
                .metadata_uid
                .clone()
                .or_else(|| previous.as_ref().and_then(|m| m.metadata_uid.clone())),
            format: store_format(finding.format),
            account: finding.account.clone(),
            region: finding.region.clone(),
            rule: rule.name.clone(),
            title: finding.title.clone(),
            issue_key: Some(issue.key.clone()),
            issue_id: Some(issue.id),
            issue_status: IssueStatus::Open,
            severity: finding.severity.as_str().to_string(),
            record_state: finding.record_state.clone(),
            workflow_status: finding.workflow_status.clone(),
            workflow_written: None,
            finding_updated_at: finding.updated_at.clone(),
            seen_count: previous.as_ref().map_or(0, |m| m.seen_count) + 1,
            created_at: previous.map_or(now, |m| m.created_at),
            updated_at: now,
        })?;
        store.remove_intent(&finding.key)?;
        Ok(())
    }

    pub(super) fn push_notified(
        &self,
        finding_key: &str,
        issue: &IssueRef,
    ) -> Result<(), ProcessError> {
        self.inner.store.push_outbox(&OutboxItem::WriteBack {
            finding_key: finding_key.to_string(),
            workflow: NOTIFIED.to_string(),
            note: format!("Backlog {} {}", issue.key, issue.url),
            attempts: 0,
            last_error: None,
            created_at: Utc::now(),
        })?;
        Ok(())
    }

    /// A finding that already has its issue.
    async fn handle_known(
        &self,
        config: &Config,
        finding: &Finding,
        event: &Value,
        mut mapping: Mapping,
    ) -> Result<Outcome, ProcessError> {
        let store = &self.inner.store;
        let rule = config.rules.iter().find(|r| r.name == mapping.rule);
        let age = compare_times(
            finding.updated_at.as_deref(),
            mapping.finding_updated_at.as_deref(),
        );
        if age == Ordering::Less {
            // Older than what we recorded (reordered delivery): never regress the state.
            PipelineStats::bump(&self.inner.stats.duplicates_absorbed);
            return Ok(Outcome::Known);
        }
        if age == Ordering::Equal && is_echo(finding, &mapping) {
            PipelineStats::bump(&self.inner.stats.echoes);
            return Ok(Outcome::Echo);
        }

        // A mapping recorded before `metadata_uid` was kept learns it from the next delivery.
        if mapping.metadata_uid.is_none() && finding.metadata_uid.is_some() {
            mapping.metadata_uid = finding.metadata_uid.clone();
        }

        if age == Ordering::Greater && returned(finding, &mapping) {
            match self
                .on_return(config, rule, finding, event, &mut mapping)
                .await?
            {
                Outcome::Known => {}
                other => return Ok(other),
            }
        }

        if let Some(why) = gone(finding, &mapping) {
            if self.on_gone(config, finding, why, &mut mapping).await? == Outcome::Retry {
                return Ok(Outcome::Retry);
            }
        }

        let old = Severity::from_label(&mapping.severity).unwrap_or(Severity::Informational);
        if finding.severity > old {
            if !self
                .raise_severity(config, rule, finding, old, &mapping)
                .await
            {
                return Ok(Outcome::Retry);
            }
            mapping.severity = finding.severity.as_str().to_string();
            mapping.updated_at = Utc::now();
            store.put_mapping(&mapping)?;
        }

        mapping.severity = finding.severity.as_str().to_string();
        mapping.record_state = finding.record_state.clone();
        mapping.workflow_status = finding.workflow_status.clone();
        if finding.updated_at.is_some() {
            mapping.finding_updated_at = finding.updated_at.clone();
        }
        mapping.seen_count += 1;
        mapping.updated_at = Utc::now();
        store.put_mapping(&mapping)?;
        PipelineStats::bump(&self.inner.stats.duplicates_absorbed);
        Ok(Outcome::Known)
    }
}

/// Orders two `UpdatedAt` values; unknown or unparsable ones compare as equal, except that
/// any time is newer than none.
fn compare_times(new: Option<&str>, old: Option<&str>) -> Ordering {
    match (new, old) {
        (Some(n), Some(o)) => match (
            DateTime::parse_from_rfc3339(n),
            DateTime::parse_from_rfc3339(o),
        ) {
            (Ok(n), Ok(o)) => n.cmp(&o),
            _ => n.cmp(o),
        },
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// Raw GuardDuty findings live in Security Hub as ASFF (Id = their ARN).
fn store_format(format: FindingFormat) -> fb_store::FindingFormat {
    match format {
        FindingFormat::Ocsf => fb_store::FindingFormat::Ocsf,
        FindingFormat::Asff | FindingFormat::GuardDuty => fb_store::FindingFormat::Asff,
    }
}
