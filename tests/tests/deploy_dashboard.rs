//! The metrics' consumers agree with the daemon: the Grafana dashboards in `deploy/grafana/`
//! query only metric families the daemon exports, under their real sample names, and show every
//! one of them; the runbook's metrics table (docs/operations.md) names exactly those series.
//!
//! Must not: start the daemon; the families come from `fb_daemon::metrics::Metrics` itself.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{files_under, read};
use fb_e2e::workspace_root;
use regex::Regex;
use serde_json::Value;

/// Metric families the daemon exports, with their types: its own exposition (`# TYPE name
/// type`) once every family has a sample — label families print nothing while empty.
fn exported_families() -> BTreeMap<String, String> {
    use fb_daemon::metrics::{Metrics, ServiceLabels};
    use std::time::Duration;
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
    m.queue("inbox", 1, Some(Duration::from_secs(1)));
    m.set_drift("111111111111", "us-east-1", 1);
    m.job_finished("reconcile", Duration::from_millis(1), true);
    m.config_reload("applied");
    m.webhook_hints.inc();
    m.ready.set(1);
    let families: BTreeMap<String, String> = m
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name type");
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    // Every family registered in the source must have been given a sample above.
    let source = read(&workspace_root().join("crates/daemon/src/metrics.rs"));
    let registered = Regex::new(r#"registry\.register\(\s*"([a-z_]+)""#).unwrap();
    for name in registered.captures_iter(&source).map(|c| c[1].to_owned()) {
        let family = format!("findings_bridge_{name}");
        assert!(
            families.contains_key(&family),
            "{family} is registered but has no sample in this test: add one above"
        );
    }
    families
}

/// Every `expr` in the dashboard (panels, rows' panels, templating queries).
fn dashboard_exprs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(e)) => out.push(e.clone()),
                    _ => dashboard_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

/// The family a sample name belongs to: the family's name plus its type's suffix.
fn family_of<'a>(families: &'a BTreeMap<String, String>, name: &str) -> Option<&'a String> {
    families
        .iter()
        .find(|(family, kind)| {
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            suffixes.iter().any(|s| name == format!("{family}{s}"))
        })
        .map(|(family, _)| family)
}

/// Panels have unique ids and query the dashboard's data source variable.
fn check_panels(path: &Path, dashboard: &Value) {
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let id = panel["id"].as_u64().expect("a numeric panel id");
        assert!(
            ids.insert(id),
            "{}: duplicate panel id {id}",
            path.display()
        );
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"],
                "${datasource}",
                "{}: {}",
                path.display(),
                panel["title"]
            );
        }
    }
}

#[test]
fn the_dashboards_query_only_exported_metrics_and_show_every_one() {
    let families = exported_families();
    assert!(families.len() >= 10, "{families:?}");
    let series = Regex::new(r"findings_bridge_[a-z_]+").unwrap();
    let mut used = BTreeSet::new();
    let mut dashboards = 0;
    for path in files_under(&workspace_root().join("deploy/grafana")) {
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        dashboards += 1;
        let dashboard: Value = serde_json::from_str(&read(&path)).unwrap();
        let mut exprs = Vec::new();
        dashboard_exprs(&dashboard, &mut exprs);
        assert!(!exprs.is_empty(), "{}: no queries", path.display());
        for expr in &exprs {
            for name in series.find_iter(expr).map(|m| m.as_str()) {
                match family_of(&families, name) {
                    Some(family) => {
                        used.insert(family.clone());
                    }
                    None => panic!(
                        "{}: {name} (in `{expr}`) is not exported by the daemon",
                        path.display()
                    ),
                }
            }
        }
        check_panels(&path, &dashboard);
    }
    assert!(dashboards >= 1, "no dashboard in deploy/grafana");
    let unused: Vec<_> = families.keys().filter(|f| !used.contains(*f)).collect();
    assert!(unused.is_empty(), "exported but on no panel: {unused:?}");
}

#[test]
fn sample_names_map_to_their_family() {
    let families: BTreeMap<String, String> = [
        ("findings_bridge_events", "counter"),
        ("findings_bridge_job_duration_seconds", "histogram"),
        ("findings_bridge_ready", "gauge"),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_owned(), k.to_owned()))
    .collect();
    let of = |name: &str| family_of(&families, name).map(String::as_str);
    assert_eq!(
        of("findings_bridge_events_total"),
        Some("findings_bridge_events")
    );
    assert_eq!(
        of("findings_bridge_events"),
        None,
        "a counter's samples end in _total"
    );
    assert_eq!(
        of("findings_bridge_job_duration_seconds_bucket"),
        Some("findings_bridge_job_duration_seconds")
    );
    assert_eq!(of("findings_bridge_ready"), Some("findings_bridge_ready"));
    assert_eq!(of("findings_bridge_ready_total"), None);
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
    let families = exported_families();
    // The dashboard test checks that this sample covers every registered family.
    assert!(families.len() >= 15, "{families:?}");
    let text = read(&workspace_root().join("docs/operations.md"));
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
