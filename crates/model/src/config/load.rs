//! YAML text → [`Config`]: the sections of the file, their keys, types, defaults and the checks
//! that need only one value. Checks across sections live in `checks.rs`.
//!
//! Must not: read anything but the one file it is given, resolve secrets, or stop at the first
//! problem (every problem is collected, then the load fails).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml};

use super::error::{ConfigError, ConfigErrors};
use super::rule::RuleHead;
use super::walk::{Fields, Node, Walker};
use super::*;
use super::{accounts, sections};
use crate::template;

/// Every key the loader accepts, by section (`rules[]` is each rule). The JSON Schema is
/// checked against this table by a test.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "version",
            "name",
            "accounts",
            "security_hub",
            "backlog",
            "relay",
            "rules",
            "server",
            "store",
            "schedules",
            "reconcile",
        ],
    ),
    (
        "accounts",
        &[
            "ids",
            "organization",
            "role",
            "role_arn",
            "external_id",
            "regions",
            "invoke_role_arn",
        ],
    ),
    ("accounts.organization", &["include_ous", "exclude_ids"]),
    ("security_hub", &["account", "region"]),
    (
        "backlog",
        &[
            "base_url",
            "api_key",
            "project",
            "issue_type",
            "priority",
            "closed_statuses",
            "suppress_resolutions",
            "webhook_token",
            "on_recurrence",
            "close_issue_on",
        ],
    ),
    ("relay", &["public_url", "api_key"]),
    (
        "rules[]",
        &[
            "name",
            "delivery",
            "match",
            "event_pattern",
            "rate_limit_per_second",
            "issue",
            "vars",
            "enabled",
        ],
    ),
    (
        "rules[].match",
        &[
            "product_names",
            "severity_labels",
            "record_states",
            "workflow_statuses",
        ],
    ),
    (
        "rules[].issue",
        &["summary", "description", "priority", "issue_type"],
    ),
    ("server", &["listen", "shutdown_timeout_seconds"]),
    ("store", &["path"]),
    ("schedules", &["reconcile", "closure_sync", "backfill"]),
    ("reconcile", &["concurrency"]),
];

pub(super) fn keys(section: &str) -> &'static [&'static str] {
    KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, keys)| *keys)
        .unwrap_or(&[])
}

/// Security Hub severity labels, lowest first.
pub const SEVERITY_LABELS: &[&str] = &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
pub const RECORD_STATES: &[&str] = &["ACTIVE", "ARCHIVED"];
pub const WORKFLOW_STATUSES: &[&str] = &["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"];

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 20;
pub const DEFAULT_STORE_PATH: &str = "./findings-bridge-data";
pub const DEFAULT_RECONCILE_SCHEDULE: &str = "0 */10 * * * *";
pub const DEFAULT_CLOSURE_SYNC_SCHEDULE: &str = "0 * * * * *";
pub const DEFAULT_BACKFILL_SCHEDULE: &str = "0 30 * * * *";
pub const DEFAULT_RECONCILE_CONCURRENCY: usize = 8;
/// The seed's rate.
pub const DEFAULT_RATE_LIMIT_PER_SECOND: u32 = 2;
/// EventBridge's ceiling for an API destination.
pub const MAX_RATE_LIMIT_PER_SECOND: u64 = 300;
/// Longest `name`: leaves room for rule names under the 64-character limit of AWS names.
pub const MAX_NAME_LEN: usize = 32;

/// Reads and checks a desired-state file.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &file),
        Err(e) => Err(ConfigErrors {
            file,
            errors: vec![ConfigError {
                path: String::new(),
                line: 0,
                column: 0,
                value: None,
                message: format!("cannot read the file: {e}"),
            }],
        }),
    }
}

/// Parses and checks a desired-state file's text; `file_name` is only used in messages.
pub fn parse_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: file_name.to_owned(),
        errors,
    };
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => {
            return Err(fail(vec![ConfigError {
                path: String::new(),
                line: e.marker().line(),
                column: e.marker().col() + 1,
                value: None,
                message: format!("not valid YAML: {}", e.info()),
            }]))
        }
    };
    let [root] = docs.as_slice() else {
        return Err(fail(vec![ConfigError {
            path: String::new(),
            line: 1,
            column: 1,
            value: None,
            message: format!("expected exactly one YAML document, found {}", docs.len()),
        }]));
    };
    let mut w = Walker::default();
    let config = config(&mut w, root);
    let mut errors = w.errors;
    if errors.is_empty() {
        if let Some(config) = config {
            return Ok(config);
        }
    }
    if errors.is_empty() {
        // Every `None` above comes with an error; this guards the invariant anyway.
        errors.push(ConfigError {
            path: String::new(),
            line: 1,
            column: 1,
            value: None,
            message: "the file is incomplete".to_owned(),
        });
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    Err(fail(errors))
}

