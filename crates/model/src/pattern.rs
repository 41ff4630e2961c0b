//! EventBridge event-pattern matching, evaluated in our own code.
//!
//! Why here: the daemon decides which relay rule an event belongs to, and moto's matcher (our
//! test emulator) never matches fields inside arrays of objects — which is exactly where every
//! Security Hub finding lives (`detail.findings[]`). Semantics (EventBridge user guide, "Event
//! patterns" and "Content filtering"):
//!
//! - a pattern is an object; every key must match (AND); nested objects descend;
//! - `"$or": [sub-pattern, …]` at any object level holds when any sub-pattern matches at that
//!   same level (inside an array of objects: within the same element as its sibling keys);
//! - a leaf is a list of matchers, any of which may match (OR);
//! - when the event holds an array, the pattern matches if any element matches; for an array
//!   of objects the whole sub-pattern must match within ONE element;
//! - matchers: a literal (string, number, boolean, null), `prefix`, `suffix` (each optionally
//!   `{"equals-ignore-case": …}`), `anything-but` (a literal, a list, `prefix`, `suffix`,
//!   `equals-ignore-case`, `wildcard`), `exists`, `numeric` (`=`, `<`, `<=`, `>`, `>=` pairs),
//!   `equals-ignore-case`, `wildcard` (`*`, `\*` for a literal star), `cidr` (IPv4).
//!
//! A malformed pattern (a scalar where a list is expected, an unknown operator) matches nothing
//! rather than everything: config validation reports those before they get here.
//!
//! Must not: allocate per event beyond what matching needs, or do IO.

use serde_json::{Map, Value};

/// Whether `event` matches the EventBridge `pattern`.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(p) => match_object(p, Some(event)),
        _ => false,
    }
}

fn match_object(pattern: &Map<String, Value>, event: Option<&Value>) -> bool {
    pattern.iter().all(|(key, sub)| {
        if key == OR_KEY {
            return match_or(sub, event);
        }
        let field = event.and_then(|e| e.as_object()).and_then(|o| o.get(key));
        match sub {
            Value::Object(nested) => match_nested(nested, field),
            Value::Array(matchers) => match_leaf(matchers, field),
            _ => false,
        }
    })
}

/// EventBridge's combinator key: its value is a list of alternative sub-patterns.
const OR_KEY: &str = "$or";

/// `$or`: a non-empty list of object sub-patterns, any of which matches at this level. Anything
/// else is malformed and matches nothing (see the module header).
fn match_or(alternatives: &Value, event: Option<&Value>) -> bool {
    let Some(list) = alternatives.as_array().filter(|l| !l.is_empty()) else {
        return false;
    };
    list.iter().any(|alternative| match alternative {
        Value::Object(sub) => match_object(sub, event),
        _ => false,
    })
}

/// A nested pattern against a field: arrays are searched element by element, so all of the
/// nested pattern's fields must hold in one element.
fn match_nested(pattern: &Map<String, Value>, field: Option<&Value>) -> bool {
    match field {
        Some(Value::Array(items)) => items.iter().any(|item| match item {
            Value::Array(_) => match_nested(pattern, Some(item)),
            _ => match_object(pattern, Some(item)),
        }),
        Some(v @ Value::Object(_)) => match_object(pattern, Some(v)),
        // Absent or a scalar: only `exists: false`-style leaves can still match.
        _ => match_object(pattern, None),
    }
}

fn match_leaf(matchers: &[Value], field: Option<&Value>) -> bool {
    match field {
        None => matchers.iter().any(|m| exists_wanted(m) == Some(false)),
        Some(Value::Object(_)) => matchers.iter().any(|m| exists_wanted(m) == Some(true)),
        Some(Value::Array(items)) => {
            let leaves = flatten(items);
            if leaves.is_empty() {
                return matchers.iter().any(|m| exists_wanted(m) == Some(false));
            }
            leaves
                .iter()
                .any(|v| matchers.iter().any(|m| match_value(m, v)))
        }
        Some(v) => matchers.iter().any(|m| match_value(m, v)),
    }
}

