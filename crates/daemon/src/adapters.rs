//! Adapters from the real clients to the sync crate's traits, and the production [`Backend`].
//!
//! - [`BacklogTracker`]: `fb_backlog::Client` → `IssueTracker`, with the names of the config
//!   (issue types, priorities, statuses) turned into ids by name resolution at prepare time.
//! - [`SecurityHubWriter`]: `fb_aws` Security Hub client → `FindingsWriter`, connected lazily
//!   (assume role) on first use so an AWS outage does not stop issues from being filed.
//! - [`RealBackend`] / [`PipelineEngine`]: resolve names, build the pipeline, count calls into the
//!   metrics, and reconcile through [`crate::reconcile`].
//!
//! Must not: log a key or a URL with its query (the Backlog client redacts its own errors).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fb_backlog::{CallObserver, CallOutcome, Client, ClientOptions, CreateError, ResolvedNames};
use fb_model::config::Config;
use fb_store::FindingFormat;
use fb_sync::{
    BatchResult, FindingQuery, FindingsPage, FindingsWriter, FoundIssue, Issue, IssueChange,
    IssueRef, IssueTracker, NewIssue, Pipeline, PipelineSettings, StatsSnapshot, StatusChange,
    TrackerError, Unprocessed, WorkflowUpdate, WriterError,
};
use futures::future::BoxFuture;

use crate::backend::{chain, Backend, BoxError, Engine, WorkReport};
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// Backlog's built-in "Open" status id (statuses are localized; ids are not).
const STATUS_OPEN: i64 = 1;

/// Counts every Backlog HTTP attempt into the metrics.
#[derive(Debug)]
struct BacklogMetrics(Arc<Metrics>);

impl CallObserver for BacklogMetrics {
    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        let outcome = match outcome {
            CallOutcome::Success => "ok",
            CallOutcome::NotFound => "not_found",
            CallOutcome::Rejected => "rejected",
            CallOutcome::RateLimited => "rate_limited",
            CallOutcome::ServerError => "server_error",
            CallOutcome::TransportError => "transport_error",
            CallOutcome::Paced => "paced",
        };
        if matches!(outcome, "rate_limited" | "paced") {
            self.0
                .rate_limit_waits
                .get_or_create(&crate::metrics::ServiceLabels {
                    service: "backlog".into(),
                })
                .inc();
        }
        self.0.backlog_call(operation, outcome);
    }
}

/// The Backlog client as the pipeline's issue tracker.
#[derive(Debug, Clone)]
pub struct BacklogTracker {
    client: Client,
    names: ResolvedNames,
    /// Ids of `backlog.closed_statuses`.
    closed_ids: Vec<i64>,
    /// `https://space.backlog.jp`, for issue links.
    space_url: String,
}

