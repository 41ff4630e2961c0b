//! The Security Hub → Backlog safety net: the findings behind tracked issues are read back from
//! Security Hub (GetFindings by Id, ≤ 100 per call, the writer paces its 3 requests/s) and
//! those whose state moved on since their mapping last saw it — archived, resolved, reset to
//! NEW, a newer `UpdatedAt` — are queued in the inbox as backfill events. The pipeline then
//! handles them exactly as if their Imported event had been delivered (comment, close, reopen),
//! so lifecycle changes whose events were lost are not missed.
//!
//! Must not: act on the issue itself (the pipeline does), or queue a finding whose only change
//! is the Workflow we wrote ourselves (that is our echo; re-queuing it would never settle).

use std::collections::HashMap;

use chrono::Utc;
use fb_model::finding::{asff_event, parse_event_value};
use fb_store::{EventOrigin, FindingFormat, InboxEvent, IssueStatus, Mapping};
use serde::Serialize;

use super::{ClosureError, ClosureSync};
use crate::writer::FindingQuery;

/// What one [`ClosureSync::recheck_findings`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecheckReport {
    /// Tracked findings looked up.
    pub checked: usize,
    /// GetFindings calls.
    pub calls: usize,
    /// Findings whose state moved on, queued for the pipeline.
    pub queued: usize,
    /// Tracked findings Security Hub no longer returns.
    pub missing: usize,
}

impl RecheckReport {
    pub fn summary(&self) -> String {
        format!(
            "{} tracked finding(s) re-read in {} call(s): {} changed and queued, {} missing",
            self.checked, self.calls, self.queued, self.missing
        )
    }
}

/// Whether Security Hub's `finding` moved on from what `mapping` last saw.
fn moved_on(mapping: &Mapping, finding: &fb_model::finding::Finding) -> bool {
    let workflow_changed = finding.workflow_status != mapping.workflow_status
        && mapping.workflow_written.as_deref() != Some(finding.workflow_status.as_str());
    let newer = match (&finding.updated_at, &mapping.finding_updated_at) {
        (Some(new), Some(old)) => match (
            chrono::DateTime::parse_from_rfc3339(new),
            chrono::DateTime::parse_from_rfc3339(old),
        ) {
            (Ok(n), Ok(o)) => n > o,
            _ => new != old,
        },
        (Some(_), None) => true,
        _ => false,
    };
    workflow_changed || finding.record_state != mapping.record_state || newer
}

impl ClosureSync {
    /// Re-reads the findings of every tracked issue (see the module header).
    pub async fn recheck_findings(&self) -> Result<RecheckReport, ClosureError> {
        let pipeline = &self.inner.pipeline.inner;
        let mut report = RecheckReport::default();
        // ASFF only: GetFindings' Id filter is the ASFF Id (OCSF findings arrive by events).
        let mut tracked: HashMap<String, Mapping> = HashMap::new();
        for mapping in pipeline.store.mappings() {
            let mapping = mapping?;
            if mapping.issue_key.is_some()
                && mapping.issue_status != IssueStatus::Deleted
                && mapping.format == FindingFormat::Asff
            {
                tracked.insert(mapping.finding_id.clone(), mapping);
            }
        }
        let mut ids: Vec<String> = tracked.keys().cloned().collect();
        ids.sort();
        report.checked = ids.len();
        let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut seen = 0usize;
        for chunk in ids.chunks(100) {
            let mut query = FindingQuery {
                finding_ids: chunk.to_vec(),
                max_results: 100,
                ..FindingQuery::default()
            };
            loop {
                report.calls += 1;
                let page = pipeline
                    .writer
                    .get_findings(&query)
                    .await
                    .map_err(ClosureError::SecurityHub)?;
                for raw in page.findings {
                    let event = asff_event(raw, &format!("recheck-{seen}"), &time);
                    let Ok(parsed) = parse_event_value(event.clone()) else {
                        continue;
                    };
                    let Some(finding) = parsed.findings.first() else {
                        continue;
                    };
                    let Some(mapping) = tracked.get(&finding.id) else {
                        continue;
                    };
                    seen += 1;
                    if moved_on(mapping, finding) {
                        pipeline.store.inbox_insert(&InboxEvent {
                            received_at: Utc::now(),
                            origin: EventOrigin::Backfill,
                            body: event.to_string(),
                        })?;
                        tracing::info!(finding_key = %mapping.finding_key, issue = ?mapping.issue_key, record_state = %finding.record_state, workflow = %finding.workflow_status, "a tracked finding changed in Security Hub; queued");
                        report.queued += 1;
                    }
                }
                match page.next_token {
                    Some(token) if !token.is_empty() => query.next_token = Some(token),
                    _ => break,
                }
            }
        }
        report.missing = report.checked.saturating_sub(seen);
        pipeline.store.flush().await?;
        Ok(report)
    }
}
