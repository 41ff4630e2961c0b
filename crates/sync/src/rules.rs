//! Which relay rule a finding belongs to, and what its issue looks like.
//!
//! `match` blocks are checked on the parsed finding's fields (so ASFF, OCSF and raw GuardDuty
//! deliveries of one finding are treated alike); raw `event_pattern`s are evaluated with
//! `fb_model::pattern` on an event holding just this finding. Must not: do IO.

use fb_model::config::{Config, Delivery, Match, Rule, RulePattern};
use fb_model::finding::{value_at_path, Event, Finding, Severity};
use fb_model::template;
use serde_json::Value;

use crate::tracker::NewIssue;

/// Backlog's summary limit; longer summaries would fail the create permanently.
const SUMMARY_MAX_CHARS: usize = 255;

/// The first enabled relay rule matching any finding of `event` (the daemon's "ignored" test).
pub fn matching_rule<'c>(config: &'c Config, event: &Event) -> Option<&'c Rule> {
    event
        .findings
        .iter()
        .enumerate()
        .find_map(|(i, finding)| select_rule(config, finding, &single_finding_event(&event.raw, i)))
}

/// The first enabled relay rule that matches; `event` holds only this finding.
pub(crate) fn select_rule<'c>(
    config: &'c Config,
    finding: &Finding,
    event: &Value,
) -> Option<&'c Rule> {
    config
        .rules
        .iter()
        .filter(|r| r.enabled && r.delivery == Delivery::Relay)
        .find(|r| rule_matches(r, finding, event))
}

pub(crate) fn rule_matches(rule: &Rule, finding: &Finding, event: &Value) -> bool {
    match &rule.pattern {
        RulePattern::Match(m) => match_fields(m, finding),
        RulePattern::Raw(pattern) => fb_model::pattern::matches(pattern, event),
    }
}

fn match_fields(m: &Match, f: &Finding) -> bool {
    let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
    any(&m.product_names, &f.product_name)
        && any(&m.severity_labels, f.severity.as_str())
        && any(&m.record_states, &f.record_state)
        && any(&m.workflow_statuses, &f.workflow_status)
}

/// Priority name: the rule's fixed priority, else `backlog.priority[severity]`.
pub(crate) fn priority_for(config: &Config, rule: Option<&Rule>, severity: Severity) -> String {
    rule.and_then(|r| r.issue.priority.clone())
        .or_else(|| config.backlog.priority.get(severity.as_str()).cloned())
        .unwrap_or_else(|| "Normal".to_string())
}

/// Whether the priority follows the severity (so a raised severity changes it).
pub(crate) fn priority_follows_severity(rule: Option<&Rule>) -> bool {
    rule.is_none_or(|r| r.issue.priority.is_none())
}

/// The issue for a new finding: rendered summary and description, then a footer naming the
/// finding and the marker line that lets the pipeline find the issue again.
pub(crate) fn new_issue(
    config: &Config,
    rule: &Rule,
    finding: &Finding,
    event: &Value,
) -> NewIssue {
    let value_of = |name: &str| {
        finding.var(name).or_else(|| {
            rule.vars
                .get(name)
                .and_then(|path| value_at_path(event, path))
        })
    };
    let summary = template::render(&rule.issue.summary, &value_of);
    let summary = clip(summary.trim(), SUMMARY_MAX_CHARS);
    let body = template::render(&rule.issue.description, &value_of);
    let footer = format!(
        "----\nFinding Id: {}\nProductArn: {}\nAccount: {}\nRegion: {}",
        finding.id,
        finding.product_arn.as_deref().unwrap_or("-"),
        finding.account,
        finding.region,
    );
    NewIssue {
        summary: if summary.is_empty() {
            finding.key.clone()
        } else {
            summary
        },
        description: template::append_marker(&format!("{body}\n\n{footer}"), &finding.key),
        issue_type: rule
            .issue
            .issue_type
            .clone()
            .unwrap_or_else(|| config.backlog.issue_type.clone()),
        priority: priority_for(config, Some(rule), finding.severity),
    }
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

/// The event as it would carry only finding `index` (patterns and `$.detail.findings[0]…`
/// paths then refer to that finding). Events hold one finding in practice: no copy then.
pub(crate) fn single_finding_event(raw: &Value, index: usize) -> Value {
    let findings = raw.pointer("/detail/findings").and_then(Value::as_array);
    match findings {
        Some(list) if list.len() > 1 && index < list.len() => {
            let mut one = raw.clone();
            one["detail"]["findings"] = Value::Array(vec![list[index].clone()]);
            one
        }
        _ => raw.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clip_cuts_on_character_boundaries() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("日本語テキスト", 3), "日本語");
        assert_eq!(clip(&"x".repeat(300), SUMMARY_MAX_CHARS).len(), 255);
    }

    #[test]
    fn single_finding_event_narrows_multi_finding_events() {
        let raw = json!({"detail": {"findings": [{"Id": "a"}, {"Id": "b"}]}});
        let one = single_finding_event(&raw, 1);
        assert_eq!(one["detail"]["findings"], json!([{"Id": "b"}]));
        let single = json!({"detail": {"findings": [{"Id": "a"}]}});
        assert_eq!(single_finding_event(&single, 0), single);
    }
}
