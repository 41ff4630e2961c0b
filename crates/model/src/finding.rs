//! EventBridge events carrying findings → one [`Finding`] model.
//!
//! Three shapes arrive (aws-facts §1): ASFF `Security Hub Findings - Imported`, OCSF
//! `Findings Imported V2` (both from `aws.securityhub`), and raw `GuardDuty Finding`
//! (`aws.guardduty`). [`parse_event`] checks the envelope and turns every finding in it into a
//! [`Finding`]; an [`EventError`] says precisely what is wrong (the HTTP layer answers 400 with it).
//!
//! # Identity: the finding key
//!
//! The key is what a mapping (finding ↔ issue) is stored under, and what the issue marker carries.
//! A GuardDuty finding has ONE identity in all three formats: its ARN is the ASFF `Id`, the OCSF
//! `finding_info.uid` and the raw `detail.arn`. So the scheme is:
//!
//! - ASFF: `Id` when it is an ARN (`arn:…`; GuardDuty, Security Hub controls, Inspector…), else
//!   `ProductArn|Id` (ASFF identity is the pair; a non-ARN Id is only unique per product).
//! - OCSF: `finding_info.uid` when it is an ARN, else `metadata.uid` (the OCSF identity).
//! - raw GuardDuty: `detail.arn`.
//!
//! So the same GuardDuty finding has the same key whichever format delivered it. The identifiers
//! needed to write back to Security Hub stay on the finding: `id` + `product_arn` (ASFF, and raw
//! GuardDuty, whose Security Hub product ARN is derived from its region and partition) and
//! `metadata_uid` (OCSF, for BatchUpdateFindingsV2).
//!
//! Must not: do IO, or trust the envelope's `resources[]` for identity (the ASFF fixture's
//! names another finding).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Note.UpdatedBy` of every write-back: marks our own echoes.
pub const UPDATED_BY: &str = "findings-bridge";

/// Which shape a finding arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingFormat {
    Asff,
    Ocsf,
    GuardDuty,
}

