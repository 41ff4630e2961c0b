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

/// The multi-thread runtime of the commands that reach AWS. The AWS SDK is deep: in debug
/// builds a reconcile polled on a worker thread overflowed tokio's default 2 MiB stack, and
/// deserializing GetFindings' ASFF resource details overflowed 8 MiB. Stacks are reserved,
/// not committed, so a generous size costs address space only.
pub fn multi_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
        .context("cannot start the async runtime")
}

const WORKER_STACK_BYTES: usize = 32 * 1024 * 1024;
