//! The Security Hub client of the `security_hub` account and region: workflow write-back
//! (BatchUpdateFindings for ASFF, BatchUpdateFindingsV2 for OCSF) and GetFindings for backfill,
//! each behind a client-side rate limiter.
//!
//! Note, Workflow (and V2 Comment, StatusId) apply to every finding of one request, so updates
//! are grouped by (workflow, note) and each group is sent in chunks of ≤ 100 findings. Partial
//! failures come back per finding with a retryable flag.
//!
//! Must not: retry (the caller's outbox does, using `retryable`), or decide what a finding's
//! status should be.

mod asff;
mod v2;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, DateFilter, DateRange, DateRangeUnit,
    NoteUpdate, StringFilter, StringFilterComparison, WorkflowStatus,
    WorkflowUpdate as SdkWorkflowUpdate,
};
use fb_model::config::types::SecurityHub;

pub use self::asff::finding_to_asff;
pub use self::v2::{OcsfIdentifier, OcsfUpdate};
use crate::error::{error_chain, is_retryable_code, AwsCallError, CallContext};
use crate::limiter::RateLimiter;
use crate::session::{SessionError, Sessions};

/// `Note.UpdatedBy` of our writes: marks our own echoes.
pub const UPDATED_BY: &str = "findings-bridge";
/// Findings per BatchUpdateFindings(V2) request.
pub const MAX_BATCH: usize = 100;
/// `Note.Text` and V2 `Comment` length limit, in characters.
pub const MAX_NOTE_CHARS: usize = 512;
/// GetFindings page size limit.
pub const MAX_RESULTS: u32 = 100;

/// The workflow statuses findings-bridge sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workflow {
    New,
    Notified,
    Resolved,
    Suppressed,
}

impl Workflow {
    fn sdk(self) -> WorkflowStatus {
        match self {
            Workflow::New => WorkflowStatus::New,
            Workflow::Notified => WorkflowStatus::Notified,
            Workflow::Resolved => WorkflowStatus::Resolved,
            Workflow::Suppressed => WorkflowStatus::Suppressed,
        }
    }

    /// OCSF `status_id` (the mapping AWS's Automated Security Response uses).
    pub fn ocsf_status_id(self) -> i32 {
        match self {
            Workflow::New => 1,
            Workflow::Notified => 2,
            Workflow::Suppressed => 3,
            Workflow::Resolved => 4,
        }
    }
}

/// One ASFF finding's new workflow status and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowUpdate {
    pub finding_id: String,
    pub product_arn: String,
    pub workflow: Workflow,
    /// Clipped to 512 characters; `None` or empty leaves the note alone.
    pub note: Option<String>,
}

/// A finding Security Hub did not update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprocessed {
    pub finding_id: String,
    pub code: String,
    pub message: String,
    /// A later attempt may succeed (throttling, concurrent update, internal error).
    pub retryable: bool,
}

/// Per-finding results of a batch update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub processed: Vec<String>,
    pub unprocessed: Vec<Unprocessed>,
    /// Requests sent.
    pub calls: usize,
}

/// GetFindings filters: each list is OR-ed (EQUALS), lists are AND-ed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingFilters {
    pub ids: Vec<String>,
    pub product_names: Vec<String>,
    pub severity_labels: Vec<String>,
    pub record_states: Vec<String>,
    pub workflow_statuses: Vec<String>,
    /// Only findings updated in the last N days.
    pub updated_within_days: Option<u32>,
}

/// One page of GetFindings, each finding as an ASFF-shaped JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingsPage {
    pub findings: Vec<serde_json::Value>,
    pub next_token: Option<String>,
}

/// Why GetFindings failed.
#[derive(Debug, thiserror::Error)]
pub enum SecurityHubError {
    #[error("GetFindings max_results must be 1..=100, not {0}")]
    MaxResults(u32),
    #[error("cannot read findings from Security Hub")]
    GetFindings {
        #[source]
        source: AwsCallError,
    },
}

impl SecurityHubError {
    pub fn retryable(&self) -> bool {
        matches!(self, SecurityHubError::GetFindings { source } if source.retryable)
    }
}

/// Security Hub in one account and region (the administrator's aggregation region).
#[derive(Clone, Debug)]
pub struct SecurityHubClient {
    client: aws_sdk_securityhub::Client,
    get_limiter: Arc<RateLimiter>,
    update_limiter: Arc<RateLimiter>,
}

impl SecurityHubClient {
    /// Assumes `accounts.role` in the Security Hub account (like every other account).
    pub async fn connect(sessions: &Sessions, hub: &SecurityHub) -> Result<Self, SessionError> {
        let session = sessions.for_account(&hub.account).await?;
        Ok(Self::from_client(session.securityhub(&hub.region)))
    }

    /// A client with the documented rate limits: GetFindings 3/s, BatchUpdateFindings 10/s.
    pub fn from_client(client: aws_sdk_securityhub::Client) -> Self {
        SecurityHubClient {
            client,
            get_limiter: Arc::new(RateLimiter::new(3, 3)),
            update_limiter: Arc::new(RateLimiter::new(10, 10)),
        }
    }

    /// Sets workflow (and note) of ASFF findings; never fails as a whole: a failed request
    /// marks its findings unprocessed.
    pub async fn batch_update_workflow(&self, updates: Vec<WorkflowUpdate>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        for ((workflow, note), ids) in group(updates, |u| {
            (
                (u.workflow, clip_note(u.note.as_deref())),
                (u.finding_id, u.product_arn),
            )
        }) {
            for chunk in ids.chunks(MAX_BATCH) {
                self.update_limiter.acquire().await;
                outcome.calls += 1;
                self.send_v1(workflow, note.as_deref(), chunk, &mut outcome)
                    .await;
            }
        }
        outcome
    }