/// Severity labels, ordered from least to most severe (so "raised" is `>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// `CRITICAL`…`INFORMATIONAL`, case-insensitive.
    pub fn from_label(label: &str) -> Option<Severity> {
        [
            Severity::Informational,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(label))
    }

    /// ASFF `Severity.Normalized` (0–100): 0, 1–39, 40–69, 70–89, 90–100 (`API_Severity`).
    pub fn from_normalized(n: f64) -> Severity {
        match n {
            n if n < 1.0 => Severity::Informational,
            n if n < 40.0 => Severity::Low,
            n if n < 70.0 => Severity::Medium,
            n if n < 90.0 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// OCSF `severity_id`: 1 Informational … 5 Critical, 6 Fatal counts as critical; 0 Unknown
    /// and 99 Other carry no severity, so they rank lowest.
    pub fn from_ocsf_id(id: i64) -> Severity {
        match id {
            2 => Severity::Low,
            3 => Severity::Medium,
            4 => Severity::High,
            5 | 6 => Severity::Critical,
            _ => Severity::Informational,
        }
    }

    /// GuardDuty's numeric severity: Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
    pub fn from_guardduty(n: f64) -> Severity {
        match n {
            n if n < 1.0 => Severity::Informational,
            n if n < 4.0 => Severity::Low,
            n if n < 7.0 => Severity::Medium,
            n if n < 9.0 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One EventBridge event with its findings.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: String,
    pub detail_type: String,
    pub source: String,
    /// Empty when the envelope lacks it (moto's events do).
    pub account: String,
    pub region: String,
    pub time: String,
    pub findings: Vec<Finding>,
    /// The whole event as received, for rule patterns and per-rule `vars`.
    pub raw: Value,
}

/// One finding, whatever format carried it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// See the module header: identical for a GuardDuty finding in every format.
    pub key: String,
    /// ASFF `Id`, OCSF `finding_info.uid` (else `metadata.uid`), raw GuardDuty `arn`.
    pub id: String,
    /// ASFF `ProductArn`; OCSF `metadata.product.uid`; raw GuardDuty: derived Security Hub ARN.
    pub product_arn: Option<String>,
    /// OCSF `metadata.uid` (BatchUpdateFindingsV2 identity).
    pub metadata_uid: Option<String>,
    pub format: FindingFormat,
    pub product_name: String,
    pub finding_type: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub account: String,
    pub region: String,
    pub source_url: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// NEW | NOTIFIED | RESOLVED | SUPPRESSED (raw GuardDuty: NEW).
    pub workflow_status: String,
    /// ACTIVE | ARCHIVED.
    pub record_state: String,
    pub compliance_status: Option<String>,
    pub note_updated_by: Option<String>,
    /// GuardDuty's occurrence count, when the event carries it.
    pub count: Option<u64>,
}

/// Why a body is not an event we handle.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("the body is JSON but not an object")]
    NotAnObject,
    #[error("the event has no string field `{field}`")]
    MissingField { field: &'static str },
    #[error("unsupported event: detail-type `{detail_type}` from source `{source_name}` (expected `Security Hub Findings - Imported` or `Findings Imported V2` from aws.securityhub, or `GuardDuty Finding` from aws.guardduty)")]
    UnknownDetailType {
        detail_type: String,
        source_name: String,
    },
    #[error("the event has no `detail` object")]
    NoDetail,
    #[error("the event carries no findings (`detail.findings` is missing or empty)")]
    NoFindings,
    #[error("finding {index} is not an object")]
    FindingNotObject { index: usize },
    #[error("finding {index} has no string field `{field}`")]
    MissingFindingField { index: usize, field: &'static str },
}

/// Parses one EventBridge event body (see the module header for the accepted shapes).
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let raw: Value = serde_json::from_slice(body).map_err(EventError::NotJson)?;
    parse_event_value(raw)
}

/// [`parse_event`] for an already parsed value.
pub fn parse_event_value(raw: Value) -> Result<Event, EventError> {
    let obj = raw.as_object().ok_or(EventError::NotAnObject)?;
    let field = |name: &'static str| obj.get(name).and_then(Value::as_str);
    let detail_type = field("detail-type")
        .ok_or(EventError::MissingField {
            field: "detail-type",
        })?
        .to_string();
    let source = field("source")
        .ok_or(EventError::MissingField { field: "source" })?
        .to_string();
    let detail = obj.get("detail").ok_or(EventError::NoDetail)?;
    if !detail.is_object() {
        return Err(EventError::NoDetail);
    }
    let findings = match (source.as_str(), detail_type.as_str()) {
        ("aws.securityhub", "Security Hub Findings - Imported") => {
            each_finding(detail, parse_asff)?
        }
        ("aws.securityhub", "Findings Imported V2") => each_finding(detail, parse_ocsf)?,
        ("aws.guardduty", "GuardDuty Finding") => vec![parse_guardduty(detail, 0)?],
        _ => {
            return Err(EventError::UnknownDetailType {
                detail_type,
                source_name: source,
            })
        }
    };
    Ok(Event {
        id: field("id").unwrap_or_default().to_string(),
        account: field("account").unwrap_or_default().to_string(),
        region: field("region").unwrap_or_default().to_string(),
        time: field("time").unwrap_or_default().to_string(),
        detail_type,
        source,
        findings,
        raw,
    })
}

/// Wraps one ASFF finding (from GetFindings) as a `Security Hub Findings - Imported` event,
/// so backfilled findings travel the same path as delivered ones.
pub fn asff_event(finding: Value, event_id: &str, time: &str) -> Value {
    let text = |k: &str| finding.get(k).and_then(Value::as_str).unwrap_or_default();
    serde_json::json!({
        "version": "0",
        "id": event_id,
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": text("AwsAccountId"),
        "time": time,
        "region": text("Region"),
        "resources": [],
        "detail": { "findings": [finding] },
    })
}

fn each_finding(
    detail: &Value,
    parse: fn(&Value, usize) -> Result<Finding, EventError>,
) -> Result<Vec<Finding>, EventError> {
    let list = detail
        .get("findings")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or(EventError::NoFindings)?;
    list.iter().enumerate().map(|(i, f)| parse(f, i)).collect()
}

/// A string at a `/`-separated path (`"Severity/Label"`); array steps are indices.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at_value(v, path).and_then(Value::as_str)
}

fn at_value<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .try_fold(v, |cur, step| match step.parse::<usize>() {
            Ok(i) if cur.is_array() => cur.get(i),
            _ => cur.get(step),
        })
}

fn owned(v: &Value, path: &str) -> Option<String> {
    at(v, path).filter(|s| !s.is_empty()).map(str::to_string)
}

fn required(v: &Value, index: usize, path: &'static str) -> Result<String, EventError> {
    owned(v, path).ok_or(EventError::MissingFindingField { index, field: path })
}

fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
}

