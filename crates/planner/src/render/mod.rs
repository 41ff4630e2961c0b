//! The plan's renderings: [`text`] for a terminal (like Terraform's), [`markdown`] for a
//! pull-request comment, [`json`] for scripts. All three show the same plan.
//!
//! Must not: add colour codes (the CLI may, on a terminal) or show a secret (plans hold only
//! references and fingerprints, and the secret field only markers).

mod markdown;
mod text;

use fb_model::plan::Plan;

use crate::diff;
use serde_json::Value;

pub use markdown::{markdown, MAX_JSON_CHARS};
pub use text::text;

/// Longest shown value of a changed field, in characters; longer ones lose their middle.
pub const MAX_VALUE_CHARS: usize = 120;

/// The plan as pretty-printed JSON (the `Plan` type's serde form), with a final newline.
pub fn json(plan: &Plan) -> String {
    let mut out = serde_json::to_string_pretty(plan)
        .unwrap_or_else(|e| format!("{{\"error\": \"plan not serializable: {e}\"}}"));
    out.push('\n');
    out
}

/// `Plan: 3 to create, 1 to change, 2 to destroy.` or `No changes. …`.
pub fn summary(plan: &Plan) -> String {
    if plan.is_empty() {
        return "No changes. The resources read match the desired state.".to_owned();
    }
    let (create, update, delete) = plan.counts();
    format!("Plan: {create} to create, {update} to change, {delete} to destroy.")
}

/// `1 place could not be read; nothing is planned there.`, or `None` when all were read.
pub fn errors_summary(plan: &Plan) -> Option<String> {
    match plan.errors().len() {
        0 => None,
        1 => Some("1 place could not be read; nothing is planned there.".to_owned()),
        n => Some(format!(
            "{n} places could not be read; nothing is planned there."
        )),
    }
}

/// Compact JSON, shortened in the middle to `max` characters. The planner's markers
/// (`(known after apply)`, `(changed)`…) show bare, like Terraform's, not as JSON strings.
pub fn short_value(value: &Value, max: usize) -> String {
    match value.as_str() {
        Some(marker) if MARKERS.contains(&marker) => marker.to_owned(),
        _ => shorten(&value.to_string(), max),
    }
}

const MARKERS: [&str; 4] = [
    diff::KNOWN_AFTER_APPLY,
    diff::SECRET_RECORDED,
    diff::SECRET_UNKNOWN,
    diff::SECRET_CHANGED,
];

/// Keeps the start and the end of `text`, joined by `…`, when it is longer than `max` chars.
pub fn shorten(text: &str, max: usize) -> String {
    let len = text.chars().count();
    if len <= max || max < 3 {
        return text.to_owned();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(len - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_both_ends_and_the_length() {
        let long = "abcdefghijklmnopqrstuvwxyz";
        let s = shorten(long, 11);
        assert_eq!(s, "abcde…vwxyz");
        assert_eq!(s.chars().count(), 11);
        assert_eq!(shorten("short", 11), "short");
        // Multi-byte characters are cut on character boundaries.
        assert_eq!(shorten("ああああああああ", 5), "ああ…ああ");
    }

    #[test]
    fn markers_show_bare_and_values_as_json() {
        let v = |s: &str| Value::from(s);
        assert_eq!(short_value(&v(diff::SECRET_CHANGED), 120), "(changed)");
        assert_eq!(
            short_value(&v(diff::KNOWN_AFTER_APPLY), 120),
            "(known after apply)"
        );
        assert_eq!(short_value(&v("(other)"), 120), "\"(other)\"");
        assert_eq!(short_value(&Value::Null, 120), "null");
    }
}
