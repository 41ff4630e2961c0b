//! The JSON Schema (draft 2020-12) of the desired-state file, for editors (YAML language
//! servers read it through a `# yaml-language-server: $schema=…` comment).
//!
//! Built here, in code, from the same constants the loader uses (regions, severity labels,
//! defaults); `schema/findings-bridge.schema.json` is this value written out, and tests keep
//! the two equal and the schema's keys equal to the loader's [`crate::config::KNOWN_KEYS`].
//!
//! Must not: be the validator. The loader's checks are stricter (cross-field rules, template
//! variables, cron syntax, lengths); the schema is editor help.

use serde_json::{json, Value};

use crate::config::{
    DEFAULT_BACKFILL_SCHEDULE, DEFAULT_CLOSURE_SYNC_SCHEDULE, DEFAULT_LISTEN,
    DEFAULT_RATE_LIMIT_PER_SECOND, DEFAULT_RECONCILE_CONCURRENCY, DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, DEFAULT_STORE_PATH, MAX_NAME_LEN, MAX_RATE_LIMIT_PER_SECOND,
    RECORD_STATES, SEVERITY_LABELS, WORKFLOW_STATUSES,
};
use crate::regions::AWS_REGIONS;

/// Where the committed copy lives, relative to the workspace root.
pub const SCHEMA_FILE: &str = "schema/findings-bridge.schema.json";

/// The schema as JSON text, as committed (pretty, trailing newline).
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The schema of a version 1 file.
pub fn json_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:findings-bridge:desired-state:v1",
        "title": "findings-bridge desired-state file, version 1",
        "description": "One file kept in Git: which accounts and regions to wire up, where findings go in Backlog, and how. `findings-bridge validate` checks more than this schema can.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "name", "accounts", "security_hub", "backlog", "rules"],
        "properties": {
            "version": {"const": 1, "description": "Format version; only 1 exists."},
            "name": {
                "type": "string",
                "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
                "maxLength": MAX_NAME_LEN,
                "description": "Managed AWS resources are named fb-<name>-…; the reconciler touches only those."
            },
            "accounts": accounts(),
            "security_hub": {
                "type": "object",
                "additionalProperties": false,
                "required": ["account", "region"],
                "description": "Where GetFindings and BatchUpdateFindings go: the (delegated) administrator and its home region.",
                "properties": {
                    "account": {"$ref": "#/$defs/accountId"},
                    "region": {"$ref": "#/$defs/region"}
                }
            },
            "backlog": backlog(),
            "relay": {
                "type": "object",
                "additionalProperties": false,
                "required": ["public_url", "api_key"],
                "description": "Needed by relay rules: API destinations call <public_url>/v1/events.",
                "properties": {
                    "public_url": {"$ref": "#/$defs/url"},
                    "api_key": {"$ref": "#/$defs/secretRef", "description": "Sent by the connection as header X-Api-Key."}
                }
            },
            "rules": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}},
            "server": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "listen": {"type": "string", "default": DEFAULT_LISTEN},
                    "shutdown_timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": DEFAULT_SHUTDOWN_TIMEOUT_SECONDS}
                }
            },
            "store": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"path": {"type": "string", "minLength": 1, "default": DEFAULT_STORE_PATH}}
            },
            "schedules": {
                "type": "object",
                "additionalProperties": false,
                "description": "Cron with seconds: sec min hour day month weekday [year].",
                "properties": {
                    "reconcile": {"$ref": "#/$defs/cron", "default": DEFAULT_RECONCILE_SCHEDULE},
                    "closure_sync": {"$ref": "#/$defs/cron", "default": DEFAULT_CLOSURE_SYNC_SCHEDULE},
                    "backfill": {"$ref": "#/$defs/cron", "default": DEFAULT_BACKFILL_SCHEDULE}
                }
            },
            "reconcile": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "concurrency": {"type": "integer", "minimum": 1, "maximum": 256, "default": DEFAULT_RECONCILE_CONCURRENCY}
                }
            }
        },
        "$defs": defs()
    })
}

fn accounts() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["regions"],
        "allOf": [
            {"oneOf": [{"required": ["ids"]}, {"required": ["organization"]}]},
            {"oneOf": [{"required": ["role"]}, {"required": ["role_arn"]}]}
        ],
        "properties": {
            "ids": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"$ref": "#/$defs/accountId"}},
            "organization": {
                "type": "object",
                "additionalProperties": false,
                "description": "Discover accounts through AWS Organizations.",
                "properties": {
                    "include_ous": {"type": "array", "items": {"type": "string", "pattern": "^(ou-[0-9a-z]{4,}-[0-9a-z]{8,}|r-[0-9a-z]{4,})$"}},
                    "exclude_ids": {"type": "array", "uniqueItems": true, "items": {"$ref": "#/$defs/accountId"}}
                }
            },
            "role": {"type": "string", "pattern": "^[A-Za-z0-9+=,.@_-]{1,64}$", "description": "Role name assumed in each account."},
            "role_arn": {"type": "string", "pattern": "^arn:aws.*\\{account\\}", "description": "Role ARN template, e.g. arn:aws:iam::{account}:role/X."},
            "external_id": {"$ref": "#/$defs/secretRef"},
            "regions": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"$ref": "#/$defs/region"}},
            "invoke_role_arn": {
                "type": "string",
                "pattern": "^arn:aws.*:iam::.*:role/",
                "description": "An existing role EventBridge uses to call the destinations ({account} is filled in); else fb-<name>-invoke is managed."
            }
        }
    })
}