fn parse_asff(f: &Value, index: usize) -> Result<Finding, EventError> {
    if !f.is_object() {
        return Err(EventError::FindingNotObject { index });
    }
    let id = required(f, index, "Id")?;
    let product_arn = required(f, index, "ProductArn")?;
    let key = if is_arn(&id) {
        id.clone()
    } else {
        format!("{product_arn}|{id}")
    };
    let severity = at(f, "Severity/Label")
        .and_then(Severity::from_label)
        .or_else(|| {
            at_value(f, "Severity/Normalized")
                .and_then(Value::as_f64)
                .map(Severity::from_normalized)
        })
        .unwrap_or(Severity::Informational);
    // ProductFields keys contain `/`, so they are looked up directly.
    let count = f
        .get("ProductFields")
        .and_then(|p| p.get("aws/guardduty/service/count"))
        .and_then(Value::as_str)
        .and_then(|c| c.parse().ok());
    Ok(Finding {
        key,
        id,
        metadata_uid: None,
        format: FindingFormat::Asff,
        product_name: owned(f, "ProductName")
            .or_else(|| {
                f.get("ProductFields")
                    .and_then(|p| p.get("aws/securityhub/ProductName"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default(),
        finding_type: owned(f, "Types/0").unwrap_or_default(),
        title: owned(f, "Title").unwrap_or_default(),
        description: owned(f, "Description").unwrap_or_default(),
        severity,
        account: owned(f, "AwsAccountId").unwrap_or_default(),
        region: owned(f, "Region")
            .or_else(|| region_of_arn(&product_arn))
            .unwrap_or_default(),
        source_url: owned(f, "SourceUrl"),
        resource_type: owned(f, "Resources/0/Type"),
        resource_id: owned(f, "Resources/0/Id"),
        created_at: owned(f, "CreatedAt"),
        updated_at: owned(f, "UpdatedAt"),
        workflow_status: owned(f, "Workflow/Status")
            .or_else(|| owned(f, "WorkflowState"))
            .unwrap_or_else(|| "NEW".into()),
        record_state: owned(f, "RecordState").unwrap_or_else(|| "ACTIVE".into()),
        compliance_status: owned(f, "Compliance/Status"),
        note_updated_by: owned(f, "Note/UpdatedBy"),
        count,
        product_arn: Some(product_arn),
    })
}

/// `arn:aws:securityhub:us-east-1::product/…` → `us-east-1`.
fn region_of_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// OCSF `status_id` → (Workflow status, RecordState): 1 New, 2 In Progress (our NOTIFIED),
/// 3 Suppressed, 4 Resolved, 5 Archived; 0 Unknown / 99 Other are treated as NEW.
fn ocsf_status(status_id: Option<i64>) -> (&'static str, &'static str) {
    match status_id {
        Some(2) => ("NOTIFIED", "ACTIVE"),
        Some(3) => ("SUPPRESSED", "ACTIVE"),
        Some(4) => ("RESOLVED", "ACTIVE"),
        Some(5) => ("RESOLVED", "ARCHIVED"),
        _ => ("NEW", "ACTIVE"),
    }
}

fn parse_ocsf(f: &Value, index: usize) -> Result<Finding, EventError> {
    if !f.is_object() {
        return Err(EventError::FindingNotObject { index });
    }
    let metadata_uid = required(f, index, "metadata/uid")?;
    let info_uid = owned(f, "finding_info/uid");
    let key = match &info_uid {
        Some(uid) if is_arn(uid) => uid.clone(),
        _ => metadata_uid.clone(),
    };
    let severity = at_value(f, "severity_id")
        .and_then(Value::as_i64)
        .map(Severity::from_ocsf_id)
        .or_else(|| at(f, "severity").and_then(Severity::from_label))
        .unwrap_or(Severity::Informational);
    let (workflow, record_state) = ocsf_status(at_value(f, "status_id").and_then(Value::as_i64));
    Ok(Finding {
        key,
        id: info_uid.unwrap_or_else(|| metadata_uid.clone()),
        product_arn: owned(f, "metadata/product/uid"),
        metadata_uid: Some(metadata_uid),
        format: FindingFormat::Ocsf,
        product_name: owned(f, "metadata/product/name").unwrap_or_default(),
        finding_type: owned(f, "finding_info/types/0").unwrap_or_default(),
        title: owned(f, "finding_info/title").unwrap_or_default(),
        description: owned(f, "finding_info/desc").unwrap_or_default(),
        severity,
        account: owned(f, "cloud/account/uid").unwrap_or_default(),
        region: owned(f, "cloud/region").unwrap_or_default(),
        source_url: owned(f, "finding_info/src_url"),
        resource_type: owned(f, "resources/0/type"),
        resource_id: owned(f, "resources/0/uid"),
        created_at: owned(f, "finding_info/created_time_dt"),
        updated_at: owned(f, "finding_info/modified_time_dt").or_else(|| owned(f, "time_dt")),
        workflow_status: workflow.into(),
        record_state: record_state.into(),
        compliance_status: owned(f, "compliance/status"),
        // OCSF has no UpdatedBy: echoes are told apart by state (see fb_sync).
        note_updated_by: None,
        count: at_value(f, "count").and_then(Value::as_u64),
    })
}

fn parse_guardduty(d: &Value, index: usize) -> Result<Finding, EventError> {
    let arn = required(d, index, "arn")?;
    let region = owned(d, "region")
        .or_else(|| region_of_arn(&arn))
        .unwrap_or_default();
    let partition = owned(d, "partition").unwrap_or_else(|| "aws".into());
    let short_id = owned(d, "id").unwrap_or_default();
    let resource_id = ["instanceDetails/instanceId", "accessKeyDetails/accessKeyId"]
        .iter()
        .find_map(|p| owned(d, &format!("resource/{p}")))
        .or_else(|| owned(d, "resource/eksClusterDetails/name"))
        .or_else(|| owned(d, "resource/s3BucketDetails/0/name"));
    let archived = at_value(d, "service/archived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Finding {
        key: arn.clone(),
        product_arn: Some(format!(
            "arn:{partition}:securityhub:{region}::product/aws/guardduty"
        )),
        metadata_uid: None,
        format: FindingFormat::GuardDuty,
        product_name: "GuardDuty".into(),
        finding_type: owned(d, "type").unwrap_or_default(),
        title: owned(d, "title").unwrap_or_default(),
        description: owned(d, "description").unwrap_or_default(),
        severity: at_value(d, "severity")
            .and_then(Value::as_f64)
            .map(Severity::from_guardduty)
            .unwrap_or(Severity::Informational),
        account: owned(d, "accountId").unwrap_or_default(),
        source_url: (!short_id.is_empty()).then(|| {
            format!("https://{region}.console.aws.amazon.com/guardduty/home?region={region}#/findings?macros=current&fId={short_id}")
        }),
        region,
        resource_type: owned(d, "resource/resourceType"),
        resource_id,
        created_at: owned(d, "createdAt"),
        updated_at: owned(d, "updatedAt"),
        workflow_status: "NEW".into(),
        record_state: if archived { "ARCHIVED" } else { "ACTIVE" }.into(),
        compliance_status: None,
        note_updated_by: None,
        count: at_value(d, "service/count").and_then(Value::as_u64),
        id: arn,
    })
}

impl Finding {
    /// A template variable (DESIGN §4): `Id ProductArn ProductName FindingType Title
    /// Description Severity AwsAccountId Region SourceUrl ResourceType ResourceId CreatedAt
    /// UpdatedAt`. `None` for an unknown name or a value the finding lacks.
    pub fn var(&self, name: &str) -> Option<String> {
        let s = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
        match name {
            "Id" => s(&self.id),
            "ProductArn" => self.product_arn.clone(),
            "ProductName" => s(&self.product_name),
            "FindingType" => s(&self.finding_type),
            "Title" => s(&self.title),
            "Description" => s(&self.description),
            "Severity" => Some(self.severity.as_str().to_string()),
            "AwsAccountId" => s(&self.account),
            "Region" => s(&self.region),
            "SourceUrl" => self.source_url.clone(),
            "ResourceType" => self.resource_type.clone(),
            "ResourceId" => self.resource_id.clone(),
            "CreatedAt" => self.created_at.clone(),
            "UpdatedAt" => self.updated_at.clone(),
            _ => None,
        }
    }
}

impl Event {
    /// Evaluates a JSON path like `$.detail.findings[0].Resources[0].Details.X` on the raw
    /// event (per-rule `vars`). Strings come back as they are, other values as JSON text;
    /// a missing value, `null` or a malformed path give `None`.
    pub fn path(&self, json_path: &str) -> Option<String> {
        value_at_path(&self.raw, json_path)
    }
}

/// [`Event::path`] on any JSON value (e.g. an event narrowed to one finding).
pub fn value_at_path(root: &Value, json_path: &str) -> Option<String> {
    match eval_path(root, json_path)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `$` followed by `.name` and `[index]` steps.
fn eval_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut cur = root;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            cur = cur.get(name)?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let index: usize = after[..end].trim().parse().ok()?;
            cur = cur.get(index)?;
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}
