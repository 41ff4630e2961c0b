//! Config reload (GitOps): on a change of the file (watched with `notify`) or SIGHUP, the new
//! file is validated and its engine prepared (Backlog names resolved) beside the running one.
//! Valid: the runtime and engine are swapped and a reconcile is triggered. Invalid: the old
//! config keeps running; every error is logged and shown in status.
//!
//! The parent directory is watched, not the file: editors and Kubernetes config maps replace
//! files by rename. Spurious events are harmless — an unchanged hash is a no-op.
//!
//! Must not: leave a half-applied config, or log a secret (config errors never carry values).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::app::Shared;
use crate::backend::{chain, Backend};
use crate::runtime::Runtime;
use crate::status::{ConfigErrorInfo, ConfigInfo};

/// File events closer together than this are one change (an editor's write + rename).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file's bytes are the running ones.
    Unchanged,
    Applied {
        hash: String,
    },
    Refused {
        errors: Vec<String>,
    },
}

/// Validates the file at the running config's path and swaps it in when good.
pub async fn reload(shared: &Shared, backend: &dyn Backend) -> ReloadOutcome {
    let current = shared.runtime.current();
    let path = current.path.clone();
    let loaded = match tokio::task::spawn_blocking(move || Runtime::load(&path)).await {
        Ok(result) => result,
        Err(join) => return refuse(shared, None, vec![format!("reload task failed: {join}")]),
    };
    let runtime = match loaded {
        Ok(runtime) if runtime.hash == current.hash => return ReloadOutcome::Unchanged,
        Ok(runtime) => Arc::new(runtime),
        Err((e, hash)) => return refuse(shared, hash, e.lines()),
    };
    let engine = match backend
        .prepare(
            runtime.clone(),
            shared.store.clone(),
            shared.metrics.clone(),
        )
        .await
    {
        Ok(engine) => engine,
        Err(e) => {
            return refuse(
                shared,
                Some(runtime.hash.clone()),
                vec![format!(
                    "cannot prepare the new configuration: {}",
                    chain(e.as_ref())
                )],
            )
        }
    };
    let hash = runtime.hash.clone();
    shared.board.set_config(ConfigInfo {
        path: runtime.path.display().to_string(),
        hash: hash.clone(),
        loaded_at: Some(runtime.loaded_at),
    });
    let schedules_changed = runtime.config.schedules != current.config.schedules;
    shared.runtime.replace(runtime);
    shared.set_engine(engine);
    shared.metrics.config_reload("applied");
    tracing::info!(config_hash = %hash, schedules_changed, "configuration reloaded");
    if schedules_changed {
        // The supervisor rebuilds the scheduler and then triggers the reconcile.
        shared.reschedule.notify_one();
    } else if let Some(scheduler) = shared.scheduler() {
        scheduler.trigger("reconcile");
    }
    ReloadOutcome::Applied { hash }
}

fn refuse(shared: &Shared, hash: Option<String>, errors: Vec<String>) -> ReloadOutcome {
    for error in &errors {
        tracing::error!(error = %error, "configuration change refused; the running configuration stays");
    }
    shared.metrics.config_reload("refused");
    shared.board.config_refused(ConfigErrorInfo {
        at: shared.clock.now(),
        hash,
        errors: errors.clone(),
    });
    ReloadOutcome::Refused { errors }
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path} for configuration changes")]
    Notify {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot listen for SIGHUP")]
    Signal(#[source] std::io::Error),
}

/// The reload triggers, set up before the daemon starts serving so no change is missed.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<()>,
    hangup: tokio::signal::unix::Signal,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// Watches the directory of `config_path` and SIGHUP.
    pub fn start(config_path: &Path) -> Result<Watch, WatchError> {
        let (tx, changes) = mpsc::unbounded_channel::<()>();
        let watcher = file_watcher(config_path, tx)?;
        let hangup = hangup_signal()?;
        Ok(Watch {
            _watcher: watcher,
            changes,
            hangup,
        })
    }

    /// Reloads on each change or SIGHUP until `stop` turns true.
    pub async fn run(
        mut self,
        shared: Arc<Shared>,
        backend: Arc<dyn Backend>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                Some(()) = self.changes.recv() => {
                    // Let a burst of events settle, then reload once.
                    tokio::time::sleep(DEBOUNCE).await;
                    while self.changes.try_recv().is_ok() {}
                    tracing::debug!("configuration file changed");
                }
                _ = self.hangup.recv() => tracing::info!("SIGHUP: reloading the configuration"),
                _ = stop.changed() => return,
            }
            reload(&shared, backend.as_ref()).await;
        }
    }
}

fn file_watcher(
    config_path: &Path,
    tx: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let err = |source| WatchError::Notify {
        path: dir.clone(),
        source,
    };
    let name = config_path.file_name().map(|n| n.to_os_string());
    // Only events about the file itself, or about `..`-named entries (a Kubernetes config map
    // swaps its `..data` link): the store may live in the same directory and is busy.
    let relevant = move |event: &notify::Event| {
        !event.kind.is_access()
            && event.paths.iter().any(|p| {
                p.file_name().is_some_and(|f| {
                    Some(f) == name.as_deref() || f.to_string_lossy().starts_with("..")
                })
            })
    };
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if relevant(&event) {
                let _ = tx.send(());
            }
        }
    })
    .map_err(err)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(err)?;
    Ok(watcher)
}

#[cfg(unix)]
fn hangup_signal() -> Result<tokio::signal::unix::Signal, WatchError> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(WatchError::Signal)
}
