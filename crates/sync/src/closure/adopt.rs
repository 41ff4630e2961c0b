//! Adopting issues filed by direct-delivery rules (the seed's setup: EventBridge posts the
//! compiled template straight to Backlog, so nothing here saw them being created).
//!
//! Read from the issue-created activities (type 1) of the closure poll: an issue whose
//! description carries the marker line (`fb_model::template::find_marker`: the finding Id the
//! compiled template embeds) and that no mapping knows is looked up in Security Hub (one
//! batched GetFindings by Id per page), recorded as a mapping and queued NOTIFIED — so Security
//! Hub's re-emits stop matching `Workflow NEW` and the issue takes part in closure sync like a
//! relay one. A second open issue for a finding that already has one (EventBridge retried, or
//! the relay pipeline filed it) is closed with resolution Duplication and a comment naming the
//! original.
//!
//! Creations are made with our own API key (EventBridge's connection uses it), so unlike the
//! other activity types they are not skipped as echoes; issues the relay pipeline files are
//! recognised by their mapping or create intent (checked under the finding's key lock, which
//! the pipeline holds from intent to mapping). Must not: adopt while the pipeline may be
//! creating the same finding's issue, or close an issue that is already closed.

use std::collections::BTreeMap;

use chrono::Utc;
use fb_model::config::{Config, Delivery};
use fb_model::finding::{asff_event, parse_event_value, Finding};
use fb_store::{IssueStatus, Mapping, OutboxItem};

use super::source::{ActivityRef, ACTIVITY_ISSUE_CREATED};
use super::{ClosureError, ClosureReport, ClosureSync, IssueOutcome, NOTIFIED};
use crate::rules;
use crate::tracker::TrackerError;
use crate::writer::FindingQuery;

/// Whether the config has a direct-delivery rule (adoption reads creations only then).
pub(super) fn adoption_enabled(config: &Config) -> bool {
    config
        .rules
        .iter()
        .any(|r| r.enabled && r.delivery == Delivery::Direct)
}

/// A created issue carrying a marker.
struct Candidate {
    issue_key: String,
    issue_id: Option<u64>,
    marker: String,
}

impl ClosureSync {
    /// Adopts or closes as duplicates the direct-delivery issues created in `activities`.
    pub(super) async fn adopt_created(
        &self,
        activities: &[ActivityRef],
        report: &mut ClosureReport,
    ) -> Result<IssueOutcome, ClosureError> {
        let config = self.inner.pipeline.config();
        if !adoption_enabled(&config) {
            return Ok(IssueOutcome::Done);
        }
        let candidates = self.candidates(activities)?;
        if candidates.is_empty() {
            return Ok(IssueOutcome::Done);
        }
        let findings = match self.findings_by_id(&candidates).await {
            Ok(found) => found,
            Err(retry) => return Ok(IssueOutcome::Retry(retry)),
        };
        for candidate in candidates {
            let Some((finding, event)) = findings.get(&candidate.marker) else {
                tracing::warn!(issue = %candidate.issue_key, finding_id = %candidate.marker, "a direct-delivery issue names a finding Security Hub does not have; not adopted");
                report.failed += 1;
                continue;
            };
            if let IssueOutcome::Retry(e) = self
                .adopt_one(&config, &candidate, finding, event, report)
                .await?
            {
                return Ok(IssueOutcome::Retry(e));
            }
        }
        Ok(IssueOutcome::Done)
    }

    /// Created issues with a marker that no mapping records as their own.
    fn candidates(&self, activities: &[ActivityRef]) -> Result<Vec<Candidate>, ClosureError> {
        let store = &self.inner.pipeline.inner.store;
        let mut out = Vec::new();
        for activity in activities
            .iter()
            .filter(|a| a.type_id == ACTIVITY_ISSUE_CREATED)
        {
            let (Some(issue_key), Some(description)) =
                (activity.issue_keys.first(), activity.description.as_deref())
            else {
                continue;
            };
            let Some(marker) = fb_model::template::find_marker(description) else {
                continue;
            };
            let marker = marker.trim().to_string();
            let known = store
                .mapping(&marker)?
                .or(store.mapping_by_finding_id(&marker)?);
            if known.is_some_and(|m| m.issue_key.as_deref() == Some(issue_key.as_str())) {
                continue;
            }
            out.push(Candidate {
                issue_key: issue_key.clone(),
                issue_id: None,
                marker,
            });
        }
        Ok(out)
    }

