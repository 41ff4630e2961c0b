//! The shipped deployment files and docs agree with the code (issue 6, "Tests"): every file under
//! `deploy/` parses; the container, systemd and Kubernetes files keep the promises the runbook
//! relies on (non-root, hardening, one replica, a volume, probes); every example and the
//! ConfigMap's embedded file validate; the CloudFormation IAM actions are exactly the AWS
//! operations `fb-aws` calls, and every listed operation is really called in its source; the
//! Grafana dashboard queries only exported metrics and shows all of them; the configuration
//! reference lists every key of the schema.
//!
//! Must not: start servers or touch the network — these are file checks, run in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fb_e2e::workspace_root;
use regex::Regex;
use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Reading files

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("readable directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A YAML node as JSON, so tests navigate every format the same way. Keys become strings.
fn yaml_to_json(node: &YamlOwned) -> Value {
    match node {
        YamlOwned::Value(scalar) => match scalar {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(*b),
            ScalarOwned::Integer(i) => Value::from(*i),
            ScalarOwned::FloatingPoint(f) => Value::from(f.into_inner()),
            ScalarOwned::String(s) => Value::String(s.clone()),
        },
        YamlOwned::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        YamlOwned::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match yaml_to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        YamlOwned::Tagged(_, inner) => yaml_to_json(inner),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// Every document of a (possibly multi-document) YAML file.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let docs = YamlOwned::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    assert!(!docs.is_empty(), "{} has no document", path.display());
    docs.iter().map(yaml_to_json).collect()
}

/// Every Kubernetes object in deploy/kubernetes, by kind.
fn kubernetes_objects() -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for path in files_under(&workspace_root().join("deploy/kubernetes")) {
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        for doc in yaml_documents(&path) {
            let kind = doc["kind"].as_str().unwrap_or_else(|| {
                panic!("{}: a document without kind", path.display());
            });
            out.entry(kind.to_owned()).or_default().push(doc);
        }
    }
    out
}

fn only<'a>(objects: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    match objects.get(kind).map(Vec::as_slice) {
        Some([one]) => one,
        other => panic!("expected exactly one {kind}, found {other:?}"),
    }
}

/// `key=value` lines of a systemd unit, by section; a line that is neither fails.
fn systemd_unit(path: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in read(path).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            sections.entry(name.to_owned()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}:{}: not key=value: {line}", path.display(), n + 1));
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("{}:{}: key outside a section", path.display(), n + 1));
        sections
            .entry(section)
            .or_default()
            .push((key.trim().to_owned(), value.trim().to_owned()));
    }
    sections
}

/// Dockerfile instructions (continuation lines joined), upper-cased keyword first.
fn dockerfile_instructions(path: &Path) -> Vec<(String, String)> {
    let mut joined = String::new();
    let mut out = Vec::new();
    for line in read(path).lines() {
        let trimmed = line.trim();
        if joined.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        joined.push_str(trimmed.trim_end_matches('\\'));
        joined.push(' ');
        if trimmed.ends_with('\\') {
            continue;
        }
        let (keyword, rest) = joined.trim().split_once(' ').unwrap_or((joined.trim(), ""));
        out.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
        joined.clear();
    }
    assert!(
        joined.is_empty(),
        "{}: dangling continuation",
        path.display()
    );
    out
}

// ---------------------------------------------------------------------------------------------
// deploy/ parses

#[test]
fn every_file_under_deploy_parses() {
    let root = workspace_root().join("deploy");
    let mut checked = Vec::new();
    for path in files_under(&root) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match (name, ext) {
            (_, "yaml" | "yml") => {
                yaml_documents(&path);
            }
            (_, "json") => {
                serde_json::from_str::<Value>(&read(&path))
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            }
            ("Dockerfile", _) => {
                dockerfile_instructions(&path);
            }
            (_, "service") => {
                systemd_unit(&path);
            }
            (_, "md") => continue,
            _ => panic!(
                "{}: no parser for this kind of file; teach this test to check it",
                path.display()
            ),
        }
        checked.push(path.strip_prefix(&root).unwrap().display().to_string());
    }
    for required in [
        "container/Dockerfile",
        "systemd/findings-bridge.service",
        "kubernetes/statefulset.yaml",
        "cloudformation/member-execution-role.json",
        "grafana/findings-bridge.json",
    ] {
        assert!(
            checked.iter().any(|c| c == required),
            "{required} missing: {checked:?}"
        );
    }
}

