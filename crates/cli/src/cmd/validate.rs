//! `findings-bridge validate [-c FILE]`: offline checks of the desired-state file.
//!
//! Prints a one-line summary and exits 0, or prints every problem (one per line, with key path
//! and position) on stderr and exits 1. Must not: call AWS or Backlog, or resolve secrets.

use std::process::ExitCode;

use fb_model::config::{self, AccountSource, Config};

use crate::Cli;

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let path = super::config_path(cli);
    match config::load(&path) {
        Ok(config) => {
            println!("{}: valid ({})", path.display(), summary(&config));
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            let n = errors.errors.len();
            let noun = if n == 1 { "problem" } else { "problems" };
            eprintln!("{}: invalid, {n} {noun}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// `N rules, M accounts × K regions` (organization accounts are only known after discovery).
fn summary(config: &Config) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let accounts = match &config.accounts.source {
        AccountSource::Ids(ids) => plural(ids.len(), "account"),
        AccountSource::Organization { .. } => "organization accounts".to_owned(),
    };
    format!(
        "{}, {accounts} × {}",
        plural(config.rules.len(), "rule"),
        plural(config.accounts.regions.len(), "region")
    )
}
