//! Security Hub, as far as the pipeline needs it: workflow write-backs and the finding search
//! behind backfill. A trait so the pipeline is tested against [`crate::testing::FakeWriter`];
//! the daemon adapts `fb_aws`'s Security Hub client (BatchUpdateFindings(V2), GetFindings and
//! their rate limits) to it. Must not: know AWS SDK types.

use async_trait::async_trait;
use fb_store::FindingFormat;
use serde_json::Value;

/// Set one finding's Workflow status with a note (`Note.UpdatedBy` is `findings-bridge`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowUpdate {
    /// The pipeline's key; results refer to findings by it.
    pub finding_key: String,
    /// ASFF `Id`; OCSF `finding_info.uid`.
    pub finding_id: String,
    /// ASFF `ProductArn`; OCSF `metadata.product.uid`.
    pub product_arn: Option<String>,
    /// OCSF `metadata.uid`; `None` for ASFF and for mappings recorded before it was kept.
    pub metadata_uid: Option<String>,
    /// The finding's account (OCSF `CloudAccountUid`).
    pub account: String,
    /// ASFF → BatchUpdateFindings (`Id` + `ProductArn`); OCSF → BatchUpdateFindingsV2 by
    /// `MetadataUids` = `metadata_uid`, or when that is unknown by
    /// `FindingIdentifiers{CloudAccountUid, FindingInfoUid, MetadataProductUid}` =
    /// (`account`, `finding_id`, `product_arn`).
    pub format: FindingFormat,
    /// `NOTIFIED`, `RESOLVED`, `SUPPRESSED`, `NEW`.
    pub workflow: String,
    /// At most 512 characters once sent (the writer clips).
    pub note: String,
}

/// A finding Security Hub did not update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprocessed {
    pub finding_key: String,
    /// Security Hub's `ErrorCode`, e.g. `ConcurrentUpdateError`, `FindingNotFound`.
    pub code: String,
    pub message: String,
    /// `ConcurrentUpdateError`, `InternalFailure`, throttling: true.
    pub retryable: bool,
}

/// The outcome of one batch (partial success is normal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// Finding keys updated.
    pub processed: Vec<String>,
    pub unprocessed: Vec<Unprocessed>,
}

/// GetFindings filters for backfill: fields AND, values within a field OR, empty = any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingQuery {
    /// ASFF `Id`s (resolving unfinished create intents); empty = any.
    pub finding_ids: Vec<String>,
    pub product_names: Vec<String>,
    pub workflow_statuses: Vec<String>,
    pub record_states: Vec<String>,
    /// 1–100.
    pub max_results: u32,
    pub next_token: Option<String>,
}

/// One page of GetFindings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingsPage {
    /// ASFF-shaped finding objects (parsed with `fb_model::finding` like delivered ones).
    pub findings: Vec<Value>,
    pub next_token: Option<String>,
}

/// Why a whole Security Hub call failed.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("{operation} failed, a retry may help: {message}")]
    Retryable {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} failed: {message}")]
    Permanent {
        operation: &'static str,
        message: String,
    },
}

impl WriterError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, WriterError::Retryable { .. })
    }
}

/// Security Hub for the pipeline.
#[async_trait]
pub trait FindingsWriter: Send + Sync {
    /// At most 100 updates, all of one `format` (the pipeline batches so).
    async fn batch_update(&self, updates: &[WorkflowUpdate]) -> Result<BatchResult, WriterError>;
    /// One page of findings (the implementation respects GetFindings' 3 requests/s).
    async fn get_findings(&self, query: &FindingQuery) -> Result<FindingsPage, WriterError>;
}