impl BacklogTracker {
    pub fn new(client: Client, names: ResolvedNames, config: &Config) -> Self {
        let closed_ids = config
            .backlog
            .closed_statuses
            .iter()
            .filter_map(|n| names.status_ids.get(n).copied())
            .collect();
        BacklogTracker {
            client,
            names,
            closed_ids,
            space_url: config.backlog.base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn issue_ref(&self, issue: &fb_backlog::Issue) -> IssueRef {
        IssueRef {
            key: issue.issue_key.clone(),
            id: u64::try_from(issue.id).unwrap_or_default(),
            url: format!("{}/view/{}", self.space_url, issue.issue_key),
        }
    }

    fn id_of(
        map: &std::collections::BTreeMap<String, i64>,
        kind: &str,
        name: &str,
        operation: &'static str,
    ) -> Result<i64, TrackerError> {
        map.get(name)
            .copied()
            .ok_or_else(|| TrackerError::Permanent {
                operation,
                message: format!("{kind} {name:?} was not resolved from the configuration"),
            })
    }
}

fn call_error(operation: &'static str, e: &fb_backlog::CallError) -> TrackerError {
    let message = chain(e);
    if e.is_retryable() {
        TrackerError::Retryable { operation, message }
    } else {
        TrackerError::Permanent { operation, message }
    }
}

#[async_trait]
impl IssueTracker for BacklogTracker {
    async fn create_issue(&self, issue: &NewIssue) -> Result<IssueRef, TrackerError> {
        const OP: &str = "create_issue";
        let new = fb_backlog::NewIssue {
            project_id: self.names.project_id,
            summary: issue.summary.clone(),
            description: issue.description.clone(),
            issue_type_id: Self::id_of(
                &self.names.issue_type_ids,
                "issue type",
                &issue.issue_type,
                OP,
            )?,
            priority_id: Self::id_of(&self.names.priority_ids, "priority", &issue.priority, OP)?,
        };
        match self.client.create_issue(&new).await {
            Ok(created) => Ok(self.issue_ref(&created)),
            Err(e @ CreateError::Ambiguous { .. }) => Err(TrackerError::Ambiguous {
                operation: OP,
                message: chain(&e),
            }),
            Err(CreateError::Failed(e)) => Err(call_error(OP, &e)),
        }
    }

    async fn find_by_marker(&self, marker: &str) -> Result<Vec<FoundIssue>, TrackerError> {
        let query = fb_backlog::IssueQuery {
            project_ids: vec![self.names.project_id],
            keyword: Some(marker.to_owned()),
            count: Some(fb_backlog::MAX_COUNT),
            ..Default::default()
        };
        let issues = self
            .client
            .list_issues(&query)
            .await
            .map_err(|e| call_error("find_by_marker", &e))?;
        Ok(issues
            .iter()
            .map(|i| FoundIssue {
                issue: self.issue_ref(i),
                description: i.description.clone(),
            })
            .collect())
    }

    async fn get_issue(&self, key: &str) -> Result<Issue, TrackerError> {
        const OP: &str = "get_issue";
        let issue = self
            .client
            .get_issue(key)
            .await
            .map_err(|e| call_error(OP, &e))?
            .ok_or_else(|| TrackerError::Permanent {
                operation: OP,
                message: format!("issue {key} does not exist"),
            })?;
        Ok(Issue {
            issue: self.issue_ref(&issue),
            summary: issue.summary.clone(),
            description: issue.description.clone(),
            status: issue.status.name.clone(),
            closed: self.closed_ids.contains(&issue.status.id),
            priority: issue.priority.name.clone(),
        })
    }

    async fn add_comment(&self, key: &str, text: &str) -> Result<(), TrackerError> {
        self.client
            .add_comment(key, text)
            .await
            .map(|_| ())
            .map_err(|e| call_error("add_comment", &e))
    }

    async fn update_issue(&self, key: &str, change: &IssueChange) -> Result<(), TrackerError> {
        const OP: &str = "update_issue";
        let status_id = match &change.status {
            None => None,
            Some(StatusChange::Open) => Some(STATUS_OPEN),
            Some(StatusChange::Named(name)) => {
                Some(Self::id_of(&self.names.status_ids, "status", name, OP)?)
            }
        };
        let priority_id = match &change.priority {
            None => None,
            Some(name) => Some(Self::id_of(&self.names.priority_ids, "priority", name, OP)?),
        };
        let update = fb_backlog::IssueUpdate {
            status_id,
            resolution_id: None,
            priority_id,
            comment: change.comment.clone(),
        };
        self.client
            .update_issue(key, &update)
            .await
            .map(|_| ())
            .map_err(|e| call_error(OP, &e))
    }
}

/// Security Hub in the `security_hub` account and region, as the pipeline's writer.
#[derive(Debug)]
pub struct SecurityHubWriter {
    config: Arc<Config>,
    client: tokio::sync::OnceCell<fb_aws::SecurityHubClient>,
    metrics: Arc<Metrics>,
}

impl SecurityHubWriter {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        SecurityHubWriter {
            config,
            client: tokio::sync::OnceCell::new(),
            metrics,
        }
    }

    /// Connects (assume role + identity check) once; a failure is retried on the next call.
    async fn client(&self) -> Result<&fb_aws::SecurityHubClient, WriterError> {
        self.client
            .get_or_try_init(|| async {
                let base = fb_aws::load_base_config().await;
                let sessions = fb_aws::Sessions::from_accounts(base, &self.config.accounts)
                    .map_err(|e| WriterError::Permanent {
                        operation: "connect",
                        message: chain(&e),
                    })?;
                fb_aws::SecurityHubClient::connect(&sessions, &self.config.security_hub)
                    .await
                    .map_err(|e| {
                        self.metrics.aws_call("sts:AssumeRole", "error");
                        WriterError::Retryable {
                            operation: "connect",
                            message: chain(&e),
                        }
                    })
            })
            .await
    }
}

fn workflow(name: &str) -> Option<fb_aws::securityhub::Workflow> {
    use fb_aws::securityhub::Workflow;
    match name {
        "NEW" => Some(Workflow::New),
        "NOTIFIED" => Some(Workflow::Notified),
        "RESOLVED" => Some(Workflow::Resolved),
        "SUPPRESSED" => Some(Workflow::Suppressed),
        _ => None,
    }
}

#[async_trait]
impl FindingsWriter for SecurityHubWriter {
    async fn batch_update(&self, updates: &[WorkflowUpdate]) -> Result<BatchResult, WriterError> {
        use fb_aws::securityhub::{OcsfUpdate, WorkflowUpdate as AsffUpdate};
        let client = self.client().await?;
        let mut result = BatchResult::default();
        // Results name findings by id; the pipeline wants its keys back.
        let mut key_of: HashMap<String, String> = HashMap::new();
        let (mut asff, mut ocsf) = (Vec::new(), Vec::new());
        for u in updates {
            let Some(wf) = workflow(&u.workflow) else {
                result
                    .unprocessed
                    .push(unprocessed(u, "InvalidWorkflow", false));
                continue;
            };
            key_of.insert(u.finding_id.clone(), u.finding_key.clone());
            match (u.format, &u.product_arn) {
                (FindingFormat::Asff, Some(product_arn)) => asff.push(AsffUpdate {
                    finding_id: u.finding_id.clone(),
                    product_arn: product_arn.clone(),
                    workflow: wf,
                    note: Some(u.note.clone()),
                }),
                (FindingFormat::Asff, None) => {
                    result
                        .unprocessed
                        .push(unprocessed(u, "MissingProductArn", false));
                }
                // BatchUpdateFindingsV2 identifies findings by metadata uid; the pipeline's
                // finding id is the best identifier it records for OCSF findings.
                (FindingFormat::Ocsf, _) => ocsf.push(OcsfUpdate {
                    metadata_uid: u.finding_id.clone(),
                    workflow: wf,
                    comment: Some(u.note.clone()),
                }),
            }
        }
        let mut outcomes = Vec::new();
        if !asff.is_empty() {
            outcomes.push((
                "securityhub:BatchUpdateFindings",
                client.batch_update_workflow(asff).await,
            ));
        }
        if !ocsf.is_empty() {
            outcomes.push((
                "securityhub:BatchUpdateFindingsV2",
                client.batch_update_v2(ocsf).await,
            ));
        }
        for (operation, outcome) in outcomes {
            let label = if outcome.unprocessed.is_empty() {
                "ok"
            } else {
                "partial"
            };
            for _ in 0..outcome.calls {
                self.metrics.aws_call(operation, label);
            }
            let key = |id: &str| key_of.get(id).cloned().unwrap_or_else(|| id.to_owned());
            result
                .processed
                .extend(outcome.processed.iter().map(|id| key(id)));
            result
                .unprocessed
                .extend(outcome.unprocessed.into_iter().map(|u| Unprocessed {
                    finding_key: key(&u.finding_id),
                    code: u.code,
                    message: u.message,
                    retryable: u.retryable,
                }));
        }
        Ok(result)
    }

