//! `backlog-sandbox`: an in-memory emulator of the Backlog API v2 for tests and the local demo.
//!
//! Emulates, strictly where the documentation is: the `apiKey` query parameter (401 code 11),
//! form-urlencoded writes, required and undocumented parameters (400 code 7), 201 + `Location`
//! on create, the `{"errors":[…]}` body, per-bucket `X-RateLimit-*` headers and 429 code 13,
//! the default statuses / priorities / resolutions, one project with issue types Task and Bug,
//! issue keys `KEY-1…`, keyword search over summary + description, activities (1 created,
//! 2 updated with string ids in `changes`, 3 commented, 4 deleted), `GET /users/myself` and
//! webhook CRUD + delivery. Test controls live under `/_sandbox/` (see `control.rs`).
//!
//! UNVERIFIED behaviours of real Backlog are switches in [`Options`]:
//! - `accept_json_create`: `POST /issues` also takes a JSON body. This mirrors the seed's observed
//!   behaviour (EventBridge direct mode posts JSON there and the issue was created); every other
//!   write requires a form body.
//! - `min_id_inclusive`: whether `minId` / `maxId` of activities include the bound.
//! - `japanese_names`: built-in statuses / priorities / resolutions in Japanese, as a ja space.
//! - `keyword_delay_ms`: keyword search misses issues younger than this (indexing delay).
//! - bulk updates (`POST /_sandbox/bulk_update`) record only the type 14 activity.
//! - rate limits and their window (free-plan values are unknown).
//!
//! Must not: persist anything, or be mistaken for Backlog (it answers on 127.0.0.1 by default).

mod api;
mod control;
mod endpoints;
mod input;
mod state;
mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::routing::{any, delete, get, post};
use axum::Router;

/// Requests per window for each bucket.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub read: u64,
    pub update: u64,
    pub search: u64,
}

impl Limits {
    fn for_bucket(&self, bucket: &str) -> u64 {
        match bucket {
            "update" => self.update,
            "search" => self.search,
            "icon" => 60,
            _ => self.read,
        }
    }
}

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub api_key: String,
    pub project_key: String,
    pub project_id: i64,
    pub limits: Limits,
    /// Rate-limit window in seconds (Backlog: 60).
    pub window_secs: i64,
    pub accept_json_create: bool,
    pub min_id_inclusive: bool,
    pub japanese_names: bool,
    /// Delay of a slow-after-create answer when the fault gives no `slow_ms`.
    pub default_slow_ms: u64,
    /// Keyword search does not see issues younger than this (indexing delay, UNVERIFIED).
    pub keyword_delay_ms: u64,
}

impl Options {
    /// Defaults: the documented example limits (600 / 150 / 150 per 60 s).
    pub fn new(api_key: impl Into<String>, project_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            project_key: project_key.into(),
            project_id: 1001,
            limits: Limits {
                read: 600,
                update: 150,
                search: 150,
            },
            window_secs: 60,
            accept_json_create: true,
            min_id_inclusive: true,
            japanese_names: false,
            default_slow_ms: 6000,
            keyword_delay_ms: 0,
        }
    }
}

/// Shared server state.
#[derive(Debug)]
pub struct Shared {
    options: Options,
    state: Mutex<state::State>,
    http: reqwest::Client,
}

type App = Arc<Shared>;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sandbox's router (API + control).
pub fn router(options: Options) -> Router {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let app: App = Arc::new(Shared {
        state: Mutex::new(state::State::new(&options)),
        options,
        http,
    });
    Router::new()
        .route("/api/v2", any(api::handle))
        .route("/api/v2/{*rest}", any(api::handle))
        .route("/_sandbox/faults", post(control::set_faults))
        .route("/_sandbox/issues", get(control::issues))
        .route("/_sandbox/issues/{key}", delete(control::delete))
        .route("/_sandbox/issues/{key}/close", post(control::close))
        .route("/_sandbox/issues/{key}/reopen", post(control::reopen))
        .route("/_sandbox/bulk_update", post(control::bulk_update))
        .route("/_sandbox/requests", get(control::requests))
        .route("/_sandbox/activities", get(control::activities))
        .route("/_sandbox/webhooks/drop", post(control::drop_webhooks))
        .with_state(app)
}

/// Serves the sandbox on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, options: Options) -> std::io::Result<()> {
    axum::serve(listener, router(options)).await
}
