//! The shipped deployment files keep their promises (issue 6, "Tests"): every file under
//! `deploy/` parses (YAML with every document of multi-document files, JSON, the Dockerfile,
//! the systemd unit); the image is multi-stage and non-root; the unit is hardened; the
//! Kubernetes StatefulSet has one replica, a volume claim and probes on /healthz and /readyz,
//! and only the two public paths reach the Ingress; every example and the ConfigMap's embedded
//! file validate. IAM is checked in `deploy_iam.rs`, the dashboard in `deploy_dashboard.rs`.
//!
//! Must not: start servers or touch the network — these are file checks, run in milliseconds.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{files_under, read};
use fb_e2e::workspace_root;
use regex::Regex;
use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Reading files

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

/// The patterns of a `.dockerignore` file (comments and blank lines dropped).
fn dockerignore(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
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
            (_, "dockerignore") => {
                dockerignore(&path);
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
    // `COPY . .` must not send the multi-gigabyte build cache or a local store to the builder.
    let ignored = dockerignore(&workspace_root().join("deploy/container/Dockerfile.dockerignore"));
    for required in ["target", ".git", ".venv", "findings-bridge-data"] {
        assert!(
            ignored.iter().any(|p| p == required),
            "{required} is not ignored"
        );
    }
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

/// Only `POST /v1/events` and the webhook are public; `/metrics` is scraped inside the cluster.
#[test]
fn the_ingress_exposes_only_the_public_paths_and_prometheus_scrapes_metrics() {
    let objects = kubernetes_objects();
    let ingress = only(&objects, "Ingress");
    let mut paths = Vec::new();
    for rule in ingress["spec"]["rules"].as_array().expect("rules") {
        for p in rule["http"]["paths"].as_array().expect("paths") {
            paths.push((
                p["path"].as_str().unwrap().to_owned(),
                p["pathType"].as_str().unwrap().to_owned(),
            ));
        }
    }
    paths.sort();
    assert_eq!(
        paths,
        [
            ("/v1/backlog/webhook".to_owned(), "Prefix".to_owned()),
            ("/v1/events".to_owned(), "Exact".to_owned()),
        ]
    );
    assert!(
        ingress["spec"]["tls"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "TLS"
    );

    let service = only(&objects, "Service");
    let port_names: Vec<&Value> = service["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| &p["name"])
        .collect();
    let monitor = only(&objects, "ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    assert!(
        port_names.contains(&&endpoint["port"]),
        "{}",
        endpoint["port"]
    );
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"],
        "the ServiceMonitor selects the Service"
    );
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
