//! A walker over the position-carrying YAML tree (saphyr's `MarkedYaml`) that reads typed values
//! and collects every problem with its key path and position instead of stopping at the first.
//!
//! Must not: know the file's sections (that is `load.rs`), or put a secret in an error.

use std::collections::HashMap;

use saphyr::{MarkedYaml, Scalar, YamlData};

use super::error::{ConfigError, HIDDEN_VALUE};
use crate::secret::{SecretRef, SecretRefParseError};

pub(super) type Node<'a> = MarkedYaml<'a>;

/// `parent.key`, or `key` at the top.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `parent[i]`.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The scalar under any tags (`!!str x` is still the string `x`).
fn scalar<'n, 'a>(node: &'n Node<'a>) -> Option<&'n Scalar<'a>> {
    match &node.data {
        YamlData::Value(s) => Some(s),
        YamlData::Tagged(_, inner) => scalar(inner),
        _ => None,
    }
}

fn data<'n, 'a>(node: &'n Node<'a>) -> &'n YamlData<'a, Node<'a>> {
    match &node.data {
        YamlData::Tagged(_, inner) => data(inner),
        other => other,
    }
}

/// "a list", "a number"…: for "expected X, found Y" messages.
fn kind(node: &Node<'_>) -> &'static str {
    match data(node) {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::String(_)) => "a string",
        YamlData::Value(Scalar::Integer(_) | Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Null) => "nothing (null)",
        _ => "an unsupported YAML value",
    }
}

/// The value of an integer scalar.
pub(super) fn integer(node: &Node<'_>) -> Option<i64> {
    match scalar(node)? {
        Scalar::Integer(i) => Some(*i),
        _ => None,
    }
}

/// A scalar as written, for error messages.
fn shown(node: &Node<'_>) -> Option<String> {
    match scalar(node)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::FloatingPoint(f) => Some(f.to_string()),
        Scalar::Boolean(b) => Some(b.to_string()),
        Scalar::Null => None,
    }
}

/// The known fields of one mapping, in file order.
#[derive(Debug)]
pub(super) struct Fields<'n, 'a> {
    pub path: String,
    pub node: &'n Node<'a>,
    entries: Vec<(String, &'n Node<'a>)>,
}

impl<'n, 'a> Fields<'n, 'a> {
    pub fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, node)| *node)
    }

    /// The path of a field of this mapping.
    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// Reads values and collects errors.
#[derive(Debug, Default)]
pub(super) struct Walker {
    pub errors: Vec<ConfigError>,
    /// Path → (line, column) of every node visited, for checks made after the walk.
    positions: HashMap<String, (usize, usize)>,
}

impl Walker {
    fn position(node: &Node<'_>) -> (usize, usize) {
        (node.span.start.line(), node.span.start.col() + 1)
    }

    fn record(&mut self, path: &str, node: &Node<'_>) {
        self.positions
            .entry(path.to_owned())
            .or_insert_with(|| Self::position(node));
    }

    /// An error at `node`.
    pub fn error(
        &mut self,
        node: &Node<'_>,
        path: &str,
        value: Option<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = Self::position(node);
        self.push(path, line, column, value, message.into());
    }

    /// An error at a path visited earlier; the nearest visited parent gives the position.
    pub fn error_at(&mut self, path: &str, value: Option<String>, message: impl Into<String>) {
        let mut probe = path;
        let (line, column) = loop {
            if let Some(pos) = self.positions.get(probe) {
                break *pos;
            }
            match probe.rfind(['.', '[']) {
                Some(cut) => probe = &probe[..cut],
                None => break self.positions.get("").copied().unwrap_or((1, 1)),
            }
        };
        self.push(path, line, column, value, message.into());
    }

    fn push(
        &mut self,
        path: &str,
        line: usize,
        column: usize,
        value: Option<String>,
        message: String,
    ) {
        self.errors.push(ConfigError {
            path: path.to_owned(),
            line,
            column,
            value,
            message,
        });
    }

    fn wrong_type(&mut self, node: &Node<'_>, path: &str, expected: &str) {
        let found = kind(node);
        self.error(
            node,
            path,
            shown(node),
            format!("expected {expected}, found {found}"),
        );
    }

