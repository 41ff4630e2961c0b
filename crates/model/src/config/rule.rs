//! One entry of `rules:`: name, delivery, `match` or `event_pattern`, rate, issue template, vars.
//!
//! Must not: check things that need other rules or sections (duplicate names, priority
//! coverage, relay presence, resource name lengths): those are in `checks.rs`.

use std::collections::BTreeMap;

use super::load::{
    is_resource_word, keys, unknown_placeholders, DEFAULT_RATE_LIMIT_PER_SECOND,
    MAX_RATE_LIMIT_PER_SECOND, RECORD_STATES, SEVERITY_LABELS, WORKFLOW_STATUSES,
};
use super::walk::{Fields, Node, Walker};
use super::*;
use crate::template;

/// What cross-rule checks need from a rule even when the rest of it is broken.
#[derive(Debug, Default)]
pub(super) struct RuleHead {
    pub name: Option<String>,
    pub delivery: Option<Delivery>,
}

pub(super) fn rule(w: &mut Walker, node: &Node<'_>, path: &str) -> (Option<Rule>, RuleHead) {
    let Some(f) = w.mapping(node, path, keys("rules[]"), &["name", "issue"]) else {
        return (None, RuleHead::default());
    };
    let name = f
        .get("name")
        .and_then(|n| rule_name(w, n, &f.path_of("name")));
    let delivery = match f.get("delivery") {
        None => Some(Delivery::Relay),
        Some(n) => delivery(w, n, &f.path_of("delivery")),
    };
    let pattern = pattern(w, &f);
    let rate = match f.get("rate_limit_per_second") {
        None => Some(DEFAULT_RATE_LIMIT_PER_SECOND),
        Some(n) => w
            .uint(
                n,
                &f.path_of("rate_limit_per_second"),
                1,
                MAX_RATE_LIMIT_PER_SECOND,
            )
            .and_then(|r| u32::try_from(r).ok()),
    };
    let vars = match f.get("vars") {
        None => Some(BTreeMap::new()),
        Some(n) => vars(w, n, &f.path_of("vars")),
    };
    let issue = f
        .get("issue")
        .and_then(|n| issue(w, n, &f.path_of("issue"), vars.as_ref()));
    let enabled = match f.get("enabled") {
        None => Some(true),
        Some(n) => w.boolean(n, &f.path_of("enabled")),
    };
    let head = RuleHead {
        name: name.clone(),
        delivery,
    };
    let rule = (|| {
        Some(Rule {
            name: name?,
            delivery: delivery?,
            pattern: pattern?,
            rate_limit_per_second: rate?,
            issue: issue?,
            vars: vars?,
            enabled: enabled?,
        })
    })();
    (rule, head)
}

fn rule_name(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let name = w.string(node, path)?;
    if !is_resource_word(&name) {
        w.error(
            node,
            path,
            Some(name),
            "a rule name is lowercase letters, digits and `-` (it names AWS resources)",
        );
        return None;
    }
    Some(name)
}

