//! `findings-bridge run [-c FILE]`: load the file, bind `server.listen`, print the bound address,
//! run the daemon until SIGTERM or SIGINT, exit 0 after a clean stop.
//!
//! Must not: hold daemon logic (`fb_daemon::run` has it); this is arguments, binding, signals.

use std::process::ExitCode;

use anyhow::Context;

use crate::Cli;

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let path = super::config_path(cli);
    // The file is read again by the daemon; this first load only finds the address to bind
    // and fails early with every problem listed.
    let config = fb_model::config::load(&path).map_err(|errors| {
        anyhow::anyhow!("{errors}").context(format!("{} is invalid", path.display()))
    })?;
    let runtime = super::multi_thread_runtime()?;
    runtime.block_on(async move {
        let listen = config.server.listen.clone();
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (server.listen)"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        // Scripts and the e2e harness read this line to find the port (listen may say :0).
        println!("listening on {addr}");
        tracing::info!(%addr, "listening");
        fb_daemon::run(&path, listener, stop_signal())
            .await
            .context("the daemon stopped with an error")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
