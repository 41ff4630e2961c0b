//! `findings-bridge mappings list [--format json]` and `mappings show KEY`: read-only views of
//! the finding ↔ issue records. KEY is a finding key, a finding Id or an issue key (SEC-12).
//!
//! Must not: write to the store. Lists stream (a store may hold a million mappings).

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use fb_store::{Mapping, Store};

use super::store::{open_existing, store_path};
use crate::{Cli, ListFormat, MappingsCommand};

pub fn run(cli: &Cli, command: &MappingsCommand) -> anyhow::Result<ExitCode> {
    let path = store_path(cli)?;
    let store = open_existing(&path, true)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let code = match command {
        MappingsCommand::List { format } => list(&store, *format, &mut out)?,
        MappingsCommand::Show { key } => show(&store, key, &mut out)?,
    };
    out.flush().context("cannot write to stdout")?;
    Ok(code)
}

fn list(store: &Store, format: ListFormat, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match format {
        ListFormat::Json => {
            // A JSON array, written one element at a time.
            write!(out, "[")?;
            for (i, m) in store.mappings().enumerate() {
                let sep = if i == 0 { "\n" } else { ",\n" };
                write!(out, "{sep}{}", serde_json::to_string(&m?)?)?;
            }
            writeln!(out, "\n]")?;
        }
        ListFormat::Text => {
            writeln!(
                out,
                "{:<12} {:<7} {:<13} {:<10} {:<12} {:<14} {:<16} TITLE",
                "ISSUE", "STATUS", "SEVERITY", "WORKFLOW", "ACCOUNT", "REGION", "RULE"
            )?;
            let mut count = 0usize;
            for m in store.mappings() {
                let m = m?;
                count += 1;
                writeln!(
                    out,
                    "{:<12} {:<7} {:<13} {:<10} {:<12} {:<14} {:<16} {}",
                    m.issue_key.as_deref().unwrap_or("-"),
                    status(&m),
                    m.severity,
                    m.workflow_status,
                    m.account,
                    m.region,
                    m.rule,
                    one_line(&m.title, 80)
                )?;
            }
            writeln!(out, "{count} mappings")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(store: &Store, key: &str, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let found = lookup(store, key)?;
    if found.is_empty() {
        anyhow::bail!(
            "no mapping for {key:?} (looked up as finding key, finding Id and issue key)"
        );
    }
    for (i, m) in found.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        describe(store, m, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Finding key first, then finding Id, then issue key (which may carry several findings).
fn lookup(store: &Store, key: &str) -> anyhow::Result<Vec<Mapping>> {
    if let Some(m) = store.mapping(key)? {
        return Ok(vec![m]);
    }
    if let Some(m) = store.mapping_by_finding_id(key)? {
        return Ok(vec![m]);
    }
    Ok(store.mappings_by_issue(key)?)
}

fn describe(store: &Store, m: &Mapping, out: &mut dyn Write) -> anyhow::Result<()> {
    let opt = |v: Option<&str>| v.unwrap_or("-").to_string();
    let issue = match (&m.issue_key, m.issue_id) {
        (Some(key), Some(id)) => format!("{key} (id {id}, {})", status(m)),
        (Some(key), None) => format!("{key} ({})", status(m)),
        _ => "- (not created yet)".to_string(),
    };
    let rows = [
        ("finding key", m.finding_key.clone()),
        ("finding id", m.finding_id.clone()),
        ("product arn", opt(m.product_arn.as_deref())),
        ("format", format!("{:?}", m.format).to_lowercase()),
        ("account", m.account.clone()),
        ("region", m.region.clone()),
        ("rule", m.rule.clone()),
        ("title", one_line(&m.title, 200)),
        ("issue", issue),
        ("severity", m.severity.clone()),
        ("record state", m.record_state.clone()),
        ("workflow", m.workflow_status.clone()),
        ("workflow written", opt(m.workflow_written.as_deref())),
        ("finding updated", opt(m.finding_updated_at.as_deref())),
        ("seen", m.seen_count.to_string()),
        ("created", m.created_at.to_rfc3339()),
        ("updated", m.updated_at.to_rfc3339()),
    ];
    for (label, value) in rows {
        writeln!(out, "{label:<17} {value}")?;
    }
    if let Some(intent) = store.intent(&m.finding_key)? {
        writeln!(
            out,
            "{:<17} since {}, {} attempts (an issue may exist: it is looked up by marker first)",
            "create pending",
            intent.started_at.to_rfc3339(),
            intent.attempts
        )?;
    }
    Ok(())
}

fn status(m: &Mapping) -> &'static str {
    match m.issue_status {
        fb_store::IssueStatus::Open => "open",
        fb_store::IssueStatus::Closed => "closed",
        fb_store::IssueStatus::Deleted => "deleted",
    }
}

/// Titles come from findings: keep each record on one line of bounded width.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars().take(max - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built from JSON: the CLI does not depend on chrono.
    fn mapping(key: &str, issue: Option<&str>) -> Mapping {
        serde_json::from_value(serde_json::json!({
            "finding_key": key, "finding_id": format!("id-{key}"), "product_arn": null,
            "format": "ocsf", "account": "111111111111", "region": "us-east-1",
            "rule": "guardduty", "title": "line one\nline two", "issue_key": issue,
            "issue_id": null, "issue_status": "closed", "severity": "LOW",
            "record_state": "ACTIVE", "workflow_status": "RESOLVED", "workflow_written": null,
            "finding_updated_at": null, "seen_count": 2,
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"
        }))
        .expect("a mapping")
    }

    fn store() -> Store {
        let store = Store::open_temporary().expect("open");
        store
            .put_mapping(&mapping("a", Some("SEC-1")))
            .expect("put");
        store
            .put_mapping(&mapping("b", Some("SEC-1")))
            .expect("put");
        store.put_mapping(&mapping("c", None)).expect("put");
        store
    }

    fn output(f: impl FnOnce(&mut dyn Write) -> anyhow::Result<ExitCode>) -> String {
        let mut out = Vec::new();
        f(&mut out).expect("command");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_list_is_an_array_of_every_mapping() {
        let store = store();
        let text = output(|out| list(&store, ListFormat::Json, out));
        let parsed: Vec<Mapping> = serde_json::from_str(&text).expect("a JSON array");
        assert_eq!(
            parsed,
            vec![
                mapping("a", Some("SEC-1")),
                mapping("b", Some("SEC-1")),
                mapping("c", None)
            ]
        );
        let empty = Store::open_temporary().expect("open");
        let text = output(|out| list(&empty, ListFormat::Json, out));
        assert_eq!(
            serde_json::from_str::<Vec<Mapping>>(&text).expect("array"),
            vec![]
        );
    }

    #[test]
    fn text_list_has_one_line_per_mapping() {
        let store = store();
        let text = output(|out| list(&store, ListFormat::Text, out));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("ISSUE"));
        assert!(
            lines[1].starts_with("SEC-1 ")
                && lines[1].contains("closed")
                && lines[1].ends_with("line one line two")
        );
        assert!(lines[3].starts_with("- "));
        assert_eq!(lines[4], "3 mappings");
    }

    #[test]
    fn show_finds_by_finding_key_finding_id_and_issue_key() {
        let store = store();
        let by_key = output(|out| show(&store, "c", out));
        assert!(
            by_key.contains("finding key       c\n") && by_key.contains("- (not created yet)"),
            "{by_key}"
        );
        let by_id = output(|out| show(&store, "id-a", out));
        assert!(
            by_id.contains("finding key       a\n") && by_id.contains("SEC-1 (closed)"),
            "{by_id}"
        );
        let by_issue = output(|out| show(&store, "SEC-1", out));
        assert_eq!(by_issue.matches("finding key").count(), 2, "{by_issue}");
        let err = show(&store, "SEC-2", &mut Vec::new()).expect_err("unknown");
        assert!(err.to_string().contains("no mapping for \"SEC-2\""));
    }

    #[test]
    fn long_or_multiline_titles_stay_on_one_bounded_line() {
        assert_eq!(one_line("a\tb\nc", 10), "a b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