fn flatten(items: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) => out.extend(flatten(inner)),
            other => out.push(other),
        }
    }
    out
}

fn exists_wanted(matcher: &Value) -> Option<bool> {
    let obj = matcher.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.get("exists").and_then(Value::as_bool)
}

/// One matcher against one present scalar value.
fn match_value(matcher: &Value, value: &Value) -> bool {
    let Value::Object(op) = matcher else {
        return literal_eq(matcher, value);
    };
    let Some((name, arg)) = op.iter().next().filter(|_| op.len() == 1) else {
        return false;
    };
    match name.as_str() {
        "exists" => arg.as_bool() == Some(true),
        "prefix" => text_op(arg, value, |v, p| v.starts_with(p)),
        "suffix" => text_op(arg, value, |v, p| v.ends_with(p)),
        "equals-ignore-case" => match (arg.as_str(), value.as_str()) {
            (Some(a), Some(v)) => eq_ignore_case(a, v),
            _ => false,
        },
        "wildcard" => match (arg.as_str(), value.as_str()) {
            (Some(p), Some(v)) => wildcard(p, v),
            _ => false,
        },
        "numeric" => numeric(arg, value),
        "anything-but" => anything_but(arg, value),
        "cidr" => match (arg.as_str(), value.as_str()) {
            (Some(c), Some(v)) => cidr_v4(c, v).unwrap_or(false),
            _ => false,
        },
        _ => false,
    }
}

fn literal_eq(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// `prefix`/`suffix` take a string or `{"equals-ignore-case": string}`.
fn text_op(arg: &Value, value: &Value, test: fn(&str, &str) -> bool) -> bool {
    let Some(v) = value.as_str() else {
        return false;
    };
    match arg {
        Value::String(p) => test(v, p),
        Value::Object(o) => match o.get("equals-ignore-case").and_then(Value::as_str) {
            Some(p) if o.len() == 1 => test(&v.to_lowercase(), &p.to_lowercase()),
            _ => false,
        },
        _ => false,
    }
}

fn anything_but(arg: &Value, value: &Value) -> bool {
    match arg {
        Value::Array(list) => !list.iter().any(|l| literal_eq(l, value)),
        Value::Object(o) if o.len() == 1 => {
            let (name, inner) = o.iter().next().expect("one entry");
            match name.as_str() {
                "prefix" | "suffix" | "wildcard" => {
                    value.is_string() && !match_value(&Value::Object(o.clone()), value)
                }
                "equals-ignore-case" => {
                    let Some(v) = value.as_str() else {
                        return false;
                    };
                    match inner {
                        Value::String(s) => !eq_ignore_case(s, v),
                        Value::Array(l) => !l
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|s| eq_ignore_case(s, v)),
                        _ => false,
                    }
                }
                _ => false,
            }
        }
        Value::Object(_) => false,
        literal => !literal_eq(literal, value),
    }
}

/// `["<", 10, ">=", 2]`: every comparison must hold.
fn numeric(arg: &Value, value: &Value) -> bool {
    let (Some(list), Some(v)) = (arg.as_array(), value.as_f64()) else {
        return false;
    };
    if list.is_empty() || list.len() % 2 != 0 {
        return false;
    }
    list.chunks(2).all(|pair| {
        let (Some(op), Some(n)) = (pair[0].as_str(), pair[1].as_f64()) else {
            return false;
        };
        match op {
            "=" => v == n,
            "<" => v < n,
            "<=" => v <= n,
            ">" => v > n,
            ">=" => v >= n,
            _ => false,
        }
    })
}

