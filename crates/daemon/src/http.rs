//! The HTTP surface (DESIGN §4): event intake, the Backlog webhook, health, readiness, metrics
//! and status.
//!
//! `/v1/events` answers 202 only once the event is durable (the store's group commit); bad
//! input is answered 400/401/413 with a JSON error and stores nothing. Keys and tokens are
//! compared in constant time and never logged: the request trace logs method and matched
//! route only (the webhook route's token is a path parameter, so the URI is not logged).
//!
//! Must not: do pipeline work in a handler; it wakes the worker instead.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fb_store::{EventOrigin, InboxEvent};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::app::{Shared, WebhookHint};
use crate::runtime::finding_keys;

/// Largest accepted request body (EventBridge caps events at 256 KiB).
pub const BODY_LIMIT: usize = 256 * 1024;

/// The daemon's router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/events", post(events))
        .route("/v1/backlog/webhook/{token}", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Constant-time equality of a presented credential with the expected one.
fn same_secret(presented: &[u8], expected: &str) -> bool {
    bool::from(presented.ct_eq(expected.as_bytes()))
}

async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let runtime = shared.runtime.current();
    let authorized = match (&runtime.ingest_key, headers.get("x-api-key")) {
        (Some(key), Some(presented)) => same_secret(presented.as_bytes(), key.expose()),
        _ => false,
    };
    if !authorized {
        shared.metrics.event("rejected", "unauthorized");
        tracing::debug!("event refused: missing or wrong X-Api-Key");
        return error(StatusCode::UNAUTHORIZED, "missing or wrong X-Api-Key");
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            shared.metrics.event("rejected", "too_large");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {BODY_LIMIT} bytes"),
            );
        }
        Err(rejection) => {
            shared.metrics.event("rejected", "malformed");
            return error(StatusCode::BAD_REQUEST, rejection.body_text());
        }
    };
    let event = match fb_model::finding::parse_event(&body) {
        Ok(event) => event,
        Err(e) => {
            shared.metrics.event("rejected", "malformed");
            tracing::debug!(error = %e, "event refused: not an event we handle");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    // serde_json only accepts UTF-8, so this holds for every parsed body.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        shared.metrics.event("rejected", "malformed");
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let rule = runtime.relay_rule_for(&event).map(|r| r.name.clone());
    if rule.is_none() && !known_finding(&shared, &event) {
        shared.metrics.event("ignored", "");
        tracing::debug!(event_id = %event.id, "event ignored: no relay rule matches");
        return (StatusCode::ACCEPTED, Json(json!({ "result": "ignored" }))).into_response();
    }
    let inbox_event = InboxEvent {
        received_at: shared.clock.now(),
        origin: EventOrigin::Relay,
        body: text,
    };
    match shared.store.accept(inbox_event).await {
        Ok(seq) => {
            shared.metrics.event("accepted", "");
            shared.wake.notify_one();
            tracing::debug!(seq, event_id = %event.id, rule = rule.as_deref().unwrap_or("(known finding)"), "event accepted");
            (StatusCode::ACCEPTED, Json(json!({ "result": "accepted" }))).into_response()
        }
        Err(e) => {
            shared.metrics.event("error", "store");
            tracing::error!(error = %crate::backend::chain(&e), "event not stored");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; retry later",
            )
        }
    }
}

/// Events about a finding we already track are accepted even when no rule matches them any
/// more (a raised severity, an archive), so the pipeline sees its updates.
fn known_finding(shared: &Shared, event: &fb_model::finding::Event) -> bool {
    finding_keys(event).any(|k| matches!(shared.store.mapping(k), Ok(Some(_))))
}

async fn webhook(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let runtime = shared.runtime.current();
    let known = match &runtime.webhook_token {
        Some(expected) => same_secret(token.as_bytes(), expected.expose()),
        None => false,
    };
    if !known {
        return StatusCode::NOT_FOUND.into_response();
    }
    let payload: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let hint = WebhookHint {
        received_at: shared.clock.now(),
        activity_type: payload.get("type").and_then(Value::as_i64),
        issue_key: issue_key_of(&payload),
        user_id: payload.pointer("/createdUser/id").and_then(Value::as_i64),
    };
    tracing::debug!(activity_type = ?hint.activity_type, issue_key = ?hint.issue_key, "webhook hint received");
    shared.metrics.webhook_hints.inc();
    let note = if shared.engine().and_then(|e| e.closure()).is_some() {
        "queued for closure sync (the issue is re-read before acting)"
    } else {
        "kept as a hint; closure sync is not enabled in this build"
    };
    shared.board.webhook_hint(hint.received_at, note);
    shared.push_hint(hint);
    StatusCode::NO_CONTENT.into_response()
}

/// `<project.projectKey>-<content.key_id>` as Backlog's activity payloads carry them.
fn issue_key_of(payload: &Value) -> Option<String> {
    let project = payload.pointer("/project/projectKey")?.as_str()?;
    let number = payload.pointer("/content/key_id")?.as_u64()?;
    Some(format!("{project}-{number}"))
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.is_ready() {
        Json(json!({ "ready": true })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reasons": shared.readiness.reasons() })),
        )
            .into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    shared.queues();
    shared.is_ready();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.status()).into_response()
}
