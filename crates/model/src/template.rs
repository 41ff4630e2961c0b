//! Issue templates with `<Var>` placeholders, the input-transformer syntax of the seed.
//!
//! One template feeds both delivery modes:
//! - relay: the daemon calls [`render`] with the finding's values (a missing value renders as
//!   the empty string), and [`lookup_path`] evaluates a rule's `vars` on the event;
//! - direct: [`compile_transformer`] turns it into an EventBridge input transformer
//!   (InputPathsMap + InputTemplate, the Backlog create body as JSON).
//!
//! Either way the description ends with the marker line of [`marker_line`], which carries the
//! finding Id so an issue can be found again in Backlog ("one issue per finding").
//!
//! Must not: escape substituted values for JSON in direct mode — EventBridge does not either, so
//! pretending would hide what really gets sent. No IO.

use std::collections::BTreeMap;

use crate::config::Rule;

/// Built-in variables and the ASFF path each one reads in the input transformer.
pub const BUILTIN_VARS: &[(&str, &str)] = &[
    ("Id", "$.detail.findings[0].Id"),
    ("ProductArn", "$.detail.findings[0].ProductArn"),
    ("ProductName", "$.detail.findings[0].ProductName"),
    ("FindingType", "$.detail.findings[0].Types[0]"),
    ("Title", "$.detail.findings[0].Title"),
    ("Description", "$.detail.findings[0].Description"),
    ("Severity", "$.detail.findings[0].Severity.Label"),
    ("AwsAccountId", "$.detail.findings[0].AwsAccountId"),
    ("Region", "$.detail.findings[0].Region"),
    ("SourceUrl", "$.detail.findings[0].SourceUrl"),
    ("ResourceType", "$.detail.findings[0].Resources[0].Type"),
    ("ResourceId", "$.detail.findings[0].Resources[0].Id"),
    ("CreatedAt", "$.detail.findings[0].CreatedAt"),
    ("UpdatedAt", "$.detail.findings[0].UpdatedAt"),
];

/// The JSON path of a built-in variable.
pub fn builtin_path(name: &str) -> Option<&'static str> {
    BUILTIN_VARS
        .iter()
        .find(|(var, _)| *var == name)
        .map(|(_, path)| *path)
}

/// The JSON path a variable reads for `rule`: the rule's own `vars` first, then the built-ins.
pub fn var_path<'a>(rule: &'a Rule, name: &str) -> Option<&'a str> {
    rule.vars
        .get(name)
        .map(String::as_str)
        .or_else(|| builtin_path(name))
}

/// The marker text before the finding key on an issue's last description line.
pub const MARKER_PREFIX: &str = "findings-bridge: ";

/// The marker line that ends every issue description: `findings-bridge: <finding key>`.
pub fn marker_line(finding_key: &str) -> String {
    format!("{MARKER_PREFIX}{finding_key}")
}

/// `description`, a blank line, then the marker line. Relay passes the finding key; direct
/// passes the `<Id>` placeholder so EventBridge fills it in.
pub fn append_marker(description: &str, finding_key: &str) -> String {
    format!("{description}\n\n{}", marker_line(finding_key))
}