#[test]
fn the_image_is_multi_stage_and_runs_as_a_non_root_user() {
    let steps = dockerfile_instructions(&workspace_root().join("deploy/container/Dockerfile"));
    let froms: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].0 == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage: {steps:?}");
    let last_from = *froms.last().unwrap();
    let user = steps[last_from..]
        .iter()
        .rfind(|(k, _)| k == "USER")
        .map(|(_, v)| v.clone())
        .expect("the final stage sets USER");
    let who = user.split(':').next().unwrap_or("");
    assert!(!matches!(who, "" | "root" | "0"), "USER {user}");
    assert!(
        steps
            .iter()
            .any(|(k, v)| k == "VOLUME" && v.contains("/var/lib/findings-bridge")),
        "the store lives on a volume"
    );
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = systemd_unit(&workspace_root().join("deploy/systemd/findings-bridge.service"));
    let service = unit.get("Service").expect("a [Service] section");
    let value = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(value("NoNewPrivileges"), ["yes"]);
    assert_eq!(value("ProtectSystem"), ["strict"]);
    assert_eq!(value("DynamicUser"), ["yes"]);
    assert_eq!(value("StateDirectory"), ["findings-bridge"]);
    let exec = value("ExecStart");
    assert!(
        exec.len() == 1 && exec[0].contains("findings-bridge run"),
        "{exec:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn the_statefulset_has_one_replica_a_volume_claim_and_both_probes() {
    let objects = kubernetes_objects();
    let set = only(&objects, "StatefulSet");
    assert_eq!(set["spec"]["replicas"], 1, "sled has exactly one writer");
    let claims = set["spec"]["volumeClaimTemplates"]
        .as_array()
        .expect("volumeClaimTemplates");
    let claim = claims[0]["metadata"]["name"]
        .as_str()
        .expect("a named claim");
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let mounts = container["volumeMounts"].as_array().expect("volumeMounts");
    assert!(
        mounts.iter().any(|m| m["name"] == claim),
        "the container mounts the claim {claim}"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let port_names: Vec<&Value> = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| &p["name"])
        .collect();
    for probe in ["readinessProbe", "livenessProbe"] {
        let port = &container[probe]["httpGet"]["port"];
        assert!(port_names.contains(&port), "{probe} port {port}");
    }
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    let selector = &set["spec"]["selector"]["matchLabels"];
    let service = only(&objects, "Service");
    assert_eq!(
        &service["spec"]["selector"], selector,
        "the Service selects the pods"
    );
    assert!(objects.contains_key("ServiceMonitor"));
}

#[test]
fn kustomization_lists_existing_manifests() {
    let dir = workspace_root().join("deploy/kubernetes");
    let objects = kubernetes_objects();
    let kustomization = only(&objects, "Kustomization");
    let resources = kustomization["resources"].as_array().expect("resources");
    assert!(!resources.is_empty());
    for r in resources {
        let file = r.as_str().expect("a file name");
        assert!(dir.join(file).is_file(), "{file} listed but missing");
    }
}