fn delivery(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<Delivery> {
    match w.string(node, path)?.as_str() {
        "relay" => Some(Delivery::Relay),
        "direct" => Some(Delivery::Direct),
        other => {
            w.error(
                node,
                path,
                Some(other.to_owned()),
                "expected relay or direct",
            );
            None
        }
    }
}

fn pattern(w: &mut Walker, f: &Fields<'_, '_>) -> Option<RulePattern> {
    match (f.get("match"), f.get("event_pattern")) {
        (Some(m), None) => matcher(w, m, &f.path_of("match")).map(RulePattern::Match),
        (None, Some(p)) => raw_pattern(w, p, &f.path_of("event_pattern")).map(RulePattern::Raw),
        (Some(_), Some(_)) => {
            w.error(
                f.node,
                &f.path,
                None,
                "give either match or event_pattern, not both",
            );
            None
        }
        (None, None) => {
            w.error(
                f.node,
                &f.path,
                None,
                "one of match or event_pattern is required",
            );
            None
        }
    }
}

/// The `match` block; values with a fixed vocabulary are checked against it.
fn matcher(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<Match> {
    let f = w.mapping(node, path, keys("rules[].match"), &[])?;
    let mut list = |key: &str, allowed: Option<&[&str]>| -> Option<Vec<String>> {
        let Some(n) = f.get(key) else {
            return Some(Vec::new());
        };
        let items = w.string_list(n, &f.path_of(key))?;
        let mut ok = true;
        let mut out: Vec<String> = Vec::new();
        for (item_path, value) in items {
            if let Some(allowed) = allowed.filter(|a| !a.contains(&value.as_str())) {
                let message = format!("unknown value (expected one of: {})", allowed.join(", "));
                w.error_at(&item_path, Some(value), message);
                ok = false;
            } else if !out.contains(&value) {
                out.push(value);
            }
        }
        ok.then_some(out)
    };
    let product_names = list("product_names", None);
    let severity_labels = list("severity_labels", Some(SEVERITY_LABELS));
    let record_states = list("record_states", Some(RECORD_STATES));
    let workflow_statuses = list("workflow_statuses", Some(WORKFLOW_STATUSES));
    Some(Match {
        product_names: product_names?,
        severity_labels: severity_labels?,
        record_states: record_states?,
        workflow_statuses: workflow_statuses?,
    })
}

/// A raw EventBridge pattern: a YAML mapping, or a string holding a JSON object.
fn raw_pattern(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<serde_json::Value> {
    let value = match w.json(node, path)? {
        serde_json::Value::String(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                w.error(node, path, None, format!("not valid JSON: {e}"));
                return None;
            }
        },
        other => other,
    };
    if !value.is_object() || value.as_object().is_some_and(|o| o.is_empty()) {
        w.error(
            node,
            path,
            None,
            "an event pattern is a non-empty mapping (JSON object)",
        );
        return None;
    }
    Some(value)
}

fn vars(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, json_path, value_path) in w.string_map(node, path)? {
        let is_name = template::placeholders(&format!("<{name}>")) == [name.as_str()];
        if !is_name {
            w.error_at(
                &value_path,
                Some(name),
                "a variable name is letters, digits and `_`, starting with a letter",
            );
            ok = false;
        } else if template::builtin_path(&name).is_some() {
            w.error_at(
                &value_path,
                Some(name),
                "this built-in variable cannot be redefined",
            );
            ok = false;
        } else if let Err(e) = template::parse_path(&json_path) {
            w.error_at(&value_path, Some(json_path), e.to_string());
            ok = false;
        } else {
            out.insert(name, json_path);
        }
    }
    ok.then_some(out)
}

fn issue(
    w: &mut Walker,
    node: &Node<'_>,
    path: &str,
    vars: Option<&BTreeMap<String, String>>,
) -> Option<IssueTemplate> {
    let f = w.mapping(
        node,
        path,
        keys("rules[].issue"),
        &["summary", "description"],
    )?;
    let mut text = |key: &str| -> Option<String> {
        let key_path = f.path_of(key);
        let value = w.string(f.get(key)?, &key_path)?;
        let mut ok = true;
        if let Some(vars) = vars {
            for unknown in unknown_placeholders(&value, vars) {
                let message =
                    "unknown template variable (use a built-in one or declare it under vars)";
                w.error_at(&key_path, Some(format!("<{unknown}>")), message);
                ok = false;
            }
        }
        ok.then_some(value)
    };
    let summary = text("summary");
    let description = text("description");
    if summary.as_deref().is_some_and(|s| s.trim().is_empty()) {
        w.error_at(
            &f.path_of("summary"),
            None,
            "must not be empty (Backlog requires a summary)",
        );
        return None;
    }
    let priority = optional_name(w, &f, "priority");
    let issue_type = optional_name(w, &f, "issue_type");
    Some(IssueTemplate {
        summary: summary?,
        description: description?,
        priority: priority?,
        issue_type: issue_type?,
    })
}

fn optional_name(w: &mut Walker, f: &Fields<'_, '_>, key: &str) -> Option<Option<String>> {
    let Some(n) = f.get(key) else {
        return Some(None);
    };
    let path = f.path_of(key);
    let value = w.string(n, &path)?;
    if value.trim().is_empty() {
        w.error(n, &path, None, "must not be empty");
        return None;
    }
    Some(Some(value))
}
