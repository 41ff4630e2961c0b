//! The runbook's commands are the binary's commands: every `findings-bridge …` in
//! docs/operations.md names a real subcommand and only flags that subcommand accepts, every
//! `--flag` the runbook mentions exists, and every subcommand of the binary is covered by the
//! runbook — so docs/operations.md cannot fall behind crates/cli/src/main.rs.
//!
//! Uses the built binary (`cargo build --bins`, as the other end-to-end tests); runs only
//! `--help`, which touches no file, store or network.

use std::collections::BTreeMap;
use std::process::Command;

use fb_e2e::{bin_path, workspace_root};
use regex::Regex;

/// `findings-bridge <path…> --help`.
fn help(path: &[&str]) -> Result<String, String> {
    let bin = bin_path("findings-bridge");
    let out = Command::new(&bin)
        .args(path)
        .arg("--help")
        .env_remove("FINDINGS_BRIDGE_CONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (cargo build --bins first): {e}",
                bin.display()
            )
        });
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Names listed under `Commands:` in a help text (without `help`).
fn subcommands(help_text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help_text.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            // A command line is indented by two spaces; wrapped descriptions by more.
            if let Some(name) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
                let name = name.split_whitespace().next().unwrap_or("");
                if name != "help" {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

/// Every runnable command path (`["store", "export"]`) with its help text.
fn command_tree() -> BTreeMap<Vec<String>, String> {
    let mut tree = BTreeMap::new();
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = pending.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args).unwrap_or_else(|e| panic!("{args:?} --help failed: {e}"));
        for sub in subcommands(&text) {
            let mut child = path.clone();
            child.push(sub);
            pending.push(child);
        }
        tree.insert(path, text);
    }
    tree
}

/// Inline code spans of a markdown text.
fn code_spans(markdown: &str) -> Vec<String> {
    Regex::new(r"`([^`\n]+)`")
        .unwrap()
        .captures_iter(markdown)
        .map(|c| c[1].to_owned())
        .collect()
}

fn flags(text: &str) -> Vec<String> {
    Regex::new(r"(?:^|[\s\[(])(--[a-z][a-z-]*)")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect()
}

#[test]
fn runbook_commands_exist_with_their_flags_and_cover_the_binary() {
    let tree = command_tree();
    assert!(tree.len() > 10, "{:?}", tree.keys());
    let runbook = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    let spans = code_spans(&runbook);

    // Each `findings-bridge a b …` names a command path, and its flags are that command's.
    let mut checked = 0;
    for span in spans.iter().filter(|s| s.starts_with("findings-bridge ")) {
        let words: Vec<String> = span
            .split_whitespace()
            .skip(1)
            .take_while(|w| {
                w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
            })
            .map(str::to_owned)
            .collect();
        let text = tree
            .get(&words)
            .unwrap_or_else(|| panic!("`{span}`: {words:?} is not a command of the binary"));
        for flag in flags(span) {
            assert!(
                text.contains(&flag),
                "`{span}`: {flag} is not an option of {words:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} command spans found");

    // Every flag the runbook shows (outside other tools' commands) exists somewhere.
    let all_help: String = tree.values().cloned().collect();
    let other_tools = ["aws ", "kubectl ", "systemctl ", "openssl "];
    for span in spans
        .iter()
        .filter(|s| !other_tools.iter().any(|t| s.starts_with(t)))
    {
        for flag in flags(span) {
            assert!(all_help.contains(&flag), "`{span}`: no command has {flag}");
        }
    }

    // Every command of the binary appears in the runbook.
    for path in tree.keys().filter(|p| !p.is_empty()) {
        let has_children = tree
            .keys()
            .any(|k| k.len() > path.len() && k.starts_with(path));
        if has_children {
            continue;
        }
        let words = path.join(" ");
        let mentioned = runbook.contains(&format!("findings-bridge {words}"))
            || runbook.contains(&format!("`{words}`"))
            || runbook.contains(&format!("`{words} "));
        assert!(
            mentioned,
            "the runbook never shows `findings-bridge {words}`"
        );
    }
}

#[test]
fn subcommands_are_read_from_clap_help() {
    let text = "Usage: x\n\nCommands:\n  export   Write every\n           record\n  import   Read\n  help     Print\n\nOptions:\n  -h, --help\n";
    assert_eq!(subcommands(text), ["export", "import"]);
    assert_eq!(
        flags("findings-bridge status [--url http://h] --log-format json"),
        ["--url", "--log-format"]
    );
}