/// The ConfigMap's file validates, and fits the StatefulSet: its store is on the volume, its
/// listen port is the container port, and every `env:` secret comes from the example Secret.
#[test]
fn the_configmap_file_validates_and_fits_the_statefulset_and_secret() {
    let objects = kubernetes_objects();
    let map = only(&objects, "ConfigMap");
    let text = map["data"]["findings-bridge.yaml"]
        .as_str()
        .expect("data.findings-bridge.yaml");
    let config = fb_model::config::parse_str(text, "configmap.yaml")
        .unwrap_or_else(|errors| panic!("the ConfigMap's file is invalid:\n{errors}"));

    let set = only(&objects, "StatefulSet");
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let claim = set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone();
    let data_mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == claim)
        .and_then(|m| m["mountPath"].as_str())
        .expect("the claim's mount path");
    assert!(
        config.store.path.starts_with(data_mount),
        "store.path {} is not on the volume {data_mount}",
        config.store.path.display()
    );
    let port: u16 = config
        .server
        .listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    assert_eq!(container["ports"][0]["containerPort"], port);

    let secret = only(&objects, "Secret");
    let keys = secret["stringData"].as_object().expect("stringData");
    let refs = Regex::new(r"env:([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    for name in refs.captures_iter(text).map(|c| c[1].to_owned()) {
        assert!(
            keys.contains_key(&name),
            "{name} is not in the example Secret"
        );
    }
}

#[test]
fn every_example_validates() {
    let mut checked = 0;
    for path in files_under(&workspace_root().join("examples")) {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            if let Err(errors) = fb_model::config::load(&path) {
                panic!("{} is not valid:\n{errors}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} examples found");
}

// ---------------------------------------------------------------------------------------------
// IAM: the templates grant exactly what the code calls

/// Listed operations that need no IAM permission, so no template grants them.
const NEEDS_NO_PERMISSION: &[&str] = &[
    // "No permissions are required to perform this operation" (STS API reference).
    "sts:GetCallerIdentity",
];

/// Permissions the templates must grant although the code makes no such call: AWS checks them
/// on the caller during a listed operation. (trigger operation, implied action)
const IMPLIED: &[(&str, &str)] = &[
    // EventBridge creates AWSServiceRoleForAmazonEventBridgeApiDestinations (which keeps the
    // connection secrets in Secrets Manager) on the first CreateConnection in an account.
    ("events:CreateConnection", "iam:CreateServiceLinkedRole"),
];

/// Operation labels in the code that are authorized by another IAM action.
const AUTHORIZED_AS: &[(&str, &str)] = &[
    // "BatchUpdateFindings and BatchUpdateFindingsV2 both use securityhub:BatchUpdateFindings".
    (
        "securityhub:BatchUpdateFindingsV2",
        "securityhub:BatchUpdateFindings",
    ),
];

/// Every `Action` of every `Allow` statement in a template's permission policies (trust
/// policies, `AssumeRolePolicyDocument`, are who may assume, not what the daemon may do).
fn granted_actions(node: &Value, out: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "AssumeRolePolicyDocument" => {}
                    "PolicyDocument" => {
                        for statement in value["Statement"].as_array().expect("Statement list") {
                            assert_eq!(statement["Effect"], "Allow", "{statement}");
                            match &statement["Action"] {
                                Value::String(a) => {
                                    out.insert(a.clone());
                                }
                                Value::Array(list) => {
                                    out.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()))
                                }
                                other => panic!("Action {other}"),
                            }
                        }
                    }
                    _ => granted_actions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| granted_actions(v, out)),
        _ => {}
    }
}

#[test]
fn templates_grant_exactly_the_operations_the_code_calls() {
    let mut granted = BTreeSet::new();
    for path in files_under(&workspace_root().join("deploy/cloudformation")) {
        let template: Value = serde_json::from_str(&read(&path)).unwrap();
        granted_actions(&template["Resources"], &mut granted);
    }
    let mut expected: BTreeSet<String> = fb_aws::OPERATIONS
        .iter()
        .filter(|op| !NEEDS_NO_PERMISSION.contains(op))
        .map(|op| (*op).to_owned())
        .collect();
    for (trigger, implied) in IMPLIED {
        assert!(
            fb_aws::OPERATIONS.contains(trigger),
            "{trigger} is no longer called"
        );
        expected.insert((*implied).to_owned());
    }
    let missing: Vec<_> = expected.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not granted by deploy/cloudformation: {missing:?}; granted but never called: {extra:?}"
    );
}