/// `*` matches any run of characters; `\*` is a literal star.
fn wildcard(pattern: &str, value: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let v: Vec<char> = value.chars().collect();
    // Classic greedy matching with backtracking to the last star.
    let (mut t, mut i) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while i < v.len() {
        match toks.get(t) {
            Some(Tok::Char(c)) if *c == v[i] => {
                t += 1;
                i += 1;
            }
            Some(Tok::Star) => {
                back = Some((t, i));
                t += 1;
            }
            _ => match back {
                Some((bt, bi)) => {
                    t = bt + 1;
                    i = bi + 1;
                    back = Some((bt, bi + 1));
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|k| *k == Tok::Star)
}

fn cidr_v4(cidr: &str, ip: &str) -> Option<bool> {
    let (net, bits) = cidr.split_once('/')?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let net: std::net::Ipv4Addr = net.parse().ok()?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some(u32::from(net) & mask == u32::from(ip) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcard_backtracks_and_escapes() {
        assert!(wildcard("*.png", "dir/a.png"));
        assert!(wildcard("a*b*c", "aXbYbZc"));
        assert!(!wildcard("a*b*c", "aXbYbZ"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "aXb"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn or_holds_when_any_alternative_matches_within_one_array_element() {
        let pattern = json!({"detail": {"findings": {
            "Note": {"UpdatedBy": ["findings-bridge"]},
            "$or": [
                {"RecordState": ["ARCHIVED"]},
                {"Workflow": {"Status": ["RESOLVED", "SUPPRESSED"]}},
            ],
        }}});
        let finding = |record: &str, workflow: &str, by: &str| json!({"RecordState": record, "Workflow": {"Status": workflow}, "Note": {"UpdatedBy": by}});
        let event = |findings: Vec<Value>| json!({"detail": {"findings": findings}});
        let ours = "findings-bridge";
        assert!(matches(
            &pattern,
            &event(vec![finding("ARCHIVED", "NOTIFIED", ours)])
        ));
        assert!(matches(
            &pattern,
            &event(vec![finding("ACTIVE", "RESOLVED", ours)])
        ));
        assert!(!matches(
            &pattern,
            &event(vec![finding("ACTIVE", "NOTIFIED", ours)])
        ));
        // Every sibling key still has to hold: the Note is not ours.
        assert!(!matches(
            &pattern,
            &event(vec![finding("ARCHIVED", "NOTIFIED", "alice")])
        ));
        // The alternative and its siblings must hold in the same element, not across two.
        let split = event(vec![
            finding("ARCHIVED", "NOTIFIED", "alice"),
            finding("ACTIVE", "NOTIFIED", ours),
        ]);
        assert!(!matches(&pattern, &split));
    }

    #[test]
    fn or_nests_and_malformed_or_matches_nothing() {
        let nested = json!({"$or": [
            {"a": ["1"]},
            {"$or": [{"b": ["2"]}, {"c": [{"exists": false}]}], "d": ["4"]},
        ]});
        assert!(matches(&nested, &json!({"a": "1", "c": "x"})));
        assert!(matches(&nested, &json!({"b": "2", "d": "4", "c": "x"})));
        assert!(matches(&nested, &json!({"d": "4"})));
        assert!(!matches(&nested, &json!({"b": "2", "c": "x"})));
        let event = json!({"a": "1"});
        assert!(!matches(&json!({"$or": []}), &event));
        assert!(!matches(&json!({"$or": {"a": ["1"]}}), &event));
        assert!(!matches(&json!({"$or": [["1"]]}), &event));
    }

    #[test]
    fn cidr_matches_inside_the_network_only() {
        assert_eq!(cidr_v4("10.0.0.0/24", "10.0.0.77"), Some(true));
        assert_eq!(cidr_v4("10.0.0.0/24", "10.0.1.1"), Some(false));
        assert_eq!(cidr_v4("10.0.0.0/33", "10.0.1.1"), None);
        assert!(matches(
            &json!({"ip": [{"cidr": "0.0.0.0/0"}]}),
            &json!({"ip": "1.2.3.4"})
        ));
    }
}