/// The finding key of the last marker line in an issue description, if any.
pub fn find_marker(description: &str) -> Option<&str> {
    description
        .lines()
        .rev()
        .find_map(|line| line.trim_end_matches('\r').strip_prefix(MARKER_PREFIX))
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

/// A piece of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part<'a> {
    Literal(&'a str),
    /// `<Name>`: the name without the angle brackets.
    Var(&'a str),
}

/// True for placeholder names: a letter or `_`, then letters, digits or `_`. Anything else in
/// angle brackets (`<br />`, `a < b > c`) is literal text.
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a template into literal text and placeholders, in order.
pub fn parse(template: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut search_from = 0;
    while let Some(open) = template[search_from..].find('<').map(|i| i + search_from) {
        let Some(close) = template[open + 1..].find('>').map(|i| i + open + 1) else {
            break;
        };
        let name = &template[open + 1..close];
        if is_var_name(name) {
            if literal_start < open {
                parts.push(Part::Literal(&template[literal_start..open]));
            }
            parts.push(Part::Var(name));
            literal_start = close + 1;
            search_from = close + 1;
        } else {
            // Not a placeholder: the `<` is text; a later `<` may still open one.
            search_from = open + 1;
        }
    }
    if literal_start < template.len() {
        parts.push(Part::Literal(&template[literal_start..]));
    }
    parts
}

/// The distinct placeholder names of a template, in first-use order.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for part in parse(template) {
        if let Part::Var(name) = part {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Fills a template (relay mode). A placeholder whose value is missing renders as "".
pub fn render(template: &str, value_of: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    for part in parse(template) {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Var(name) => out.push_str(&value_of(name).unwrap_or_default()),
        }
    }
    out
}

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Why a JSON path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JSON path {path:?}: {reason} (expected e.g. $.detail.findings[0].Types[0])")]
pub struct PathError {
    pub path: String,
    pub reason: &'static str,
}

/// Parses the subset of JSON path EventBridge input paths use: `$`, `.key`, `[n]`.
pub fn parse_path(path: &str) -> Result<Vec<PathStep>, PathError> {
    let err = |reason| PathError {
        path: path.to_owned(),
        reason,
    };
    let mut rest = path
        .strip_prefix('$')
        .ok_or_else(|| err("must start with `$`"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(err("empty key"));
            }
            steps.push(PathStep::Key(key.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| err("unclosed `[`"))?;
            let index = after[..end]
                .parse::<usize>()
                .map_err(|_| err("an index must be a number"))?;
            steps.push(PathStep::Index(index));
            rest = &after[end + 1..];
        } else {
            return Err(err("expected `.` or `[`"));
        }
    }
    Ok(steps)
}

/// Evaluates a JSON path on an event, as the input transformer would: strings as they are,
/// numbers and booleans as text, objects and arrays as JSON; missing or null → `None`.
pub fn lookup_path(event: &serde_json::Value, path: &str) -> Option<String> {
    let mut node = event;
    for step in parse_path(path).ok()? {
        node = match step {
            PathStep::Key(key) => node.get(key.as_str())?,
            PathStep::Index(i) => node.get(i)?,
        };
    }
    match node {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The Backlog ids a direct-mode body needs, resolved from names through the Backlog API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssueIds {
    pub project_id: u64,
    pub issue_type_id: u64,
    pub priority_id: u64,
}

/// An EventBridge input transformer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transformer {
    /// InputPathsMap: every variable the template uses → its JSON path.
    pub paths: BTreeMap<String, String>,
    /// InputTemplate: the Backlog create-issue body as JSON.
    pub template: String,
}

/// Compiles a rule's issue template (direct mode) into an input transformer. The description
/// gets the marker line with `<Id>`. Placeholders with no known path stay literal text
/// (validation refuses them before this point).
pub fn compile_transformer(rule: &Rule, ids: &IssueIds) -> Transformer {
    let description = append_marker(&rule.issue.description, "<Id>");
    let mut paths = BTreeMap::new();
    let summary = json_string_with_placeholders(&rule.issue.summary, rule, &mut paths);
    let description = json_string_with_placeholders(&description, rule, &mut paths);
    let template = format!(
        "{{\"projectId\": {}, \"summary\": {summary}, \"description\": {description}, \
         \"issueTypeId\": {}, \"priorityId\": {}}}",
        ids.project_id, ids.issue_type_id, ids.priority_id
    );
    Transformer { paths, template }
}

/// A JSON string literal (with quotes) of `text`, whose literal parts are JSON-escaped (so a
/// `"` or a newline in the file stays valid JSON) and whose placeholders stay `<Name>`.
fn json_string_with_placeholders(
    text: &str,
    rule: &Rule,
    paths: &mut BTreeMap<String, String>,
) -> String {
    let mut out = String::from("\"");
    for part in parse(text) {
        let literal = match part {
            Part::Var(name) => match var_path(rule, name) {
                Some(path) => {
                    paths.insert(name.to_owned(), path.to_owned());
                    out.push('<');
                    out.push_str(name);
                    out.push('>');
                    continue;
                }
                None => format!("<{name}>"),
            },
            Part::Literal(text) => text.to_owned(),
        };
        let quoted = serde_json::Value::String(literal).to_string();
        out.push_str(&quoted[1..quoted.len() - 1]);
    }
    out.push('"');
    out
}

/// Problems with a compiled InputTemplate, checked by validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransformerCheckError {
    #[error("placeholder <{name}> sits outside a JSON string in the input template")]
    OutsideString { name: String },
    #[error("the input template is not valid JSON once filled: {reason}")]
    InvalidJson { reason: String },
}

/// Checks an input template the way EventBridge will fill it: every placeholder inside a JSON
/// string (values are not escaped, so a placeholder outside a string could inject JSON) and
/// the text valid JSON with placeholders replaced by a plain word.
pub fn check_transformer(transformer: &Transformer) -> Vec<TransformerCheckError> {
    let mut problems = Vec::new();
    let template = &transformer.template;
    let mut filled = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template.as_str();
    while let Some(c) = rest.chars().next() {
        let placeholder = if c == '<' {
            transformer.paths.keys().find(|name| {
                rest[1..].starts_with(name.as_str()) && rest[1 + name.len()..].starts_with('>')
            })
        } else {
            None
        };
        if let Some(name) = placeholder {
            if !in_string {
                problems.push(TransformerCheckError::OutsideString { name: name.clone() });
            }
            filled.push_str("sample");
            rest = &rest[name.len() + 2..];
            escaped = false;
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        filled.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&filled) {
        problems.push(TransformerCheckError::InvalidJson {
            reason: e.to_string(),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Delivery, IssueTemplate, Match, RulePattern};

    fn rule(summary: &str, description: &str) -> Rule {
        Rule {
            name: "gd".into(),
            delivery: Delivery::Direct,
            pattern: RulePattern::Match(Match::default()),
            rate_limit_per_second: 2,
            issue: IssueTemplate {
                summary: summary.into(),
                description: description.into(),
                priority: None,
                issue_type: None,
            },
            vars: BTreeMap::from([("Account".to_owned(), "$.account".to_owned())]),
            enabled: true,
        }
    }

    const IDS: IssueIds = IssueIds {
        project_id: 7,
        issue_type_id: 8,
        priority_id: 3,
    };

    #[test]
    fn parse_splits_placeholders_and_keeps_other_angle_brackets_literal() {
        assert_eq!(
            parse("<Title><br />x <a b> <Id>!"),
            vec![
                Part::Var("Title"),
                Part::Literal("<br />x <a b> "),
                Part::Var("Id"),
                Part::Literal("!"),
            ]
        );
        assert_eq!(placeholders("<A> <B> <A> <>"), vec!["A", "B"]);
    }

    #[test]
    fn render_fills_values_and_missing_ones_are_empty() {
        let out = render(
            "<FindingType> at <AwsAccountId>: <Nope>.",
            &|name| match name {
                "FindingType" => Some("Recon:EC2/PortProbe".into()),
                "AwsAccountId" => Some("111111111111".into()),
                _ => None,
            },
        );
        assert_eq!(out, "Recon:EC2/PortProbe at 111111111111: .");
    }

    #[test]
    fn marker_round_trips_through_a_description() {
        let text = append_marker("Body\nmore", "arn:aws:guardduty:x/finding/1");
        assert!(text.ends_with("\n\nfindings-bridge: arn:aws:guardduty:x/finding/1"));
        assert_eq!(find_marker(&text), Some("arn:aws:guardduty:x/finding/1"));
        assert_eq!(find_marker("no marker here"), None);
    }

    #[test]
    fn lookup_path_reads_asff_like_input_transformer() {
        let event = serde_json::json!({"detail": {"findings": [{
            "Types": ["TTPs/Discovery"], "Severity": {"Label": "HIGH", "Normalized": 70},
            "Resources": [{"Type": "AwsEc2Instance"}], "Note": null
        }]}});
        assert_eq!(
            lookup_path(&event, builtin_path("FindingType").unwrap()).as_deref(),
            Some("TTPs/Discovery")
        );
        assert_eq!(
            lookup_path(&event, builtin_path("Severity").unwrap()).as_deref(),
            Some("HIGH")
        );
        assert_eq!(
            lookup_path(&event, builtin_path("ResourceType").unwrap()).as_deref(),
            Some("AwsEc2Instance")
        );
        assert_eq!(
            lookup_path(&event, "$.detail.findings[0].Severity.Normalized").as_deref(),
            Some("70")
        );
        assert_eq!(lookup_path(&event, "$.detail.findings[0].Note"), None);
        assert_eq!(lookup_path(&event, "$.detail.findings[1].Id"), None);
    }

    #[test]
    fn parse_path_refuses_malformed_paths() {
        assert!(parse_path("detail.x").is_err());
        assert!(parse_path("$.a[x]").is_err());
        assert!(parse_path("$.a[0").is_err());
        assert!(parse_path("$..a").is_err());
        assert_eq!(
            parse_path("$.a[2].b").unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Index(2),
                PathStep::Key("b".into())
            ]
        );
    }

    #[test]
    fn compile_transformer_builds_backlog_body_with_marker_and_escapes_literals() {
        let r = rule("<FindingType> \"found\" in <Account>", "<Title>\n\\path");
        let t = compile_transformer(&r, &IDS);
        assert_eq!(
            t.paths,
            BTreeMap::from([
                ("Account".to_owned(), "$.account".to_owned()),
                (
                    "FindingType".to_owned(),
                    "$.detail.findings[0].Types[0]".to_owned()
                ),
                ("Id".to_owned(), "$.detail.findings[0].Id".to_owned()),
                ("Title".to_owned(), "$.detail.findings[0].Title".to_owned()),
            ])
        );
        assert_eq!(
            t.template,
            r#"{"projectId": 7, "summary": "<FindingType> \"found\" in <Account>", "description": "<Title>\n\\path\n\nfindings-bridge: <Id>", "issueTypeId": 8, "priorityId": 3}"#
        );
        assert_eq!(check_transformer(&t), vec![]);
    }

    #[test]
    fn check_transformer_flags_placeholders_outside_strings_and_bad_json() {
        let t = Transformer {
            paths: BTreeMap::from([("Id".to_owned(), "$.id".to_owned())]),
            template: r#"{"a": <Id>, "b": "<Id>"}"#.to_owned(),
        };
        let problems = check_transformer(&t);
        assert_eq!(
            problems[0],
            TransformerCheckError::OutsideString { name: "Id".into() }
        );
        // `sample` outside a string is not JSON either.
        assert!(matches!(
            problems[1],
            TransformerCheckError::InvalidJson { .. }
        ));
        assert_eq!(problems.len(), 2);
        let broken = Transformer {
            paths: BTreeMap::new(),
            template: r#"{"a": "x"#.to_owned(),
        };
        assert!(matches!(
            check_transformer(&broken).as_slice(),
            [TransformerCheckError::InvalidJson { .. }]
        ));
    }
}
