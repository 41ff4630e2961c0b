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
use crate::regions::is_known_region;
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

fn keys(section: &str) -> &'static [&'static str] {
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
    let accounts = top.get("accounts").and_then(|n| accounts(w, n));
    let security_hub = top.get("security_hub").and_then(|n| security_hub(w, n));
    let backlog = top.get("backlog").and_then(|n| backlog(w, n));
    let relay = opt(&top, "relay", |n| relay(w, n));
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
    let server = opt(&top, "server", |n| server(w, n));
    let store = opt(&top, "store", |n| store(w, n));
    let schedules = opt(&top, "schedules", |n| schedules(w, n));
    let reconcile = opt(&top, "reconcile", |n| reconcile(w, n));
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
fn opt<'n, 'a, T>(
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
fn or_default<'n, 'a, T>(
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

fn default_schedules() -> Schedules {
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

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A list of 12-digit account ids, without duplicates.
fn account_ids(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<Vec<String>> {
    let items = w.list(node, path)?;
    let mut ids: Vec<String> = Vec::new();
    let mut ok = true;
    for (item_path, item) in items {
        match account_id(w, item, &item_path) {
            Some(id) if ids.contains(&id) => {
                w.error(item, &item_path, Some(id), "duplicate account id");
                ok = false;
            }
            Some(id) => ids.push(id),
            None => ok = false,
        }
    }
    ok.then_some(ids)
}

fn account_id(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let id = w.string(node, path)?;
    if !is_account_id(&id) {
        w.error(
            node,
            path,
            Some(id),
            "an account id is 12 digits, written in quotes",
        );
        return None;
    }
    Some(id)
}

fn region(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let region = w.string(node, path)?;
    if !is_known_region(&region) {
        w.error(node, path, Some(region), "unknown AWS region");
        return None;
    }
    Some(region)
}

fn accounts(w: &mut Walker, node: &Node<'_>) -> Option<Accounts> {
    let f = w.mapping(node, "accounts", keys("accounts"), &["regions"])?;
    let source = account_source(w, &f);
    let role = role_target(w, &f);
    let external_id = opt(&f, "external_id", |n| w.secret(n, "accounts.external_id"));
    let regions = f.get("regions").and_then(|n| regions(w, n));
    let invoke_role_arn = opt(&f, "invoke_role_arn", |n| {
        let path = "accounts.invoke_role_arn";
        let arn = w.string(n, path)?;
        let valid = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/");
        if !valid {
            w.error(
                n,
                path,
                Some(arn),
                "must be an IAM role ARN (arn:aws:iam::<account or {account}>:role/NAME)",
            );
            return None;
        }
        Some(arn)
    });
    Some(Accounts {
        source: source?,
        role: role?,
        external_id: external_id?,
        regions: regions?,
        invoke_role_arn: invoke_role_arn?,
    })
}

fn account_source(w: &mut Walker, f: &Fields<'_, '_>) -> Option<AccountSource> {
    match (f.get("ids"), f.get("organization")) {
        (Some(ids), None) => {
            let ids = account_ids(w, ids, "accounts.ids")?;
            if ids.is_empty() {
                w.error_at("accounts.ids", None, "list at least one account id");
                return None;
            }
            Some(AccountSource::Ids(ids))
        }
        (None, Some(org)) => organization(w, org),
        (Some(_), Some(_)) => {
            w.error(
                f.node,
                "accounts",
                None,
                "give either ids or organization, not both",
            );
            None
        }
        (None, None) => {
            w.error(
                f.node,
                "accounts",
                None,
                "one of ids or organization is required",
            );
            None
        }
    }
}

fn organization(w: &mut Walker, node: &Node<'_>) -> Option<AccountSource> {
    let path = "accounts.organization";
    let f = w.mapping(node, path, keys(path), &[])?;
    let include_ous = or_default(&f, "include_ous", Vec::new, |n, p| {
        let items = w.string_list(n, &p)?;
        let mut ok = true;
        for (item_path, ou) in &items {
            if !is_ou_or_root(ou) {
                w.error_at(
                    item_path,
                    Some(ou.clone()),
                    "not an organizational unit (ou-xxxx-xxxxxxxx) or root (r-xxxx) id",
                );
                ok = false;
            }
        }
        ok.then(|| items.into_iter().map(|(_, ou)| ou).collect())
    });
    let exclude_ids = or_default(&f, "exclude_ids", Vec::new, |n, p| account_ids(w, n, &p));
    Some(AccountSource::Organization {
        include_ous: include_ous?,
        exclude_ids: exclude_ids?,
    })
}

fn is_ou_or_root(id: &str) -> bool {
    let word = |s: &str, min: usize| {
        s.len() >= min
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| word(root, 4) && word(ou, 8));
    }
    id.strip_prefix("r-").is_some_and(|root| word(root, 4))
}

fn role_target(w: &mut Walker, f: &Fields<'_, '_>) -> Option<RoleTarget> {
    match (f.get("role"), f.get("role_arn")) {
        (Some(n), None) => {
            let role = w.string(n, "accounts.role")?;
            let valid = !role.is_empty()
                && role.len() <= 64
                && role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !valid {
                w.error(n, "accounts.role", Some(role), "not an IAM role name");
                return None;
            }
            Some(RoleTarget::Name(role))
        }
        (None, Some(n)) => {
            let arn = w.string(n, "accounts.role_arn")?;
            if !arn.contains("{account}") || !arn.starts_with("arn:aws") {
                w.error(
                    n,
                    "accounts.role_arn",
                    Some(arn),
                    "must be a role ARN containing {account}, e.g. arn:aws:iam::{account}:role/X",
                );
                return None;
            }
            Some(RoleTarget::ArnTemplate(arn))
        }
        (Some(_), Some(_)) => {
            w.error(
                f.node,
                "accounts",
                None,
                "give either role or role_arn, not both",
            );
            None
        }
        (None, None) => {
            w.error(
                f.node,
                "accounts",
                None,
                "one of role or role_arn is required",
            );
            None
        }
    }
}

fn regions(w: &mut Walker, node: &Node<'_>) -> Option<Vec<String>> {
    let items = w.list(node, "accounts.regions")?;
    if items.is_empty() {
        w.error(node, "accounts.regions", None, "list at least one region");
        return None;
    }
    let mut regions: Vec<String> = Vec::new();
    let mut ok = true;
    for (item_path, item) in items {
        match region(w, item, &item_path) {
            Some(r) if regions.contains(&r) => {
                w.error(item, &item_path, Some(r), "duplicate region");
                ok = false;
            }
            Some(r) => regions.push(r),
            None => ok = false,
        }
    }
    ok.then_some(regions)
}

fn security_hub(w: &mut Walker, node: &Node<'_>) -> Option<SecurityHub> {
    let f = w.mapping(
        node,
        "security_hub",
        keys("security_hub"),
        &["account", "region"],
    )?;
    let account = f
        .get("account")
        .and_then(|n| account_id(w, n, "security_hub.account"));
    let region = f
        .get("region")
        .and_then(|n| region(w, n, "security_hub.region"));
    Some(SecurityHub {
        account: account?,
        region: region?,
    })
}

/// An http(s) URL without a trailing slash. Plain http only for the local machine, so the demo
/// and tests run against emulators while real secrets never travel in clear text.
fn url(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let text = w.string(node, path)?;
    let parsed = match url::Url::parse(&text) {
        Ok(u) => u,
        Err(e) => {
            w.error(node, path, Some(text), format!("not a URL: {e}"));
            return None;
        }
    };
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let allowed = parsed.scheme() == "https" || (parsed.scheme() == "http" && local);
    if !allowed {
        w.error(
            node,
            path,
            Some(text),
            "must be an https URL (http only for 127.0.0.1 or localhost)",
        );
        return None;
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        w.error(
            node,
            path,
            Some(text),
            "must not carry a query or fragment (secrets never go in URLs)",
        );
        return None;
    }
    Some(text.trim_end_matches('/').to_owned())
}

fn non_empty(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let text = w.string(node, path)?;
    if text.trim().is_empty() {
        w.error(node, path, None, "must not be empty");
        return None;
    }
    Some(text)
}

fn names(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<Vec<String>> {
    let items = w.string_list(node, path)?;
    Some(items.into_iter().map(|(_, s)| s).collect())
}

fn backlog(w: &mut Walker, node: &Node<'_>) -> Option<Backlog> {
    let f = w.mapping(
        node,
        "backlog",
        keys("backlog"),
        &["base_url", "api_key", "project", "issue_type"],
    )?;
    let base_url = f
        .get("base_url")
        .and_then(|n| url(w, n, "backlog.base_url"));
    let api_key = f
        .get("api_key")
        .and_then(|n| w.secret(n, "backlog.api_key"));
    let project = f
        .get("project")
        .and_then(|n| non_empty(w, n, "backlog.project"));
    let issue_type = f
        .get("issue_type")
        .and_then(|n| non_empty(w, n, "backlog.issue_type"));
    let priority = or_default(&f, "priority", BTreeMap::new, |n, p| priority_map(w, n, &p));
    let closed_statuses = or_default(
        &f,
        "closed_statuses",
        || vec!["Closed".to_owned()],
        |n, p| names(w, n, &p),
    );
    let suppress_resolutions = or_default(
        &f,
        "suppress_resolutions",
        || {
            ["Won't Fix", "Invalid", "Duplication"]
                .map(String::from)
                .to_vec()
        },
        |n, p| names(w, n, &p),
    );
    let webhook_token = opt(&f, "webhook_token", |n| {
        w.secret(n, "backlog.webhook_token")
    });
    let on_recurrence = or_default(
        &f,
        "on_recurrence",
        || OnRecurrence::Reopen,
        |n, p| match w.string(n, &p)?.as_str() {
            "reopen" => Some(OnRecurrence::Reopen),
            "comment" => Some(OnRecurrence::Comment),
            "new_issue" => Some(OnRecurrence::NewIssue),
            other => {
                w.error(
                    n,
                    &p,
                    Some(other.to_owned()),
                    "expected reopen, comment or new_issue",
                );
                None
            }
        },
    );
    let close_issue_on = or_default(
        &f,
        "close_issue_on",
        || vec![CloseOn::Archived],
        |n, p| {
            let mut out = Vec::new();
            for (item_path, value) in w.string_list(n, &p)? {
                match value.as_str() {
                    "archived" => out.push(CloseOn::Archived),
                    "resolved" => out.push(CloseOn::Resolved),
                    _ => w.error_at(&item_path, Some(value), "expected archived or resolved"),
                }
            }
            Some(out)
        },
    );
    Some(Backlog {
        base_url: base_url?,
        api_key: api_key?,
        project: project?,
        issue_type: issue_type?,
        priority: priority?,
        closed_statuses: closed_statuses?,
        suppress_resolutions: suppress_resolutions?,
        webhook_token: webhook_token?,
        on_recurrence: on_recurrence?,
        close_issue_on: close_issue_on?,
    })
}

fn priority_map(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    let mut ok = true;
    for (severity, priority, value_path) in w.string_map(node, path)? {
        if !SEVERITY_LABELS.contains(&severity.as_str()) {
            let message = format!(
                "unknown severity label (expected one of: {})",
                SEVERITY_LABELS.join(", ")
            );
            w.error_at(&value_path, Some(severity), message);
            ok = false;
        } else {
            map.insert(severity, priority);
        }
    }
    ok.then_some(map)
}

fn relay(w: &mut Walker, node: &Node<'_>) -> Option<Relay> {
    let f = w.mapping(node, "relay", keys("relay"), &["public_url", "api_key"])?;
    let public_url = f
        .get("public_url")
        .and_then(|n| url(w, n, "relay.public_url"));
    let api_key = f.get("api_key").and_then(|n| w.secret(n, "relay.api_key"));
    Some(Relay {
        public_url: public_url?,
        api_key: api_key?,
    })
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

fn server(w: &mut Walker, node: &Node<'_>) -> Option<Server> {
    let f = w.mapping(node, "server", keys("server"), &[])?;
    let listen = or_default(
        &f,
        "listen",
        || DEFAULT_LISTEN.to_owned(),
        |n, p| {
            let text = w.string(n, &p)?;
            if text.parse::<std::net::SocketAddr>().is_err() {
                w.error(
                    n,
                    &p,
                    Some(text),
                    "expected an address and port such as 127.0.0.1:8080",
                );
                return None;
            }
            Some(text)
        },
    );
    let timeout = or_default(
        &f,
        "shutdown_timeout_seconds",
        || DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        |n, p| w.uint(n, &p, 1, 3600),
    );
    Some(Server {
        listen: listen?,
        shutdown_timeout_seconds: timeout?,
    })
}

fn store(w: &mut Walker, node: &Node<'_>) -> Option<Store> {
    let f = w.mapping(node, "store", keys("store"), &[])?;
    let path = or_default(
        &f,
        "path",
        || DEFAULT_STORE_PATH.to_owned(),
        |n, p| non_empty(w, n, &p),
    );
    Some(Store {
        path: PathBuf::from(path?),
    })
}

/// A cron expression with seconds: 6 fields, or 7 with a year.
fn cron(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let text = w.string(node, path)?;
    let fields = text.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        let message = format!("a cron expression here has 6 fields (sec min hour day month weekday) or 7 (with year), found {fields}");
        w.error(node, path, Some(text), message);
        return None;
    }
    if let Err(e) = text.parse::<::cron::Schedule>() {
        w.error(
            node,
            path,
            Some(text),
            format!("not a valid cron expression: {e}"),
        );
        return None;
    }
    Some(text)
}

fn schedules(w: &mut Walker, node: &Node<'_>) -> Option<Schedules> {
    let f = w.mapping(node, "schedules", keys("schedules"), &[])?;
    let reconcile = or_default(
        &f,
        "reconcile",
        || DEFAULT_RECONCILE_SCHEDULE.to_owned(),
        |n, p| cron(w, n, &p),
    );
    let closure_sync = or_default(
        &f,
        "closure_sync",
        || DEFAULT_CLOSURE_SYNC_SCHEDULE.to_owned(),
        |n, p| cron(w, n, &p),
    );
    let backfill = or_default(
        &f,
        "backfill",
        || DEFAULT_BACKFILL_SCHEDULE.to_owned(),
        |n, p| cron(w, n, &p),
    );
    Some(Schedules {
        reconcile: reconcile?,
        closure_sync: closure_sync?,
        backfill: backfill?,
    })
}

fn reconcile(w: &mut Walker, node: &Node<'_>) -> Option<ReconcileSettings> {
    let f = w.mapping(node, "reconcile", keys("reconcile"), &[])?;
    let concurrency = or_default(
        &f,
        "concurrency",
        || DEFAULT_RECONCILE_CONCURRENCY as u64,
        |n, p| w.uint(n, &p, 1, 256),
    );
    Some(ReconcileSettings {
        concurrency: usize::try_from(concurrency?).ok()?,
    })
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
