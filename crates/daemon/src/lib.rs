//! `fb-daemon`: the long-running process (axum server, schedules, reload, health, metrics) and
//! the reconcile orchestration shared by `plan`/`apply` and the scheduled reconcile.
//!
//! [`run`] is what `findings-bridge run` calls; [`serve`] is the same with the work behind a
//! [`backend::Backend`] and the clock injectable, so tests run the whole daemon in-process on
//! port 0 against fakes. Start-up order: config (refused → error), store (open, migrate), the
//! HTTP server (events are accepted durably from here on, even while Backlog is unreachable),
//! then the engine (Backlog names resolved, retried with backoff — `/readyz` waits for it), then
//! the scheduler. Stopping: the `shutdown` future resolves → no new connections, in-flight
//! requests finish, background tasks stop, the store is flushed — all within
//! `server.shutdown_timeout_seconds`.
//!
//! Must not: log or show a secret; hold product logic that belongs in `fb-sync` or `fb-aws`.

pub mod adapters;
pub mod app;
pub mod backend;
pub mod closure;
pub mod http;
pub mod metrics;
pub mod reconcile;
mod reconcile_job;
pub mod redact;
pub mod reload;
pub mod runtime;
pub mod schedule;
pub mod status;
mod tasks;
pub mod worker;

use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::Shared;
use crate::backend::Backend;
use crate::metrics::Metrics;
use crate::runtime::{LoadError, Runtime, RuntimeCell};
use crate::schedule::{Clock, SystemClock};
use crate::status::{condition, ConfigInfo, Readiness};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start with this configuration")]
    Config(#[source] LoadError),
    #[error("cannot open the store")]
    Store(#[source] fb_store::OpenError),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("the store could not be flushed at shutdown; the last accepted events are still durable (each was flushed before its 202)")]
    Flush(#[source] fb_store::StoreError),
    #[error("a start-up task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// Knobs for [`serve`]; [`Options::default`] is what `run` uses.
#[derive(Clone, Debug)]
pub struct Options {
    pub clock: Arc<dyn Clock>,
    /// The worker also wakes this often when no event arrives (retries, write-back backoff).
    pub worker_interval: Duration,
    /// First delay between attempts to prepare the engine (doubles up to 5 min).
    pub prepare_retry: Duration,
    /// Watch the config file and SIGHUP for reloads.
    pub watch_config: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            worker_interval: Duration::from_secs(5),
            prepare_retry: Duration::from_secs(1),
            watch_config: true,
        }
    }
}

/// Runs the daemon with the real Backlog, Security Hub and AWS clients until `shutdown`.
pub async fn run(
    config_path: &Path,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let backend: Arc<dyn Backend> = Arc::new(adapters::RealBackend::default());
    serve(config_path, listener, shutdown, backend, Options::default()).await
}

/// Runs the daemon with `backend` until `shutdown` resolves; see the crate header for the order.
pub async fn serve(
    config_path: &Path,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    backend: Arc<dyn Backend>,
    options: Options,
) -> Result<(), RunError> {
    let shared = start_state(config_path, &options).await?;
    let grace = Duration::from_secs(
        shared
            .runtime
            .current()
            .config
            .server
            .shutdown_timeout_seconds,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = JoinSet::new();
    background.spawn(worker::run(
        shared.clone(),
        options.worker_interval,
        stop_rx.clone(),
    ));
    background.spawn(closure::hints(shared.clone(), stop_rx.clone()));
    background.spawn(tasks::supervise(
        shared.clone(),
        backend.clone(),
        options.prepare_retry,
        stop_rx.clone(),
    ));
    if options.watch_config {
        match reload::Watch::start(config_path) {
            Ok(watch) => {
                shared
                    .board
                    .task("config_watcher", |t| t.state = "watching".into());
                background.spawn(watch.run(shared.clone(), backend.clone(), stop_rx.clone()));
            }
            Err(e) => {
                let error = backend::chain(&e);
                tracing::error!(error = %error, "configuration reload is disabled");
                shared.board.task("config_watcher", |t| {
                    t.state = "disabled".into();
                    t.last_error = Some(error);
                });
            }
        }
    }

    let (server_result, deadline) = serve_http(shared.clone(), listener, shutdown, grace).await;
    tracing::info!("stopping background tasks");
    let _ = stop_tx.send(true);
    // One bound for the whole stop: what the drain left of `grace`.
    let joined = tokio::time::timeout_at(deadline, async {
        while background.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        tracing::warn!("background tasks did not stop in time; abandoning them (pending work is durable and resumes on the next start)");
        background.abort_all();
        while background.join_next().await.is_some() {}
    }
    let flushed = shared.store.flush().await;
    tracing::info!("stopped");
    server_result?;
    flushed.map_err(RunError::Flush)
}

/// Loads the config and opens the store: the two conditions the server needs to start.
async fn start_state(config_path: &Path, options: &Options) -> Result<Arc<Shared>, RunError> {
    let readiness = Readiness::starting();
    let path: PathBuf = config_path.to_path_buf();
    let runtime = tokio::task::spawn_blocking(move || Runtime::load(&path))
        .await
        .map_err(RunError::Task)?
        .map_err(|(e, _)| RunError::Config(e))?;
    readiness.met(condition::CONFIG);
    let store_path = runtime.config.store.path.clone();
    let store = tokio::task::spawn_blocking(move || fb_store::Store::open(&store_path))
        .await
        .map_err(RunError::Task)?
        .map_err(RunError::Store)?;
    readiness.met(condition::STORE);
    let info = ConfigInfo {
        path: runtime.path.display().to_string(),
        hash: runtime.hash.clone(),
        loaded_at: Some(runtime.loaded_at),
    };
    tracing::info!(config_hash = %info.hash, store = ?store.path(), inbox = store.inbox_len(), outbox = store.outbox_len(), "configuration loaded, store open");
    let shared = Arc::new(Shared::new(
        RuntimeCell::new(runtime),
        store,
        Arc::new(Metrics::new()),
        readiness,
        options.clock.clone(),
    ));
    shared.board.set_config(info);
    Ok(shared)
}

/// Serves until `shutdown`, then lets in-flight requests finish within `grace`. Returns the
/// deadline of the whole stop (`grace` after the signal).
async fn serve_http(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> (Result<(), RunError>, tokio::time::Instant) {
    let (drain_tx, mut drain_rx) = watch::channel(false);
    let app = http::router(shared).layer(tasks::trace_layer());
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = drain_rx.wait_for(|v| *v).await;
        })
        .into_future();
    let mut server = tokio::spawn(server);
    tokio::select! {
        () = shutdown => {}
        result = &mut server => {
            let deadline = tokio::time::Instant::now() + grace;
            return match result {
                Ok(Ok(())) => (Ok(()), deadline),
                Ok(Err(e)) => (Err(RunError::Serve(e)), deadline),
                Err(e) => (Err(RunError::Task(e)), deadline),
            };
        }
    }
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = drain_tx.send(true);
    let drained = match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(RunError::Serve(e)),
        Ok(Err(e)) => Err(RunError::Task(e)),
        Err(_) => {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "in-flight requests did not finish in time; closing them"
            );
            server.abort();
            Ok(())
        }
    };
    (drained, deadline)
}
