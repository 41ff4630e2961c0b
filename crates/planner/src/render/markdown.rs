//! The plan as a pull-request comment (GitHub-flavoured Markdown): a heading with the summary,
//! a callout listing what could not be read, one table per account × region (op, kind, name,
//! changes), and the plan as JSON in a folded `<details>` block.

use std::fmt::Write as _;

use fb_model::plan::{Action, Op, Plan};

use super::text::{account_shows, region_shows};
use super::{errors_summary, json, short_value, summary, MAX_VALUE_CHARS};

/// Beyond this size the JSON is left out: a GitHub comment holds at most 65,536 characters.
pub const MAX_JSON_CHARS: usize = 40_000;

/// The plan as Markdown.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### findings-bridge {} — {}\n",
        code(&plan.prefix),
        summary(plan)
    );
    errors_callout(&mut out, plan);
    for account in plan.accounts.iter().filter(|a| account_shows(a)) {
        if !account.role_actions.is_empty() {
            let heading = format!("account {} · IAM", code(&account.account));
            table(&mut out, &heading, &account.role_actions);
        }
        for region in account.regions.iter().filter(|r| region_shows(r)) {
            if region.actions.is_empty() {
                continue;
            }
            let heading = format!(
                "account {} · region {}",
                code(&account.account),
                code(&region.region)
            );
            table(&mut out, &heading, &region.actions);
        }
    }
    json_details(&mut out, plan);
    out
}

fn errors_callout(out: &mut String, plan: &Plan) {
    let Some(title) = errors_summary(plan) else {
        return;
    };
    let _ = writeln!(out, "> [!WARNING]\n> {title}");
    for (place, error) in plan.errors() {
        let _ = writeln!(out, "> - {}: {}", code(&place), one_line(error));
    }
    out.push('\n');
}

fn table(out: &mut String, heading: &str, actions: &[Action]) {
    let _ = writeln!(out, "#### {heading}\n");
    out.push_str("| op | kind | name | changes |\n|---|---|---|---|\n");
    for action in actions {
        let changes: Vec<String> = action
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{}: {} → {}",
                    code(&c.field),
                    code(&short_value(&c.old, MAX_VALUE_CHARS)),
                    code(&short_value(&c.new, MAX_VALUE_CHARS))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} |",
            action.op.symbol(),
            op_word(action.op),
            action.kind.label(),
            code(&action.name),
            changes.join("<br>")
        );
    }
    out.push('\n');
}

fn op_word(op: Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::Update => "update",
        Op::Delete => "delete",
    }
}

fn json_details(out: &mut String, plan: &Plan) {
    let body = json(plan);
    out.push_str("<details><summary>Plan as JSON</summary>\n\n");
    if body.chars().count() > MAX_JSON_CHARS {
        let _ = writeln!(
            out,
            "The JSON ({} characters) is too long for a comment: run `findings-bridge plan --format json`.",
            body.chars().count()
        );
    } else {
        let fence = "`".repeat(3.max(longest_backtick_run(&body) + 1));
        let _ = write!(out, "{fence}json\n{body}{fence}\n");
    }
    out.push_str("\n</details>\n");
}

/// An inline code span that survives a table cell: `|` escaped, backticks in the text fenced by
/// a longer run, newlines folded.
fn code(text: &str) -> String {
    let text = one_line(text).replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
