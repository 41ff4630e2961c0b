//! The runbook's reference tables are the daemon's: every `findings_bridge_*` series named in
//! docs/operations.md is exported (under its real sample name) and every exported family is in
//! the runbook; every field of `/v1/status` (`fb_daemon::status::StatusView`) is explained.
//!
//! Must not: start the daemon; metrics and status come from the daemon's own types.

use std::collections::{BTreeMap, BTreeSet};

use fb_daemon::metrics::{Metrics, ServiceLabels};
use fb_daemon::schedule::JobRecord;
use fb_daemon::status::{PlaceStatus, StatusView, TaskStatus};
use fb_e2e::workspace_root;
use regex::Regex;
use serde_json::Value;

fn runbook() -> String {
    std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap()
}

/// Families (`# TYPE name type`) of a registry where every family has a sample.
fn families() -> BTreeMap<String, String> {
    let m = Metrics::new();
    m.event("accepted", "");
    m.issues_created.inc();
    m.duplicates_absorbed.inc();
    m.writeback("done", 1);
    m.backlog_call("getIssue", "ok");
    m.aws_call("securityhub:GetFindings", "ok");
    m.rate_limit_waits
        .get_or_create(&ServiceLabels {
            service: "backlog".into(),
        })
        .inc();
    m.queue("inbox", 1, Some(std::time::Duration::from_secs(1)));
    m.set_drift("111111111111", "us-east-1", 1);
    m.job_finished("reconcile", std::time::Duration::from_millis(1), true);
    m.config_reload("applied");
    m.webhook_hints.inc();
    m.ready.set(1);
    m.encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, k)| (n.to_owned(), k.to_owned()))
        .collect()
}

/// The sample name under which a family is queried (counters end in `_total`).
fn sample_name(family: &str, kind: &str) -> String {
    match kind {
        "counter" => format!("{family}_total"),
        _ => family.to_owned(),
    }
}

#[test]
fn the_runbook_names_exactly_the_exported_series() {
    let families = families();
    // The dashboard test checks that this sample covers every registered family.
    assert!(families.len() >= 15, "{families:?}");
    let text = runbook();
    let expected: BTreeSet<String> = families
        .iter()
        .map(|(family, kind)| sample_name(family, kind))
        .collect();
    let histograms: Vec<&String> = families
        .iter()
        .filter(|(_, k)| *k == "histogram")
        .map(|(f, _)| f)
        .collect();
    let named = Regex::new(r"findings_bridge_[a-z_]+").unwrap();
    for name in named.find_iter(&text).map(|m| m.as_str()) {
        let known = expected.contains(name)
            || histograms.iter().any(|h| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{h}{s}"))
            });
        assert!(
            known,
            "the runbook names {name}, which the daemon does not export"
        );
    }
    for name in &expected {
        assert!(
            text.contains(&format!("`{name}`")),
            "the runbook's metrics table lacks `{name}`"
        );
    }
}

/// Field names of a serialized struct, nested objects included (`queues.inbox` → `inbox`).
fn field_names(value: &Value, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            out.insert(key.clone());
            field_names(child, out);
        }
    }
}

#[test]
fn the_runbook_explains_every_status_field() {
    let mut view = StatusView {
        reconcile: vec![PlaceStatus::default()],
        ..Default::default()
    };
    view.jobs.insert("reconcile".into(), JobRecord::default());
    view.tasks.insert("worker".into(), TaskStatus::default());
    let json = serde_json::to_value(&view).unwrap();
    let mut fields = BTreeSet::new();
    field_names(&json, &mut fields);
    // Entries of the maps are keyed by job and task names, which the runbook lists as such.
    fields.remove("reconcile");
    fields.remove("worker");
    let json_reconcile = &json["reconcile"][0];
    field_names(json_reconcile, &mut fields);
    assert!(fields.len() > 20, "{fields:?}");

    let text = runbook();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !text.contains(&format!("`{f}`")) && !text.contains(&format!("`{f}.")))
        .collect();
    assert!(
        missing.is_empty(),
        "status fields the runbook does not explain: {missing:?}"
    );
}