    async fn send_v1(
        &self,
        workflow: Workflow,
        note: Option<&str>,
        chunk: &[(String, String)],
        outcome: &mut BatchOutcome,
    ) {
        let mut req = self
            .client
            .batch_update_findings()
            .workflow(SdkWorkflowUpdate::builder().status(workflow.sdk()).build());
        for (id, product_arn) in chunk {
            req = req.finding_identifiers(
                AwsSecurityFindingIdentifier::builder()
                    .id(id)
                    .product_arn(product_arn)
                    .build(),
            );
        }
        if let Some(text) = note {
            req = req.note(
                NoteUpdate::builder()
                    .text(text)
                    .updated_by(UPDATED_BY)
                    .build(),
            );
        }
        match req.send().await.op("securityhub:BatchUpdateFindings") {
            Ok(out) => {
                outcome.processed.extend(
                    out.processed_findings()
                        .iter()
                        .filter_map(|f| f.id().map(str::to_owned)),
                );
                outcome
                    .unprocessed
                    .extend(out.unprocessed_findings().iter().map(|u| {
                        unprocessed(
                            u.finding_identifier().and_then(|f| f.id()),
                            u.error_code(),
                            u.error_message(),
                        )
                    }));
            }
            Err(e) => request_failed(&e, chunk.iter().map(|(id, _)| id), outcome),
        }
    }

    /// One page of findings (waits for the GetFindings rate limit first).
    pub async fn get_findings(
        &self,
        filters: &FindingFilters,
        max_results: u32,
        next_token: Option<String>,
    ) -> Result<FindingsPage, SecurityHubError> {
        if !(1..=MAX_RESULTS).contains(&max_results) {
            return Err(SecurityHubError::MaxResults(max_results));
        }
        self.get_limiter.acquire().await;
        let out = self
            .client
            .get_findings()
            .filters(sdk_filters(filters))
            .max_results(max_results as i32)
            .set_next_token(next_token)
            .send()
            .await
            .op("securityhub:GetFindings")
            .map_err(|source| SecurityHubError::GetFindings { source })?;
        Ok(FindingsPage {
            findings: out.findings().iter().map(finding_to_asff).collect(),
            next_token: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }
}

/// Groups items by a request-level key, keeping first-seen order of keys and items, and
/// dropping repeats of an item within its group (Security Hub refuses a finding listed twice
/// in one request with `DuplicatedFindingIdentifier`; the repeat would change nothing).
fn group<T, K: Ord + Clone, V: PartialEq>(
    items: Vec<T>,
    split: impl Fn(T) -> (K, V),
) -> Vec<(K, Vec<V>)> {
    let mut order: Vec<K> = Vec::new();
    let mut groups: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for item in items {
        let (key, value) = split(item);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        let values = groups.entry(key).or_default();
        if !values.contains(&value) {
            values.push(value);
        }
    }
    order
        .into_iter()
        .map(|k| {
            let v = groups.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}

/// At most 512 characters; empty → `None` (Security Hub rejects an empty note).
pub fn clip_note(text: Option<&str>) -> Option<String> {
    let text = text?.trim_end();
    if text.is_empty() {
        return None;
    }
    Some(text.chars().take(MAX_NOTE_CHARS).collect())
}

/// Codes of unprocessed findings that a later attempt can get past.
fn retryable_finding_code(code: &str) -> bool {
    is_retryable_code(code) || code == "ConflictException"
}

fn unprocessed(id: Option<&str>, code: Option<&str>, message: Option<&str>) -> Unprocessed {
    let code = code.unwrap_or("Unknown").to_owned();
    Unprocessed {
        finding_id: id.unwrap_or_default().to_owned(),
        retryable: retryable_finding_code(&code),
        code,
        message: message.unwrap_or_default().to_owned(),
    }
}

/// A whole request failed: every finding in it is unprocessed with the request's error.
fn request_failed<'a>(
    err: &AwsCallError,
    ids: impl Iterator<Item = &'a String>,
    outcome: &mut BatchOutcome,
) {
    let message = error_chain(err);
    tracing::warn!(operation = err.operation, retryable = err.retryable, error = %message, "Security Hub update failed");
    let code = err
        .code
        .clone()
        .unwrap_or_else(|| "RequestFailed".to_owned());
    outcome.unprocessed.extend(ids.map(|id| Unprocessed {
        finding_id: id.clone(),
        code: code.clone(),
        message: message.clone(),
        retryable: err.retryable,
    }));
}

fn sdk_filters(f: &FindingFilters) -> AwsSecurityFindingFilters {
    let equals = |values: &[String]| -> Option<Vec<StringFilter>> {
        (!values.is_empty()).then(|| {
            values
                .iter()
                .map(|v| {
                    StringFilter::builder()
                        .value(v)
                        .comparison(StringFilterComparison::Equals)
                        .build()
                })
                .collect()
        })
    };
    AwsSecurityFindingFilters::builder()
        .set_id(equals(&f.ids))
        .set_product_name(equals(&f.product_names))
        .set_severity_label(equals(&f.severity_labels))
        .set_record_state(equals(&f.record_states))
        .set_workflow_status(equals(&f.workflow_statuses))
        .set_updated_at(f.updated_within_days.map(|days| {
            vec![DateFilter::builder()
                .date_range(
                    DateRange::builder()
                        .value(i32::try_from(days).unwrap_or(i32::MAX))
                        .unit(DateRangeUnit::Days)
                        .build(),
                )
                .build()]
        }))
        .build()
}

#[cfg(test)]
mod tests;