/// The whole file; `None` when a required part could not be read (errors say why). Every
/// section is read even when an earlier one failed, so all problems are reported.
fn config(w: &mut Walker, root: &Node<'_>) -> Option<Config> {
    let top = w.mapping(
        root,
        "",
        keys(""),
        &[
            "version",
            "name",
            "accounts",
            "security_hub",
            "backlog",
            "rules",
        ],
    )?;
    let version = top.get("version").and_then(|n| version(w, n));
    let name = top.get("name").and_then(|n| name(w, n));
    let accounts = top.get("accounts").and_then(|n| accounts::accounts(w, n));
    let security_hub = top
        .get("security_hub")
        .and_then(|n| accounts::security_hub(w, n));
    let backlog = top.get("backlog").and_then(|n| sections::backlog(w, n));
    let relay = opt(&top, "relay", |n| sections::relay(w, n));
    let rules = top.get("rules").and_then(|n| rules(w, n));
    super::checks::check(
        w,
        &super::checks::Parts {
            name: name.as_deref(),
            has_relay: relay.as_ref().map(Option::is_some),
            backlog: backlog.as_ref(),
            rules: rules
                .iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, (r, _))| Some((i, r.as_ref()?)))
                .collect(),
            heads: rules.iter().flatten().map(|(_, head)| head).collect(),
        },
    );
    let rules = rules.and_then(|rules| {
        rules
            .into_iter()
            .map(|(r, _)| r)
            .collect::<Option<Vec<Rule>>>()
    });
    let server = opt(&top, "server", |n| sections::server(w, n));
    let store = opt(&top, "store", |n| sections::store(w, n));
    let schedules = opt(&top, "schedules", |n| sections::schedules(w, n));
    let reconcile = opt(&top, "reconcile", |n| sections::reconcile(w, n));
    Some(Config {
        version: version?,
        name: name?,
        accounts: accounts?,
        security_hub: security_hub?,
        backlog: backlog?,
        relay: relay?,
        rules: rules?,
        server: server?.unwrap_or_else(|| Server {
            listen: DEFAULT_LISTEN.to_owned(),
            shutdown_timeout_seconds: DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        }),
        store: store?.unwrap_or_else(|| Store {
            path: PathBuf::from(DEFAULT_STORE_PATH),
        }),
        schedules: schedules?.unwrap_or_else(default_schedules),
        reconcile: reconcile?.unwrap_or(ReconcileSettings {
            concurrency: DEFAULT_RECONCILE_CONCURRENCY,
        }),
    })
}

/// An optional section: `Some(None)` when absent, `None` when present but broken.
pub(super) fn opt<'n, 'a, T>(
    fields: &Fields<'n, 'a>,
    key: &str,
    read: impl FnOnce(&'n Node<'a>) -> Option<T>,
) -> Option<Option<T>> {
    match fields.get(key) {
        None => Some(None),
        Some(node) => read(node).map(Some),
    }
}

/// An optional key with a default: `None` only when present and broken.
pub(super) fn or_default<'n, 'a, T>(
    fields: &Fields<'n, 'a>,
    key: &str,
    default: impl FnOnce() -> T,
    read: impl FnOnce(&'n Node<'a>, String) -> Option<T>,
) -> Option<T> {
    match fields.get(key) {
        None => Some(default()),
        Some(node) => read(node, fields.path_of(key)),
    }
}

pub(super) fn default_schedules() -> Schedules {
    Schedules {
        reconcile: DEFAULT_RECONCILE_SCHEDULE.to_owned(),
        closure_sync: DEFAULT_CLOSURE_SYNC_SCHEDULE.to_owned(),
        backfill: DEFAULT_BACKFILL_SCHEDULE.to_owned(),
    }
}

fn version(w: &mut Walker, node: &Node<'_>) -> Option<u32> {
    let v = w.uint(node, "version", 0, u64::from(u32::MAX))?;
    if v != 1 {
        w.error(
            node,
            "version",
            Some(v.to_string()),
            "unsupported version (this program reads version 1)",
        );
        return None;
    }
    Some(1)
}

/// `[a-z0-9-]`, not starting or ending with `-`.
pub(super) fn is_resource_word(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && !text.ends_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn name(w: &mut Walker, node: &Node<'_>) -> Option<String> {
    let name = w.string(node, "name")?;
    if !is_resource_word(&name) {
        w.error(
            node,
            "name",
            Some(name),
            "must be lowercase letters, digits and `-` (it names AWS resources fb-<name>-…)",
        );
        return None;
    }
    if name.len() > MAX_NAME_LEN {
        let message =
            format!("must be at most {MAX_NAME_LEN} characters (AWS names are limited to 64)");
        w.error(node, "name", Some(name), message);
        return None;
    }
    Some(name)
}

/// Every rule, each `None` when broken, so cross-rule checks still see the good ones, and the
/// heads (name, delivery) of all of them.
fn rules(w: &mut Walker, node: &Node<'_>) -> Option<Vec<(Option<Rule>, RuleHead)>> {
    let items = w.list(node, "rules")?;
    if items.is_empty() {
        w.error(node, "rules", None, "list at least one rule");
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|(path, item)| super::rule::rule(w, item, &path))
            .collect(),
    )
}

/// Template placeholders that are neither built in nor declared in the rule's `vars`.
pub(super) fn unknown_placeholders<'t>(
    text: &'t str,
    vars: &BTreeMap<String, String>,
) -> Vec<&'t str> {
    template::placeholders(text)
        .into_iter()
        .filter(|name| template::builtin_path(name).is_none() && !vars.contains_key(*name))
        .collect()
}
