//! The `/_sandbox/…` control API for tests and the demo (not part of Backlog, no apiKey).
//!
//! Close / reopen / delete act as a *human* user (not the API key's user), record activities
//! and deliver webhooks, so closure sync sees what a person in the Backlog UI would cause.
//! Must not: be reachable under `/api/v2`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{Faults, IssueChange};
use crate::App;

fn bad(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// `POST /_sandbox/faults`: replaces the fault counters.
pub async fn set_faults(State(app): State<App>, Json(faults): Json<Faults>) -> Response {
    app.lock().faults = faults.clone();
    Json(json!(faults)).into_response()
}

/// `GET /_sandbox/issues`: every issue with its comments.
pub async fn issues(State(app): State<App>) -> Json<Value> {
    let s = app.lock();
    let all = s
        .issues
        .iter()
        .map(|i| {
            let mut v = s.issue_json(i);
            v["comments"] = i.comments.iter().map(|c| s.comment_json(c)).collect();
            v
        })
        .collect();
    Json(Value::Array(all))
}

/// `GET /_sandbox/requests`: the API call log (no keys).
pub async fn requests(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().requests))
}

/// `GET /_sandbox/activities`: every activity, ascending.
pub async fn activities(State(app): State<App>) -> Json<Value> {
    Json(Value::Array(app.lock().activities.clone()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// English built-in name, the space's name, or the id as text.
    #[serde(default = "default_resolution")]
    resolution: String,
    #[serde(default = "default_user")]
    user: String,
    #[serde(default)]
    comment: Option<String>,
}

fn default_resolution() -> String {
    "Fixed".into()
}

fn default_user() -> String {
    "alice".into()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[serde(default = "default_user")]
    user: String,
    #[serde(default)]
    comment: Option<String>,
}

const ENGLISH_RESOLUTIONS: &[(i64, &str)] = &[
    (0, "Fixed"),
    (1, "Won't Fix"),
    (2, "Invalid"),
    (3, "Duplication"),
    (4, "Cannot Reproduce"),
];

/// A resolution by the space's name, its id as text, or the English built-in name.
fn resolution_id(s: &crate::state::State, wanted: &str) -> Option<i64> {
    let wanted = wanted.trim();
    s.resolutions
        .iter()
        .find(|(id, name)| name == wanted || id.to_string() == wanted)
        .map(|(id, _)| *id)
        .or_else(|| {
            ENGLISH_RESOLUTIONS
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(wanted))
                .map(|(id, _)| *id)
        })
}

/// `POST /_sandbox/issues/{key}/close`: status Closed with a resolution, by a human.
pub async fn close(
    State(app): State<App>,
    Path(key): Path<String>,
    Json(body): Json<CloseBody>,
) -> Response {
    let mut s = app.lock();
    let Some(idx) = s.find_issue(&key) else {
        return bad(StatusCode::NOT_FOUND, format!("no issue {key}"));
    };
    let Some(resolution) = resolution_id(&s, &body.resolution) else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("unknown resolution {:?}", body.resolution),
        );
    };
    let user = s.human(&body.user);
    let change = IssueChange {
        status_id: Some(4),
        resolution_id: Some(Some(resolution)),
        comment: body.comment,
        ..Default::default()
    };
    let deliveries = s.change_issue(idx, user, change);
    let issue = s.issue_json(&s.issues[idx]);
    drop(s);
    crate::webhooks::deliver(&app, deliveries);
    Json(issue).into_response()
}

/// `POST /_sandbox/issues/{key}/reopen`: status Open, resolution cleared, by a human.
pub async fn reopen(
    State(app): State<App>,
    Path(key): Path<String>,
    body: Option<Json<UserBody>>,
) -> Response {
    let body = body.map(|b| b.0).unwrap_or_else(|| UserBody {
        user: default_user(),
        comment: None,
    });
    let mut s = app.lock();
    let Some(idx) = s.find_issue(&key) else {
        return bad(StatusCode::NOT_FOUND, format!("no issue {key}"));
    };
    let user = s.human(&body.user);
    let change = IssueChange {
        status_id: Some(1),
        resolution_id: Some(None),
        comment: body.comment,
        ..Default::default()
    };
    let deliveries = s.change_issue(idx, user, change);
    let issue = s.issue_json(&s.issues[idx]);
    drop(s);
    crate::webhooks::deliver(&app, deliveries);
    Json(issue).into_response()
}

/// `DELETE /_sandbox/issues/{key}`: deletes the issue (activity type 4), by a human.
pub async fn delete(State(app): State<App>, Path(key): Path<String>) -> Response {
    let mut s = app.lock();
    let Some(idx) = s.find_issue(&key) else {
        return bad(StatusCode::NOT_FOUND, format!("no issue {key}"));
    };
    let user = s.human(&default_user());
    let deliveries = s.delete_issue(idx, user);
    drop(s);
    crate::webhooks::deliver(&app, deliveries);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropBody {
    drop: bool,
}

/// `POST /_sandbox/webhooks/drop`: `{"drop": true}` stops deliveries until set back to false.
pub async fn drop_webhooks(State(app): State<App>, Json(body): Json<DropBody>) -> Json<Value> {
    app.lock().drop_webhooks = body.drop;
    Json(json!({"drop": body.drop}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    keys: Vec<String>,
    /// Status id (1 Open … 4 Closed).
    status: i64,
    /// Resolution (as for close); omitted clears it.
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default = "default_user")]
    user: String,
}

/// `POST /_sandbox/bulk_update`: a human's bulk status change (one type 14 activity).
pub async fn bulk_update(State(app): State<App>, Json(body): Json<BulkBody>) -> Response {
    let mut s = app.lock();
    let mut idxs = Vec::new();
    for key in &body.keys {
        match s.find_issue(key) {
            Some(i) => idxs.push(i),
            None => return bad(StatusCode::NOT_FOUND, format!("no issue {key}")),
        }
    }
    if !s.statuses.iter().any(|(id, _)| *id == body.status) {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("unknown status {}", body.status),
        );
    }
    let resolution = match &body.resolution {
        None => None,
        Some(r) => match resolution_id(&s, r) {
            Some(id) => Some(id),
            None => return bad(StatusCode::BAD_REQUEST, format!("unknown resolution {r:?}")),
        },
    };
    let user = s.human(&body.user);
    let deliveries = s.bulk_change(&idxs, user, body.status, resolution);
    let activity = s.activities.last().cloned().unwrap_or(Value::Null);
    drop(s);
    crate::webhooks::deliver(&app, deliveries);
    Json(activity).into_response()
}
