//! The `backlog`, `relay`, `server`, `store`, `schedules` and `reconcile` sections.
//!
//! Must not: resolve secrets or Backlog names (both happen at use, not at load).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::load::{
    keys, opt, or_default, DEFAULT_BACKFILL_SCHEDULE, DEFAULT_CLOSURE_SYNC_SCHEDULE,
    DEFAULT_LISTEN, DEFAULT_RECONCILE_CONCURRENCY, DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, DEFAULT_STORE_PATH, SEVERITY_LABELS,
};
use super::walk::{Node, Walker};
use super::*;

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

pub(super) fn backlog(w: &mut Walker, node: &Node<'_>) -> Option<Backlog> {
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

pub(super) fn relay(w: &mut Walker, node: &Node<'_>) -> Option<Relay> {
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

pub(super) fn server(w: &mut Walker, node: &Node<'_>) -> Option<Server> {
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

pub(super) fn store(w: &mut Walker, node: &Node<'_>) -> Option<Store> {
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

pub(super) fn schedules(w: &mut Walker, node: &Node<'_>) -> Option<Schedules> {
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

pub(super) fn reconcile(w: &mut Walker, node: &Node<'_>) -> Option<ReconcileSettings> {
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
