//! `findings-bridge plan` and `apply`: arguments, the store's lock, confirmation, printing and
//! exit codes around [`fb_daemon::reconcile`], which does the work.
//!
//! Output: the plan (and apply's results) on stdout; progress, warnings and errors on stderr.
//! Exit codes: `plan` 0 (or with `--detailed-exitcode` 0 no changes, 2 changes), `apply` 0 when
//! every action succeeded; 1 for an invalid file, an error before planning, any account ×
//! region that could not be read (after printing the rest), or any failed action.
//!
//! Must not: hold reconcile logic (the daemon's scheduled reconcile shares it), or print a
//! secret (plans carry references and fingerprints only).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use fb_aws::{ActionResult, ObserveStats, Outcome};
use fb_daemon::reconcile::{self, Prepared};
use fb_model::config::{self, Config};
use fb_model::plan::Plan;
use fb_planner::render;
use fb_store::{OpenError, Store};

use crate::{Cli, Command, PlanFormat};

/// Progress is shown when more account × regions than this are read.
const PROGRESS_ABOVE: usize = 4;
/// Set to `1` to print the AWS read-call count of the inventory on stderr (benchmarks).
const STATS_ENV: &str = "FINDINGS_BRIDGE_STATS";
const EXIT_CHANGES: u8 = 2;

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let runtime = super::multi_thread_runtime()?;
    match &cli.command {
        Command::Plan {
            format,
            detailed_exitcode,
        } => runtime.block_on(plan_command(cli, *format, *detailed_exitcode)),
        Command::Apply { auto_approve } => runtime.block_on(apply_command(cli, *auto_approve)),
        _ => unreachable!("dispatch sends only plan and apply here"),
    }
}

/// The checked file, or `None` after printing every problem (exit 1).
fn load_config(cli: &Cli) -> Option<Config> {
    let path = super::config_path(cli);
    match config::load(&path) {
        Ok(c) => Some(c),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: invalid, {} problem(s); nothing was read or changed",
                path.display(),
                errors.errors.len()
            );
            None
        }
    }
}

/// Opens `store.path`. `Ok(None)` when a running daemon holds it.
fn open_store(config: &Config) -> anyhow::Result<Option<Store>> {
    match Store::open(&config.store.path) {
        Ok(store) => Ok(Some(store)),
        Err(OpenError::Locked { .. }) => Ok(None),
        Err(e) => {
            Err(e).context("cannot open the store (it records connection secret fingerprints)")
        }
    }
}

async fn plan_command(
    cli: &Cli,
    format: PlanFormat,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(cli) else {
        return Ok(ExitCode::from(1));
    };
    // A plan changes nothing, not even the disk: without a store (a CI checkout, a first run)
    // secrets are not compared rather than reported as unknown everywhere.
    let store = if config.store.path.exists() {
        let store = open_store(&config)?;
        if store.is_none() {
            eprintln!(
                "warning: the store at {} is in use (is the daemon running?); planning without \
                 comparing connection secrets and without places removed from the file",
                config.store.path.display()
            );
        }
        store
    } else {
        eprintln!(
            "note: no store at {}; planning without comparing connection secrets and without \
             places removed from the file",
            config.store.path.display()
        );
        None
    };
    let prepared = prepare(&config, store.as_ref()).await?;
    let (plan, stats) = read_and_plan(&prepared).await;
    let rendered = match format {
        PlanFormat::Text => render::text(&plan),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
    };
    print!("{rendered}");
    std::io::stdout().flush().ok();
    print_stats(&plan, &stats);
    if report_unreadable(&plan) {
        return Ok(ExitCode::from(1));
    }
    if detailed_exitcode && !plan.is_empty() {
        return Ok(ExitCode::from(EXIT_CHANGES));
    }
    Ok(ExitCode::SUCCESS)
}