fn backlog() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["base_url", "api_key", "project", "issue_type"],
        "properties": {
            "base_url": {"$ref": "#/$defs/url", "description": "https://<space>.backlog.jp (or .com), without /api/v2."},
            "api_key": {"$ref": "#/$defs/secretRef"},
            "project": {"type": "string", "minLength": 1, "description": "Project key, e.g. SEC."},
            "issue_type": {"type": "string", "minLength": 1},
            "priority": {
                "type": "object",
                "description": "Severity label → Backlog priority name.",
                "propertyNames": {"$ref": "#/$defs/severity"},
                "additionalProperties": {"type": "string"}
            },
            "closed_statuses": {"type": "array", "items": {"type": "string"}, "default": ["Closed"]},
            "suppress_resolutions": {"type": "array", "items": {"type": "string"}, "default": ["Won't Fix", "Invalid", "Duplication"]},
            "webhook_token": {"$ref": "#/$defs/secretRef"},
            "on_recurrence": {"enum": ["reopen", "comment", "new_issue"], "default": "reopen"},
            "close_issue_on": {"type": "array", "items": {"enum": ["archived", "resolved"]}, "default": ["archived"]}
        }
    })
}

fn rule() -> Value {
    let strings = |values: &[&str]| json!({"type": "array", "items": {"enum": values}});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "issue"],
        "oneOf": [{"required": ["match"]}, {"required": ["event_pattern"]}],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"},
            "delivery": {"enum": ["relay", "direct"], "default": "relay"},
            "match": {
                "type": "object",
                "additionalProperties": false,
                "description": "Compiled to an EventBridge pattern on Security Hub Findings - Imported; empty lists match anything.",
                "properties": {
                    "product_names": {"type": "array", "items": {"type": "string"}},
                    "severity_labels": strings(SEVERITY_LABELS),
                    "record_states": strings(RECORD_STATES),
                    "workflow_statuses": strings(WORKFLOW_STATUSES)
                }
            },
            "event_pattern": {
                "type": ["object", "string"],
                "description": "A raw EventBridge pattern (a mapping, or JSON text), used as given."
            },
            "rate_limit_per_second": {"type": "integer", "minimum": 1, "maximum": MAX_RATE_LIMIT_PER_SECOND, "default": DEFAULT_RATE_LIMIT_PER_SECOND},
            "issue": {
                "type": "object",
                "additionalProperties": false,
                "required": ["summary", "description"],
                "description": "Templates with <Var> placeholders: built-in variables or the rule's vars.",
                "properties": {
                    "summary": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "priority": {"type": "string", "minLength": 1, "description": "One priority for every severity (the seed's way)."},
                    "issue_type": {"type": "string", "minLength": 1, "description": "Overrides backlog.issue_type."}
                }
            },
            "vars": {
                "type": "object",
                "description": "Extra template variables: name → JSON path into the event.",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": "string", "pattern": "^\\$"}
            },
            "enabled": {"type": "boolean", "default": true}
        }
    })
}

fn defs() -> Value {
    json!({
        "accountId": {"type": "string", "pattern": "^[0-9]{12}$"},
        "region": {"enum": AWS_REGIONS},
        "severity": {"enum": SEVERITY_LABELS},
        "secretRef": {
            "type": "string",
            "pattern": "^(env:[A-Za-z_][A-Za-z0-9_]*|file:.*\\S.*)$",
            "description": "A reference, never the secret: env:NAME or file:PATH."
        },
        "url": {
            "type": "string",
            "pattern": "^(https://|http://(127\\.0\\.0\\.1|localhost)([:/]|$))",
            "description": "https; plain http only for 127.0.0.1 or localhost."
        },
        "cron": {"type": "string", "pattern": "^\\S+(\\s+\\S+){5,6}$"},
        "rule": rule()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KNOWN_KEYS;
    use std::collections::BTreeMap;

    /// Follows a `$ref` into `$defs`.
    fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("local refs only");
                &root["$defs"][name]
            }
            None => node,
        }
    }

    /// Every object schema with `properties`, keyed like KNOWN_KEYS (`rules[]` for items).
    fn sections(root: &Value, node: &Value, path: &str, out: &mut BTreeMap<String, Vec<String>>) {
        let node = resolve(root, node);
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            let mut keys: Vec<String> = props.keys().cloned().collect();
            keys.sort();
            out.insert(path.to_owned(), keys);
            for (key, child) in props {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                sections(root, child, &child_path, out);
            }
        }
        if let Some(items) = node.get("items") {
            sections(root, items, &format!("{path}[]"), out);
        }
    }

    #[test]
    fn schema_keys_equal_the_loaders_known_keys() {
        let root = json_schema();
        let mut from_schema = BTreeMap::new();
        sections(&root, &root, "", &mut from_schema);
        let from_loader: BTreeMap<String, Vec<String>> = KNOWN_KEYS
            .iter()
            .map(|(section, keys)| {
                let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
                keys.sort();
                ((*section).to_owned(), keys)
            })
            .collect();
        assert_eq!(from_schema, from_loader);
    }

    #[test]
    fn every_object_refuses_unknown_keys_like_the_loader() {
        fn walk(root: &Value, node: &Value, path: &str) {
            let node = resolve(root, node);
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                assert_eq!(node["additionalProperties"], json!(false), "{path}");
                for (key, child) in props {
                    walk(root, child, &format!("{path}.{key}"));
                }
            }
            if let Some(items) = node.get("items") {
                walk(root, items, &format!("{path}[]"));
            }
        }
        let root = json_schema();
        walk(&root, &root, "$");
    }
}
