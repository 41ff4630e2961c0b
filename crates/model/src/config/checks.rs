//! Checks that look at more than one value: duplicate rule names, relay rules without a relay
//! section, priority maps that miss a severity, AWS name lengths, event pattern size, and the
//! direct-mode input template.
//!
//! They run on whatever parts of the file could be read, so a broken section elsewhere does not
//! hide these problems. Must not: report a problem that `load.rs` or `rule.rs` already reports.

use super::rule::RuleHead;
use super::walk::{join, Walker};
use super::{Backlog, Delivery, Rule, RulePattern};
use crate::compile::{self, MAX_EVENT_PATTERN_LEN};
use crate::resources::Naming;
use crate::template::{self, IssueIds};

/// AWS's limit on rule, connection, API destination and IAM role names.
pub const MAX_RESOURCE_NAME_LEN: usize = 64;
/// Room kept for a priority suffix whose name is not ASCII (`p<id>`).
const FALLBACK_SUFFIX_LEN: usize = 8;

/// The parts of the file that could be read.
#[derive(Debug)]
pub(super) struct Parts<'a> {
    pub name: Option<&'a str>,
    /// `Some(false)` when there is no relay section; `None` when it is there but broken.
    pub has_relay: Option<bool>,
    pub backlog: Option<&'a Backlog>,
    /// Rules that could be read, with their index in the file.
    pub rules: Vec<(usize, &'a Rule)>,
    /// Name and delivery of every rule, read or not, in file order.
    pub heads: Vec<&'a RuleHead>,
}

pub(super) fn check(w: &mut Walker, parts: &Parts<'_>) {
    duplicate_rule_names(w, parts);
    for (i, head) in parts.heads.iter().enumerate() {
        if head.delivery == Some(Delivery::Relay) && parts.has_relay == Some(false) {
            let message = "relay delivery needs a top-level relay: section (public_url, api_key)";
            w.error_at(
                &format!("rules[{i}].delivery"),
                Some("relay".into()),
                message,
            );
        }
    }
    for (i, rule) in &parts.rules {
        let path = format!("rules[{i}]");
        if let Some(backlog) = parts.backlog {
            priority_coverage(w, &path, rule, backlog);
            if let Some(name) = parts.name {
                name_lengths(w, &path, name, rule, backlog);
            }
        }
        pattern_size(w, &path, rule);
        if rule.delivery == Delivery::Direct {
            direct_template(w, &path, rule);
            if let Some(backlog) = parts.backlog {
                raw_pattern_split(w, &path, rule, backlog);
            }
        }
    }
}

fn duplicate_rule_names(w: &mut Walker, parts: &Parts<'_>) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, head) in parts.heads.iter().enumerate() {
        let Some(name) = head.name.as_deref() else {
            continue;
        };
        if seen.contains(&name) {
            w.error_at(
                &format!("rules[{i}].name"),
                Some(name.to_owned()),
                "duplicate rule name",
            );
        } else {
            seen.push(name);
        }
    }
}

/// Every severity a rule matches needs a priority, unless the rule fixes one.
fn priority_coverage(w: &mut Walker, path: &str, rule: &Rule, backlog: &Backlog) {
    if rule.issue.priority.is_some() {
        return;
    }
    for severity in compile::rule_severities(rule) {
        if !backlog.priority.contains_key(&severity) {
            let message = "this rule matches a severity that backlog.priority does not map (add it there, or set issue.priority)";
            w.error_at(path, Some(severity), message);
        }
    }
}

/// `fb-<name>-<rule>-conn`, `-dest`, `-lifecycle` (relay `match` rules) and every split rule
/// name must fit AWS's 64 characters.
fn name_lengths(w: &mut Walker, path: &str, name: &str, rule: &Rule, backlog: &Backlog) {
    let naming = Naming::new(name);
    let mut longest = naming.connection(&rule.name).len();
    longest = longest.max(naming.destination(&rule.name).len());
    if rule.delivery == Delivery::Relay && matches!(rule.pattern, RulePattern::Match(_)) {
        longest = longest.max(naming.rule(&rule.name, compile::LIFECYCLE_SUFFIX).len());
    }
    if rule.delivery == Delivery::Direct {
        let groups = compile_groups(rule, backlog);
        if groups.len() > 1 {
            for priority in groups {
                let suffix = compile::priority_suffix(&priority, 0);
                let len = if suffix == "p0" {
                    FALLBACK_SUFFIX_LEN
                } else {
                    suffix.len()
                };
                longest = longest.max(naming.rule(&rule.name, &"x".repeat(len)).len());
            }
        }
    }
    if longest > MAX_RESOURCE_NAME_LEN {
        let message = format!(
            "resource names fb-<name>-<rule>-… would be {longest} characters, over AWS's {MAX_RESOURCE_NAME_LEN}: shorten the rule name or name"
        );
        w.error_at(&join(path, "name"), Some(rule.name.clone()), message);
    }
}

/// A direct rule with several priorities is split by narrowing `detail.findings.Severity.Label`;
/// a raw pattern that shapes those levels otherwise cannot be narrowed safely.
fn raw_pattern_split(w: &mut Walker, path: &str, rule: &Rule, backlog: &Backlog) {
    let RulePattern::Raw(raw) = &rule.pattern else {
        return;
    };
    if compile_groups(rule, backlog).len() > 1 && !compile::can_split_by_severity(raw) {
        let message = "this pattern's severities map to several priorities but its detail.findings.Severity.Label cannot be narrowed per priority: set issue.priority, or use a list of labels";
        w.error_at(&join(path, "event_pattern"), None, message);
    }
}

/// The priorities a direct rule splits into (see [`compile::priority_groups`]).
fn compile_groups(rule: &Rule, backlog: &Backlog) -> Vec<String> {
    if let Some(fixed) = &rule.issue.priority {
        return vec![fixed.clone()];
    }
    let mut out: Vec<String> = compile::rule_severities(rule)
        .iter()
        .filter_map(|s| backlog.priority.get(s).cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The rule's pattern, and a relay `match` rule's lifecycle pattern, must fit EventBridge's limit.
fn pattern_size(w: &mut Walker, path: &str, rule: &Rule) {
    let mut len = compile::rule_pattern(&rule.pattern).to_string().len();
    if let (Delivery::Relay, RulePattern::Match(m)) = (rule.delivery, &rule.pattern) {
        len = len.max(compile::lifecycle_pattern(m).to_string().len());
    }
    if len > MAX_EVENT_PATTERN_LEN {
        let key = match rule.pattern {
            RulePattern::Match(_) => "match",
            RulePattern::Raw(_) => "event_pattern",
        };
        let message = format!("the event pattern is {len} characters as JSON, over EventBridge's {MAX_EVENT_PATTERN_LEN}");
        w.error_at(&join(path, key), None, message);
    }
}

/// The input template must be valid JSON once EventBridge fills it.
fn direct_template(w: &mut Walker, path: &str, rule: &Rule) {
    let sample_ids = IssueIds {
        project_id: 1,
        issue_type_id: 1,
        priority_id: 1,
    };
    let transformer = template::compile_transformer(rule, &sample_ids);
    for problem in template::check_transformer(&transformer) {
        w.error_at(&join(path, "issue"), None, problem.to_string());
    }
}
