//! The scheduled reconcile: plan + apply every account × region through the reconcile
//! orchestration ([`crate::reconcile::reconcile_once`]) and report each place for status and
//! metrics.
//!
//! Must not: print plans (the CLI does); a failed place is a result, not a crash.

use chrono::Utc;

use crate::backend::BoxError;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// Plans and, when something drifted, applies; one [`PlaceStatus`] per account × region.
pub async fn run(
    runtime: &Runtime,
    store: &fb_store::Store,
    metrics: Option<&Metrics>,
) -> Result<Vec<PlaceStatus>, BoxError> {
    let reconciled = crate::reconcile::reconcile_once(&runtime.config, store).await?;
    if let Some(metrics) = metrics {
        count_calls(&reconciled, metrics);
    }
    if let Some(e) = reconciled
        .applied
        .as_ref()
        .and_then(|a| a.record_error.as_ref())
    {
        tracing::warn!(error = %crate::backend::chain(e), "applied, but the new secret fingerprints were not recorded; the next reconcile will update the connections again");
    }
    let now = Utc::now();
    Ok(reconciled
        .places()
        .into_iter()
        .map(|p| PlaceStatus {
            account: p.account,
            region: p.region,
            time: Some(now),
            result: p.result.as_str().to_owned(),
            drift: p.drift,
            error: p.error,
        })
        .collect())
}

/// AWS calls into the metrics: the inventory's reads, then one per applied action.
fn count_calls(reconciled: &crate::reconcile::Reconciled, metrics: &Metrics) {
    let stats = &reconciled.stats;
    metrics
        .aws_calls
        .get_or_create(&crate::metrics::CallLabels {
            operation: "reconcile:read".into(),
            outcome: "ok".into(),
        })
        .inc_by(stats.calls as u64);
    for _ in 0..stats.places_failed {
        metrics.aws_call("reconcile:read", "error");
    }
    let Some(applied) = &reconciled.applied else {
        return;
    };
    for r in &applied.report.results {
        let outcome = match &r.outcome {
            fb_aws::Outcome::Ok => "ok",
            fb_aws::Outcome::Failed { .. } => "error",
            fb_aws::Outcome::Skipped { .. } => "skipped",
        };
        let operation = format!("apply:{:?}:{}", r.op, r.kind.label()).to_lowercase();
        metrics.aws_call(&operation, outcome);
    }
}
