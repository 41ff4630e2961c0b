//! The scheduled reconcile: plan + apply every account × region through the reconcile
//! orchestration ([`crate::reconcile`]) and report each place for status and metrics.
//!
//! Must not: print plans (the CLI does); a failed place is a result, not a crash.

use crate::backend::BoxError;
use crate::runtime::Runtime;
use crate::status::PlaceStatus;

/// Why the scheduled reconcile could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileJobError {
    #[error("the reconcile orchestration is not available in this build")]
    Unavailable,
}

/// Plans and applies; one [`PlaceStatus`] per account × region.
pub async fn run(
    _runtime: &Runtime,
    _store: &fb_store::Store,
) -> Result<Vec<PlaceStatus>, BoxError> {
    Err(ReconcileJobError::Unavailable.into())
}