/// `ListOrganizationalUnitsForParent` → `list_organizational_units_for_parent`, the SDK's name.
fn snake_case(operation: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in operation.chars() {
        // A capital starts a word; digits stay with theirs (`V2` → `v2`).
        let boundary = prev.is_some_and(|p| c.is_ascii_uppercase() && !p.is_ascii_uppercase());
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        prev = Some(c);
    }
    out
}

/// The source of crates/aws/src, without `lib.rs` (where OPERATIONS itself is written).
fn aws_sources() -> String {
    let src = workspace_root().join("crates/aws/src");
    files_under(&src)
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("rs"))
        .filter(|p| p != &src.join("lib.rs"))
        .map(|p| read(&p))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_listed_operation_is_called_in_the_aws_crate() {
    let source = aws_sources();
    // Calls not made through a fluent `client.operation()`: how the code makes them instead.
    let evidence: BTreeMap<&str, &str> = [
        ("sts:AssumeRole", "AssumeRoleProvider::builder("),
        // PassRole is checked when PutTargets hands EventBridge the invoke role.
        ("iam:PassRole", ".role_arn(&spec.role_arn)"),
    ]
    .into();
    let mut not_called = Vec::new();
    for op in fb_aws::OPERATIONS {
        let (_, name) = op.split_once(':').expect("service:Operation");
        let needle = evidence
            .get(op)
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| format!(".{}()", snake_case(name)));
        if !source.contains(&needle) {
            not_called.push(format!("{op} (looked for `{needle}`)"));
        }
    }
    assert!(
        not_called.is_empty(),
        "listed but not called: {not_called:?}"
    );

    // The other way: every operation the code labels (errors and metrics) is listed.
    let labels = Regex::new(
        r#""((?:sts|iam|events|securityhub|organizations|secretsmanager):[A-Za-z0-9]+)""#,
    )
    .unwrap();
    let mut unlisted = BTreeSet::new();
    for label in labels.captures_iter(&source).map(|c| c[1].to_owned()) {
        let action = AUTHORIZED_AS
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(label.as_str(), |(_, a)| *a);
        if !fb_aws::OPERATIONS.contains(&action) {
            unlisted.insert(label);
        }
    }
    assert!(
        unlisted.is_empty(),
        "called but not in OPERATIONS: {unlisted:?}"
    );
}

#[test]
fn snake_case_follows_the_sdk_names() {
    assert_eq!(snake_case("PutRule"), "put_rule");
    assert_eq!(
        snake_case("ListOrganizationalUnitsForParent"),
        "list_organizational_units_for_parent"
    );
    assert_eq!(
        snake_case("BatchUpdateFindingsV2"),
        "batch_update_findings_v2"
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana: the dashboard queries what the daemon exports, and shows all of it

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

#[test]
fn the_dashboard_queries_only_exported_metrics_and_shows_every_one() {
    let families = exported_families();
    assert!(families.len() >= 10, "{families:?}");
    let path = workspace_root().join("deploy/grafana/findings-bridge.json");
    let dashboard: Value = serde_json::from_str(&read(&path)).unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    assert!(!exprs.is_empty());

    let series = Regex::new(r"findings_bridge_[a-z_]+").unwrap();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in series.find_iter(expr).map(|m| m.as_str()) {
            // A sample name is its family's name plus the type's suffix.
            let family = families.iter().find(|(family, kind)| {
                let suffixes: &[&str] = match kind.as_str() {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_sum", "_count"],
                    _ => &[""],
                };
                suffixes.iter().any(|s| name == format!("{family}{s}"))
            });
            match family {
                Some((family, _)) => {
                    used.insert(family.clone());
                }
                None => panic!("{name} (in `{expr}`) is not exported by the daemon"),
            }
        }
    }
    let unused: Vec<_> = families.keys().filter(|f| !used.contains(*f)).collect();
    assert!(unused.is_empty(), "exported but on no panel: {unused:?}");

    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let id = panel["id"].as_u64().expect("a numeric panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }
}