async fn apply_command(cli: &Cli, auto_approve: bool) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(cli) else {
        return Ok(ExitCode::from(1));
    };
    let interactive = std::io::stdin().is_terminal();
    if !auto_approve && !interactive {
        anyhow::bail!(
            "apply needs a confirmation and stdin is not a terminal; nothing was changed. \
             Run it on a terminal, or pass --auto-approve to apply without asking"
        );
    }
    let Some(store) = open_store(&config)? else {
        anyhow::bail!(
            "the store at {} is in use (is the daemon running?); apply refuses to run next to \
             it, nothing was changed. Stop the daemon, or let its scheduled reconcile apply \
             the file",
            config.store.path.display()
        );
    };
    let prepared = prepare(&config, Some(&store)).await?;
    let (plan, stats) = read_and_plan(&prepared).await;
    print!("{}", render::text(&plan));
    print_stats(&plan, &stats);
    let unreadable = report_unreadable(&plan);
    if plan.is_empty() {
        if let Err(error) = reconcile::record_unchanged_places(&prepared, &plan, &store).await {
            eprintln!(
                "warning: {}; removing a place from the file may leave its resources behind \
                 until a later apply records it",
                fb_aws::error_chain(&error)
            );
        }
        return Ok(if unreadable {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    if !auto_approve && !confirm()? {
        println!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    let applied = reconcile::apply(&prepared, &plan, &store).await;
    print_results(&applied.report.results);
    let (ok, failed, skipped) = applied.report.counts();
    println!("\nApply finished: {ok} succeeded, {failed} failed, {skipped} skipped.");
    if let Some(error) = &applied.record_error {
        eprintln!(
            "error: {}; the next plan will show those connection secrets as changed",
            fb_aws::error_chain(error)
        );
    }
    Ok(if applied.succeeded() && !unreadable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn prepare(config: &Config, store: Option<&Store>) -> anyhow::Result<Prepared> {
    let base = fb_aws::load_base_config().await;
    Ok(reconcile::prepare(config, base, store).await?)
}

/// Reads AWS with progress on stderr when there are many places, then plans.
async fn read_and_plan(prepared: &Prepared) -> (Plan, ObserveStats) {
    let on_terminal = std::io::stderr().is_terminal();
    let last_decile = AtomicUsize::new(0);
    let progress = |done: usize, total: usize| {
        if total <= PROGRESS_ABOVE {
            return;
        }
        if on_terminal {
            eprint!("\rreading {done}/{total} account × regions…");
            if done == total {
                eprintln!();
            }
            return;
        }
        // Not a terminal (CI logs): about ten lines, not one per place.
        let decile = done * 10 / total;
        if last_decile.fetch_max(decile, Ordering::Relaxed) < decile || done == total {
            eprintln!("reading {done}/{total} account × regions…");
        }
    };
    reconcile::plan(prepared, progress).await
}

fn print_stats(plan: &Plan, stats: &ObserveStats) {
    if std::env::var(STATS_ENV).as_deref() != Ok("1") {
        return;
    }
    let places = stats.places_read.max(1);
    let accounts = plan.accounts.len();
    eprintln!(
        "stats: {} AWS read calls, {} account × regions read ({accounts} accounts), {} failed, \
         {:.1} calls per account × region",
        stats.calls,
        stats.places_read,
        stats.places_failed,
        stats.calls as f64 / places as f64
    );
}

/// Prints every unreadable place on stderr; true when there was one.
fn report_unreadable(plan: &Plan) -> bool {
    let errors = plan.errors();
    for (place, error) in &errors {
        eprintln!("error: {place}: {error}");
    }
    !errors.is_empty()
}

/// Asks on the terminal; only `yes` is accepted.
fn confirm() -> anyhow::Result<bool> {
    print!("\nApply these changes? Only 'yes' is accepted: ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}

fn print_results(results: &[ActionResult]) {
    println!();
    for r in results {
        let place = match &r.region {
            Some(region) => format!("{}/{region}", r.account),
            None => r.account.clone(),
        };
        let what = format!("{} {} {} ({place})", r.op.symbol(), r.kind.label(), r.name);
        match &r.outcome {
            Outcome::Ok => println!("✓ {what}"),
            Outcome::Failed { error, retryable } => {
                let hint = if *retryable {
                    " (a retry may help)"
                } else {
                    ""
                };
                println!("✗ {what}: {error}{hint}");
            }
            Outcome::Skipped { reason } => println!("skipped {what}: {reason}"),
        }
    }
}
