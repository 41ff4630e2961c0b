//! GetFindings returns SDK structs; the pipeline parses findings from ASFF JSON (as events carry
//! them). This turns the fields the pipeline reads back into an ASFF-shaped object.
//!
//! Must not: invent values: absent fields stay absent.

use aws_sdk_securityhub::types::AwsSecurityFinding;
use serde_json::{Map, Value};

/// The ASFF fields findings-bridge uses, with their ASFF names.
pub fn finding_to_asff(f: &AwsSecurityFinding) -> Value {
    let mut o = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            o.insert(key.to_owned(), Value::String(v.to_owned()));
        }
    };
    put("SchemaVersion", f.schema_version());
    put("Id", f.id());
    put("ProductArn", f.product_arn());
    put("ProductName", f.product_name());
    put("CompanyName", f.company_name());
    put("GeneratorId", f.generator_id());
    put("AwsAccountId", f.aws_account_id());
    put("Region", f.region());
    put("Title", f.title());
    put("Description", f.description());
    put("SourceUrl", f.source_url());
    put("CreatedAt", f.created_at());
    put("UpdatedAt", f.updated_at());
    put("FirstObservedAt", f.first_observed_at());
    put("LastObservedAt", f.last_observed_at());
    put("RecordState", f.record_state().map(|s| s.as_str()));
    if !f.types().is_empty() {
        o.insert("Types".into(), Value::from(f.types().to_vec()));
    }
    if let Some(s) = f.severity() {
        let mut sev = Map::new();
        if let Some(label) = s.label() {
            sev.insert("Label".into(), Value::from(label.as_str()));
        }
        if let Some(n) = s.normalized() {
            sev.insert("Normalized".into(), Value::from(n));
        }
        if let Some(orig) = s.original() {
            sev.insert("Original".into(), Value::from(orig));
        }
        o.insert("Severity".into(), Value::Object(sev));
    }
    if let Some(status) = f.workflow().and_then(|w| w.status()) {
        o.insert(
            "Workflow".into(),
            serde_json::json!({ "Status": status.as_str() }),
        );
    }
    if let Some(status) = f.compliance().and_then(|c| c.status()) {
        o.insert(
            "Compliance".into(),
            serde_json::json!({ "Status": status.as_str() }),
        );
    }
    if let Some(fields) = f.product_fields() {
        let sorted: std::collections::BTreeMap<_, _> = fields.iter().collect();
        o.insert("ProductFields".into(), serde_json::json!(sorted));
    }
    if !f.resources().is_empty() {
        let resources: Vec<Value> = f
            .resources()
            .iter()
            .map(|r| {
                let mut m = Map::new();
                if let Some(t) = r.r#type() {
                    m.insert("Type".into(), Value::from(t));
                }
                if let Some(id) = r.id() {
                    m.insert("Id".into(), Value::from(id));
                }
                if let Some(region) = r.region() {
                    m.insert("Region".into(), Value::from(region));
                }
                Value::Object(m)
            })
            .collect();
        o.insert("Resources".into(), Value::Array(resources));
    }
    if let Some(n) = f.note() {
        let mut note = Map::new();
        for (k, v) in [
            ("Text", n.text()),
            ("UpdatedBy", n.updated_by()),
            ("UpdatedAt", n.updated_at()),
        ] {
            if let Some(v) = v {
                note.insert(k.into(), Value::from(v));
            }
        }
        o.insert("Note".into(), Value::Object(note));
    }
    if let Some(sample) = f.sample() {
        o.insert("Sample".into(), Value::Bool(sample));
    }
    Value::Object(o)
}