    async fn get_findings(&self, query: &FindingQuery) -> Result<FindingsPage, WriterError> {
        const OP: &str = "securityhub:GetFindings";
        let client = self.client().await?;
        let filters = fb_aws::securityhub::FindingFilters {
            product_names: query.product_names.clone(),
            workflow_statuses: query.workflow_statuses.clone(),
            record_states: query.record_states.clone(),
            ..Default::default()
        };
        let max = query.max_results.clamp(1, fb_aws::securityhub::MAX_RESULTS);
        match client
            .get_findings(&filters, max, query.next_token.clone())
            .await
        {
            Ok(page) => {
                self.metrics.aws_call(OP, "ok");
                Ok(FindingsPage {
                    findings: page.findings,
                    next_token: page.next_token,
                })
            }
            Err(e) => {
                self.metrics.aws_call(OP, "error");
                let message = chain(&e);
                Err(if e.retryable() {
                    WriterError::Retryable {
                        operation: OP,
                        message,
                    }
                } else {
                    WriterError::Permanent {
                        operation: OP,
                        message,
                    }
                })
            }
        }
    }
}

fn unprocessed(u: &WorkflowUpdate, code: &str, retryable: bool) -> Unprocessed {
    Unprocessed {
        finding_key: u.finding_key.clone(),
        code: code.to_owned(),
        message: format!("cannot send workflow {:?} for this finding", u.workflow),
        retryable,
    }
}

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
    let observer: Arc<dyn CallObserver> = Arc::new(BacklogMetrics(metrics));
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

/// The engine: the finding → issue pipeline plus the scheduled reconcile.
pub struct PipelineEngine {
    pipeline: Pipeline,
    runtime: Arc<Runtime>,
    store: fb_store::Store,
    batch: usize,
    /// Where the scheduled reconcile counts its AWS calls.
    metrics: Option<Arc<Metrics>>,
    /// Stats at the last report, to turn the pipeline's totals into per-pass deltas.
    last: Mutex<StatsSnapshot>,
    closure: Option<fb_sync::closure::ClosureSync>,
}

impl std::fmt::Debug for PipelineEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineEngine")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl PipelineEngine {
    /// An engine over `tracker` and `writer` (the real adapters, or the sync crate's fakes).
    pub fn new(
        runtime: Arc<Runtime>,
        store: fb_store::Store,
        tracker: Arc<dyn IssueTracker>,
        writer: Arc<dyn FindingsWriter>,
        settings: PipelineSettings,
    ) -> Self {
        let batch = settings.inbox_batch;
        let pipeline = Pipeline::with_settings(
            store.clone(),
            tracker,
            writer,
            runtime.config.clone(),
            settings,
        );
        PipelineEngine {
            last: Mutex::new(pipeline.stats().snapshot()),
            pipeline,
            runtime,
            store,
            batch,
            metrics: None,
            closure: None,
        }
    }