    /// A mapping whose keys must all be in `known`, with every key of `required` present.
    /// Unknown keys are reported at the key; missing ones at the mapping.
    pub fn mapping<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        path: &str,
        known: &[&str],
        required: &[&str],
    ) -> Option<Fields<'n, 'a>> {
        self.record(path, node);
        let YamlData::Mapping(map) = data(node) else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut entries = Vec::new();
        for (key, value) in map.iter() {
            let Some(Scalar::String(name)) = scalar(key) else {
                self.error(key, path, shown(key), "keys must be strings");
                continue;
            };
            let child = join(path, name);
            if !known.contains(&name.as_ref()) {
                let message = format!("unknown key (expected one of: {})", known.join(", "));
                self.error(key, &child, None, message);
                continue;
            }
            self.record(&child, value);
            entries.push((name.to_string(), value));
        }
        for key in required {
            if !entries.iter().any(|(k, _)| k == key) {
                self.error(node, &join(path, key), None, "required key is missing");
            }
        }
        Some(Fields {
            path: path.to_owned(),
            node,
            entries,
        })
    }

    pub fn string(&mut self, node: &Node<'_>, path: &str) -> Option<String> {
        self.record(path, node);
        match scalar(node) {
            Some(Scalar::String(s)) => Some(s.to_string()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A secret reference. Whatever else is written there is never echoed back.
    pub fn secret(&mut self, node: &Node<'_>, path: &str) -> Option<SecretRef> {
        self.record(path, node);
        let Some(Scalar::String(text)) = scalar(node) else {
            let hidden = scalar(node).map(|_| HIDDEN_VALUE.to_owned());
            self.error(
                node,
                path,
                hidden,
                "a secret must be a reference `env:NAME` or `file:PATH`",
            );
            return None;
        };
        match SecretRef::parse(text) {
            Ok(r) => Some(r),
            Err(e @ SecretRefParseError::Literal) => {
                self.error(node, path, Some(HIDDEN_VALUE.to_owned()), e.to_string());
                None
            }
            Err(e) => {
                self.error(node, path, Some(text.to_string()), e.to_string());
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn uint(&mut self, node: &Node<'_>, path: &str, min: u64, max: u64) -> Option<u64> {
        self.record(path, node);
        match scalar(node) {
            Some(Scalar::Integer(i)) => match u64::try_from(*i) {
                Ok(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    let message = format!("must be a whole number from {min} to {max}");
                    self.error(node, path, Some(i.to_string()), message);
                    None
                }
            },
            _ => {
                self.wrong_type(node, path, "a whole number");
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node<'_>, path: &str) -> Option<bool> {
        self.record(path, node);
        match scalar(node) {
            Some(Scalar::Boolean(b)) => Some(*b),
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    /// The items of a list, each with its path.
    pub fn list<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        path: &str,
    ) -> Option<Vec<(String, &'n Node<'a>)>> {
        self.record(path, node);
        let YamlData::Sequence(items) = data(node) else {
            self.wrong_type(node, path, "a list");
            return None;
        };
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = index(path, i);
                    self.record(&item_path, item);
                    (item_path, item)
                })
                .collect(),
        )
    }

    /// A list of strings with each item's path; wrong items are reported and left out.
    pub fn string_list(&mut self, node: &Node<'_>, path: &str) -> Option<Vec<(String, String)>> {
        let items = self.list(node, path)?;
        Some(
            items
                .into_iter()
                .filter_map(|(item_path, item)| {
                    self.string(item, &item_path).map(|s| (item_path, s))
                })
                .collect(),
        )
    }

    /// A mapping of string keys to string values: (key, value, value path).
    pub fn string_map(
        &mut self,
        node: &Node<'_>,
        path: &str,
    ) -> Option<Vec<(String, String, String)>> {
        self.record(path, node);
        let YamlData::Mapping(map) = data(node) else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut out = Vec::new();
        for (key, value) in map.iter() {
            let Some(Scalar::String(name)) = scalar(key) else {
                self.error(key, path, shown(key), "keys must be strings");
                continue;
            };
            let child = join(path, name);
            if let Some(v) = self.string(value, &child) {
                out.push((name.to_string(), v, child));
            }
        }
        Some(out)
    }

    /// Any YAML value as JSON (for a raw `event_pattern`).
    pub fn json(&mut self, node: &Node<'_>, path: &str) -> Option<serde_json::Value> {
        use serde_json::Value;
        self.record(path, node);
        Some(match data(node) {
            YamlData::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, value) in map.iter() {
                    let Some(Scalar::String(name)) = scalar(key) else {
                        self.error(key, path, shown(key), "keys must be strings");
                        return None;
                    };
                    object.insert(name.to_string(), self.json(value, &join(path, name))?);
                }
                Value::Object(object)
            }
            YamlData::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(item, &index(path, i)))
                    .collect::<Option<Vec<_>>>()?,
            ),
            YamlData::Value(Scalar::String(s)) => Value::String(s.to_string()),
            YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
            YamlData::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
            YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
            YamlData::Value(Scalar::Null) => Value::Null,
            _ => {
                self.wrong_type(node, path, "plain YAML (no aliases)");
                return None;
            }
        })
    }
}
