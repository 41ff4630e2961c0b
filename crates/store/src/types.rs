//! The records the store holds, as they are serialized (serde_json) in its sled trees.
//!
//! Compatibility rule: every field added after schema v1 carries `#[serde(default)]`, so a record
//! written by an older binary keeps loading; a change old records cannot absorb that way needs a
//! schema version and a step in `migrate.rs`. Must not: hold a secret (fingerprints are HMACs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An event accepted over HTTP (or synthesized by backfill), waiting for the pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    pub received_at: DateTime<Utc>,
    pub origin: EventOrigin,
    /// The raw event JSON, exactly as received.
    pub body: String,
}

/// Where an inbox event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOrigin {
    /// Posted to `/v1/events` by an EventBridge API destination.
    Relay,
    /// Read from Security Hub by the backfill job.
    Backfill,
}

/// The finding format a mapping was last seen in; it decides the write-back API
/// (BatchUpdateFindings for ASFF, BatchUpdateFindingsV2 for OCSF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingFormat {
    Asff,
    Ocsf,
}

/// The Backlog side of a mapping, as last known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    #[default]
    Open,
    Closed,
    /// The issue no longer exists in Backlog (closure sync read a 404); Security Hub is left
    /// as it was. Added after v1: older binaries cannot read mappings in this state.
    Deleted,
}

/// One finding ↔ one Backlog issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// The finding's identity (see `fb_model::finding`): the primary key.
    pub finding_key: String,
    /// ASFF `Id` / OCSF `finding_info.uid` (indexed: `mappings show ID`).
    pub finding_id: String,
    /// ASFF `ProductArn` (identity part); OCSF `metadata.product.uid`.
    pub product_arn: Option<String>,
    /// OCSF `metadata.uid`, BatchUpdateFindingsV2's identifier. Added after v1: `None` in
    /// mappings recorded before it (and for ASFF), and then left out of the JSON so such
    /// records export as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_uid: Option<String>,
    pub format: FindingFormat,
    pub account: String,
    pub region: String,
    /// The rule that matched it.
    pub rule: String,
    pub title: String,
    /// `None` until the issue is created (indexed: `mappings show SEC-12`).
    pub issue_key: Option<String>,
    pub issue_id: Option<u64>,
    pub issue_status: IssueStatus,
    /// Severity label, e.g. `HIGH`.
    pub severity: String,
    /// `ACTIVE` | `ARCHIVED`, Security Hub side, last seen.
    pub record_state: String,
    /// `NEW` | `NOTIFIED` | `RESOLVED` | `SUPPRESSED`, last seen.
    pub workflow_status: String,
    /// The last Workflow status we wrote (echo detection, no repeated writes).
    pub workflow_written: Option<String>,
    pub finding_updated_at: Option<String>,
    pub seen_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Written (durably) before Backlog's create is called, removed once the mapping records the
/// issue. One left behind means "an issue may exist: search for its marker before creating".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateIntent {
    pub finding_key: String,
    pub rule: String,
    pub started_at: DateTime<Utc>,
    pub attempts: u32,
}

/// A pending action towards Security Hub or Backlog. Tagged by `kind` so variants can be added
/// without breaking stored records of the existing ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxItem {
    /// Set the finding's Workflow status (and a note) in Security Hub.
    WriteBack {
        finding_key: String,
        workflow: String,
        note: String,
        attempts: u32,
        last_error: Option<String>,
        created_at: DateTime<Utc>,
    },
}

impl OutboxItem {
    /// When the item was queued (for the "oldest pending" gauge).
    pub fn created_at(&self) -> DateTime<Utc> {
        match self {
            OutboxItem::WriteBack { created_at, .. } => *created_at,
        }
    }
}