    /// Counts the scheduled reconcile's AWS calls into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Adds Backlog → Security Hub closure sync over this engine's pipeline.
    pub fn with_closure(
        mut self,
        source: Arc<dyn fb_sync::closure::ActivitySource>,
        policy: fb_sync::closure::ClosurePolicy,
    ) -> Self {
        self.closure = Some(fb_sync::closure::ClosureSync::new(
            self.pipeline.clone(),
            source,
            policy,
        ));
        self
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn delta(&self) -> (u64, u64) {
        let now = self.pipeline.stats().snapshot();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let d = (
            now.issues_created.saturating_sub(last.issues_created),
            now.duplicates_absorbed
                .saturating_sub(last.duplicates_absorbed),
        );
        *last = now;
        d
    }
}

impl Engine for PipelineEngine {
    fn process_pending(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.process_pending().await?;
            let (issues_created, duplicates_absorbed) = self.delta();
            Ok(WorkReport {
                events: u64::try_from(r.events_done + r.malformed).unwrap_or(u64::MAX),
                issues_created,
                duplicates_absorbed,
                // A full batch means more events are probably waiting.
                more: r.events_done + r.malformed + r.events_kept >= self.batch,
                ..WorkReport::default()
            })
        })
    }

    fn flush_writebacks(&self) -> BoxFuture<'_, Result<WorkReport, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.flush_writebacks().await?;
            Ok(WorkReport {
                writebacks_done: r.sent as u64,
                writebacks_failed: r.failed as u64,
                writebacks_retrying: r.retried as u64,
                ..WorkReport::default()
            })
        })
    }

    fn backfill(&self) -> BoxFuture<'_, Result<String, BoxError>> {
        Box::pin(async move {
            let r = self.pipeline.backfill().await?;
            Ok(format!(
                "{} finding(s) read in {} page(s), {} queued, {} already known",
                r.fetched, r.pages, r.queued, r.known
            ))
        })
    }

    fn reconcile(&self) -> BoxFuture<'_, Result<Vec<PlaceStatus>, BoxError>> {
        Box::pin(async move {
            crate::reconcile_job::run(&self.runtime, &self.store, self.metrics.as_deref()).await
        })
    }

    fn closure(&self) -> Option<fb_sync::closure::ClosureSync> {
        self.closure.clone()
    }
}
