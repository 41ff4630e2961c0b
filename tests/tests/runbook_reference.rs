//! The runbook explains every field of `/v1/status` (`fb_daemon::status::StatusView`), so
//! docs/operations.md cannot fall behind the status the daemon serves. (Its metrics table is
//! checked with the dashboard, in `deploy_dashboard.rs`.)
//!
//! Must not: start the daemon; the fields come from the daemon's own types.

use std::collections::BTreeSet;

use fb_daemon::schedule::JobRecord;
use fb_daemon::status::{PlaceStatus, StatusView, TaskStatus};
use fb_e2e::workspace_root;
use serde_json::Value;

fn runbook() -> String {
    std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap()
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