    /// Security Hub's findings for the candidates' markers (finding Ids), by Id.
    async fn findings_by_id(
        &self,
        candidates: &[Candidate],
    ) -> Result<BTreeMap<String, (Finding, serde_json::Value)>, TrackerError> {
        let mut ids: Vec<String> = candidates.iter().map(|c| c.marker.clone()).collect();
        ids.sort();
        ids.dedup();
        let writer = &self.inner.pipeline.inner.writer;
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(100) {
            let mut query = FindingQuery {
                finding_ids: chunk.to_vec(),
                max_results: 100,
                ..FindingQuery::default()
            };
            loop {
                let page =
                    writer
                        .get_findings(&query)
                        .await
                        .map_err(|e| TrackerError::Retryable {
                            operation: "get_findings",
                            message: e.to_string(),
                        })?;
                for raw in page.findings {
                    let event =
                        asff_event(raw, "findings-bridge-adoption", &Utc::now().to_rfc3339());
                    if let Ok(parsed) = parse_event_value(event.clone()) {
                        for f in parsed.findings {
                            found.insert(f.id.clone(), (f, event.clone()));
                        }
                    }
                }
                match page.next_token {
                    Some(token) => query.next_token = Some(token),
                    None => break,
                }
            }
        }
        Ok(found)
    }

    async fn adopt_one(
        &self,
        config: &Config,
        candidate: &Candidate,
        finding: &Finding,
        event: &serde_json::Value,
        report: &mut ClosureReport,
    ) -> Result<IssueOutcome, ClosureError> {
        let pipeline = &self.inner.pipeline.inner;
        let _guard = pipeline.keys.lock(&finding.key).await;
        if pipeline.store.intent(&finding.key)?.is_some() {
            // The relay pipeline is creating this finding's issue: it decides.
            return Ok(IssueOutcome::Done);
        }
        if let Some(existing) = pipeline.store.mapping(&finding.key)? {
            match existing.issue_key.as_deref() {
                Some(key) if key == candidate.issue_key => return Ok(IssueOutcome::Done),
                Some(original) => {
                    return self
                        .close_duplicate(candidate, original, finding, report)
                        .await;
                }
                None => {}
            }
        }
        let rule = config
            .rules
            .iter()
            .filter(|r| r.enabled && r.delivery == Delivery::Direct)
            .find(|r| rules::rule_matches(r, finding, event))
            .or_else(|| {
                config
                    .rules
                    .iter()
                    .find(|r| r.enabled && r.delivery == Delivery::Direct)
            });
        let now = Utc::now();
        let url = format!(
            "{}/view/{}",
            config.backlog.base_url.trim_end_matches('/'),
            candidate.issue_key
        );
        pipeline.store.push_outbox(&OutboxItem::WriteBack {
            finding_key: finding.key.clone(),
            workflow: NOTIFIED.to_string(),
            note: format!("Backlog {} {url}", candidate.issue_key),
            attempts: 0,
            last_error: None,
            created_at: now,
        })?;
        pipeline.store.put_mapping(&Mapping {
            finding_key: finding.key.clone(),
            finding_id: finding.id.clone(),
            product_arn: finding.product_arn.clone(),
            metadata_uid: finding.metadata_uid.clone(),
            format: match finding.format {
                fb_model::finding::FindingFormat::Ocsf => fb_store::FindingFormat::Ocsf,
                _ => fb_store::FindingFormat::Asff,
            },
            account: finding.account.clone(),
            region: finding.region.clone(),
            rule: rule.map(|r| r.name.clone()).unwrap_or_default(),
            title: finding.title.clone(),
            issue_key: Some(candidate.issue_key.clone()),
            issue_id: candidate.issue_id,
            issue_status: IssueStatus::Open,
            severity: finding.severity.as_str().to_string(),
            record_state: finding.record_state.clone(),
            workflow_status: finding.workflow_status.clone(),
            workflow_written: None,
            finding_updated_at: finding.updated_at.clone(),
            seen_count: 1,
            created_at: now,
            updated_at: now,
        })?;
        tracing::info!(issue = %candidate.issue_key, finding_key = %finding.key, "direct-delivery issue adopted");
        report.adopted += 1;
        Ok(IssueOutcome::Done)
    }

    async fn close_duplicate(
        &self,
        candidate: &Candidate,
        original: &str,
        finding: &Finding,
        report: &mut ClosureReport,
    ) -> Result<IssueOutcome, ClosureError> {
        let source = &self.inner.source;
        let closed = &self.inner.policy.closed_status_ids;
        match source.issue_view(&candidate.issue_key).await {
            Ok(Some(view)) if !closed.contains(&view.status.id) => {}
            Ok(_) => return Ok(IssueOutcome::Done),
            Err(e) if e.is_permanent() => {
                report.failed += 1;
                return Ok(IssueOutcome::Done);
            }
            Err(e) => return Ok(IssueOutcome::Retry(e)),
        }
        let comment = format!(
            "Duplicate of {original}: the same finding ({}). Closed by findings-bridge.",
            finding.id
        );
        match source.close_duplicate(&candidate.issue_key, &comment).await {
            Ok(()) => {
                tracing::info!(issue = %candidate.issue_key, original, "duplicate issue closed");
                report.duplicates_closed += 1;
                Ok(IssueOutcome::Done)
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(issue = %candidate.issue_key, error = %e, "cannot close a duplicate issue");
                report.failed += 1;
                Ok(IssueOutcome::Done)
            }
            Err(e) => Ok(IssueOutcome::Retry(e)),
        }
    }
}
