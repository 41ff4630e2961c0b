//! The scheduled reconcile: plan + apply every account × region through the reconcile
//! orchestration ([`crate::reconcile::reconcile_once`]) and report each place for status and
//! metrics.
//!
//! Must not: print plans (the CLI does); a failed place is a result, not a crash.

use chrono::Utc;

use crate::backend::BoxError;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// Plans and, when something drifted, applies; one [`PlaceStatus`] per account × region.
pub async fn run(runtime: &Runtime, store: &fb_store::Store) -> Result<Vec<PlaceStatus>, BoxError> {
    let reconciled = crate::reconcile::reconcile_once(&runtime.config, store).await?;
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
