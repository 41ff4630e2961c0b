//! One module per command family.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{Cli, Command};

mod backlog;
mod mappings;
mod reconcile;
mod run;
mod status;
mod store;
mod validate;

/// `-c`, then `$FINDINGS_BRIDGE_CONFIG` (clap reads it), then `./findings-bridge.yaml`.
pub fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from("findings-bridge.yaml"))
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Validate => validate::run(&cli),
        Command::Plan { .. } | Command::Apply { .. } => reconcile::run(&cli),
        Command::Run => run::run(&cli),
        Command::Status { url } => status::run(&cli, url.as_deref()),
        Command::Mappings(c) => mappings::run(&cli, c),
        Command::Store(c) => store::run(&cli, c),
        Command::Backlog(c) => backlog::run(&cli, c),
    }
}
