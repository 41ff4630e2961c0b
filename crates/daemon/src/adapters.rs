//! Adapters from the real clients (fb-backlog, fb-aws) to the sync crate's traits, and the real
//! [`Backend`] that `run` uses.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::backend::{Backend, BoxError, Engine};
use crate::metrics::Metrics;
use crate::runtime::Runtime;

/// The production backend: real Backlog client, Security Hub client, pipeline and reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealBackend;

impl Backend for RealBackend {
    fn prepare(
        &self,
        _runtime: Arc<Runtime>,
        _store: fb_store::Store,
        _metrics: Arc<Metrics>,
    ) -> BoxFuture<'static, Result<Arc<dyn Engine>, BoxError>> {
        Box::pin(async { Err("the real backend is not wired yet".into()) })
    }
}
