//! `findings-bridge status [--url URL]`: the running daemon's `/v1/status`, for a person.
//! Exit 0 when the daemon is ready and reports no problem; 1 when it is unhealthy or cannot be
//! reached. `--url` defaults to `http://<server.listen>` from the file.
//!
//! Must not: read the store (the daemon holds it) or show anything the daemon did not send.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use fb_daemon::status::StatusView;

use crate::Cli;

pub fn run(cli: &Cli, url: Option<&str>) -> anyhow::Result<ExitCode> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => default_url(cli)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let view = runtime.block_on(fetch(&base))?;
    print!("{}", render(&base, &view));
    Ok(if view.problems().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn default_url(cli: &Cli) -> anyhow::Result<String> {
    let path = super::config_path(cli);
    let config = fb_model::config::load(&path).map_err(|errors| {
        anyhow::anyhow!("{errors}").context(format!(
            "{} is invalid; pass --url to reach the daemon without it",
            path.display()
        ))
    })?;
    let listen = config.server.listen;
    // A daemon listening on every interface is reached on loopback.
    let host = listen
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    Ok(format!("http://{host}"))
}

async fn fetch(base: &str) -> anyhow::Result<StatusView> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    let url = format!("{base}/v1/status");
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("the daemon at {base} cannot be reached"))?;
    let status = resp.status();
    if !status.is_success() {
        anyhow::bail!("the daemon at {base} answered {status} to /v1/status");
    }
    resp.json::<StatusView>()
        .await
        .with_context(|| format!("the answer of {url} is not a findings-bridge status"))
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

/// The view as text.
pub fn render(base: &str, v: &StatusView) -> String {
    let mut out = String::new();
    let state = if v.ready { "ready" } else { "NOT READY" };
    let _ = writeln!(out, "findings-bridge {} at {base}: {state}", v.version);
    let _ = writeln!(
        out,
        "config     {} (sha256 {}), loaded {}",
        v.config.path,
        v.config.hash.get(..12).unwrap_or(&v.config.hash),
        when(v.config.loaded_at)
    );
    let age = v
        .queues
        .oldest_pending_age_seconds
        .map(|s| format!(", oldest pending {s} s"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "queues     inbox {}, outbox {}{age}",
        v.queues.inbox, v.queues.outbox
    );
    let c = &v.counters;
    let _ = writeln!(
        out,
        "events     {} accepted, {} ignored, {} rejected; {} issues created, {} duplicates absorbed",
        c.events_accepted, c.events_ignored, c.events_rejected, c.issues_created, c.duplicates_absorbed
    );
    let _ = writeln!(out, "reconcile");
    if v.reconcile.is_empty() {
        let _ = writeln!(out, "  (not run yet)");
    }
    for p in &v.reconcile {
        let error = p
            .error
            .as_deref()
            .map(|e| format!("  {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {:<16} {:<8} drift {:<3} at {}{error}",
            p.account,
            p.region,
            p.result,
            p.drift,
            when(p.time)
        );
    }
    let _ = writeln!(out, "jobs");
    for (name, j) in &v.jobs {
        let result = j.last_result.as_deref().unwrap_or("not run");
        let took = j
            .last_duration_ms
            .map(|ms| format!(" ({ms} ms)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {name:<10} {result:<7} last {}{took}, next {}",
            when(j.last_start),
            when(j.next_run)
        );
    }
    let _ = writeln!(out, "tasks");
    for (name, t) in &v.tasks {
        let error = t
            .last_error
            .as_deref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {name:<14} {:<10} last {}{error}",
            t.state,
            when(t.last_run_at)
        );
    }
    let _ = writeln!(
        out,
        "webhook    {} hint(s), last {}",
        v.webhook.hints_received,
        when(v.webhook.last_received_at)
    );
    if let Some(e) = &v.last_config_error {
        let _ = writeln!(out, "refused configuration change at {}:", when(Some(e.at)));
        for line in &e.errors {
            let _ = writeln!(out, "  {line}");
        }
    }
    let problems = v.problems();
    if problems.is_empty() {
        let _ = writeln!(out, "healthy");
    } else {
        let _ = writeln!(out, "problems:");
        for p in problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fb_daemon::status::{ConfigErrorInfo, PlaceStatus};

    #[test]
    fn renders_places_refusals_and_problems() {
        let mut view = StatusView {
            version: "0.1.0".into(),
            ready: true,
            ..StatusView::default()
        };
        view.config.hash = "0123456789abcdef0123".into();
        view.reconcile.push(PlaceStatus {
            account: "111111111111".into(),
            region: "us-east-1".into(),
            time: None,
            result: "failed".into(),
            drift: 2,
            error: Some("AccessDenied".into()),
        });
        view.last_config_error = Some(ConfigErrorInfo {
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
            hash: None,
            errors: vec!["f.yaml:1:10: version: must be 1".into()],
        });
        let text = render("http://127.0.0.1:8080", &view);
        assert!(text.starts_with("findings-bridge 0.1.0 at http://127.0.0.1:8080: ready\n"));
        assert!(text.contains("(sha256 0123456789ab)"), "{text}");
        assert!(text.contains("111111111111 us-east-1"), "{text}");
        assert!(
            text.contains("  f.yaml:1:10: version: must be 1\n"),
            "{text}"
        );
        assert!(text.contains("problems:\n"), "{text}");
        assert!(text.contains("  - reconcile of 111111111111 us-east-1 failed: AccessDenied\n"));
        assert!(!text.contains("healthy"));
    }
}
