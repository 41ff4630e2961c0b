//! `findings-bridge`: the command line. Parses arguments, loads the file, calls the libraries,
//! prints results and the whole error chain, and chooses the exit code.
//!
//! Must not: hold product logic; anything worth testing without a process lives in a library.

mod cmd;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Turns AWS security findings into Backlog issues (one issue per finding), keeps EventBridge
/// wired up in every account × region from one desired-state file, and carries closure back.
#[derive(Debug, Parser)]
#[command(name = "findings-bridge", version, about, long_about = None)]
pub struct Cli {
    /// Desired-state file. Defaults to $FINDINGS_BRIDGE_CONFIG, then ./findings-bridge.yaml.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        env = "FINDINGS_BRIDGE_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired-state file offline; list every problem with key path and line.
    /// Exit 0 when valid, 1 when not.
    Validate,
    /// Read every account × region and print what `apply` would change.
    /// Exit 0 (or with --detailed-exitcode: 0 no changes, 2 changes), 1 on error.
    Plan {
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Plan, confirm, and apply. Exit 0 when every action succeeded, 1 otherwise.
    Apply {
        /// Apply without asking. Without it, apply asks on a terminal and refuses without one.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Run the daemon: HTTP endpoints, event pipeline, schedules.
    Run,
    /// Show a running daemon's status. Exit 0 when healthy, 1 otherwise.
    Status {
        /// Base URL of the daemon; defaults to http://<server.listen> from the file.
        #[arg(long)]
        url: Option<String>,
    },
    /// Finding ↔ issue records in the store.
    #[command(subcommand)]
    Mappings(MappingsCommand),
    /// Backup, restore, upgrade and check the embedded store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Backlog-side setup.
    #[command(subcommand)]
    Backlog(BacklogCommand),
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// List every mapping.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Show one mapping by finding Id, finding key or issue key (e.g. SEC-12).
    Show { key: String },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Write every record as JSON lines to FILE (the daemon must be stopped).
    Export { file: PathBuf },
    /// Read JSON lines from FILE into an empty store (the daemon must be stopped).
    Import { file: PathBuf },
    /// Apply pending schema migrations.
    Migrate,
    /// Verify that the indexes agree with the records.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum BacklogCommand {
    /// The project's webhook for closure sync.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register (or update, never duplicate) the webhook pointing at BASE/v1/backlog/webhook/<token>.
    Install {
        #[arg(long)]
        url: String,
    },
    /// Print the registered webhook with its token masked.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
