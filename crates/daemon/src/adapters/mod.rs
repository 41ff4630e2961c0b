//! Adapters from the real clients to the sync crate's traits, and the production [`Backend`].
//!
//! - [`BacklogTracker`] (`backlog.rs`): `fb_backlog::Client` → `IssueTracker`, with the names
//!   of the config turned into ids by name resolution at prepare time.
//! - [`SecurityHubWriter`] (`securityhub.rs`): `fb_aws` Security Hub client →
//!   `FindingsWriter`, connected lazily.
//! - [`PipelineEngine`] (`engine.rs`): the pipeline, closure sync and the scheduled reconcile.
//! - [`RealBackend`] (here): resolve names, build the clients and the engine.
//!
//! Must not: log a key or a URL with its query (the Backlog client redacts its own errors).

mod backlog;
mod engine;
mod securityhub;

use std::sync::Arc;

use fb_backlog::{CallObserver, Client, ClientOptions, ResolvedNames};
use fb_model::config::Config;
use fb_sync::PipelineSettings;
use futures::future::BoxFuture;

pub use backlog::BacklogTracker;
pub use engine::PipelineEngine;
pub use securityhub::SecurityHubWriter;

use crate::backend::{Backend, BoxError, Engine};
use crate::metrics::Metrics;
use crate::runtime::Runtime;

/// Why the production engine could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("backlog.api_key")]
    Key(#[source] fb_model::secret::SecretResolveError),
    #[error("cannot build the Backlog client")]
    Client(#[source] fb_backlog::BuildError),
    #[error("cannot resolve the configured Backlog names")]
    Names(#[source] fb_backlog::ResolveError),
}

/// The names a config needs as ids.
fn names_of(config: &Config) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let mut issue_types = vec![config.backlog.issue_type.clone()];
    let mut priorities: Vec<String> = config.backlog.priority.values().cloned().collect();
    for rule in &config.rules {
        issue_types.extend(rule.issue.issue_type.clone());
        priorities.extend(rule.issue.priority.clone());
    }
    for list in [&mut issue_types, &mut priorities] {
        list.sort();
        list.dedup();
    }
    (
        issue_types,
        priorities,
        config.backlog.closed_statuses.clone(),
        config.backlog.suppress_resolutions.clone(),
    )
}

/// Builds a Backlog client and resolves the config's names (5 read calls).
pub async fn connect_backlog(
    config: &Config,
    options: ClientOptions,
    metrics: Arc<Metrics>,
) -> Result<(Client, ResolvedNames), PrepareError> {
    let key = config
        .backlog
        .api_key
        .resolve()
        .map_err(PrepareError::Key)?;
    let observer: Arc<dyn CallObserver> = Arc::new(backlog::BacklogMetrics(metrics));
    let client = Client::with_observer(&config.backlog.base_url, key, options, Some(observer))
        .map_err(PrepareError::Client)?;
    let (issue_types, priorities, statuses, resolutions) = names_of(config);
    let names = client
        .resolve_names(fb_backlog::NamesToResolve {
            project: &config.backlog.project,
            issue_types: &issue_types,
            priorities: &priorities,
            statuses: &statuses,
            resolutions: &resolutions,
        })
        .await
        .map_err(PrepareError::Names)?;
    Ok((client, names))
}

/// The production backend: real Backlog client, Security Hub client, pipeline and reconcile.
#[derive(Debug, Clone, Default)]
pub struct RealBackend {
    /// Backlog client settings (tests shorten time-outs and backoffs).
    pub backlog_options: ClientOptions,
    pub pipeline_settings: PipelineSettings,
}

impl Backend for RealBackend {
    fn prepare(
        &self,
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        let options = self.backlog_options.clone();
        let settings = self.pipeline_settings.clone();
        Box::pin(async move {
            let config = runtime.config.clone();
            let (client, names) = connect_backlog(&config, options, metrics.clone()).await?;
            tracing::info!(project = %names.project_key, project_id = names.project_id, "Backlog names resolved");
            let policy = crate::closure::policy(&config, &names);
            let activities = Arc::new(crate::closure::BacklogActivities::new(
                client.clone(),
                &config,
                &names,
            ));
            let tracker = Arc::new(BacklogTracker::new(client, names, &config));
            let writer = Arc::new(SecurityHubWriter::new(config.clone(), metrics.clone()));
            let engine = PipelineEngine::new(runtime, store, tracker, writer, settings)
                .with_metrics(metrics)
                .with_closure(activities, policy);
            Ok(Arc::new(engine) as Arc<dyn Engine>)
        })
    }
}
