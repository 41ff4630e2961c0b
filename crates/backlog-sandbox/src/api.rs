//! The emulated Backlog API v2 under `/api/v2/…`.
//!
//! Per request, in order: apiKey check (401 code 11) → injected faults (429 / 500) → the
//! bucket's rate limit (429 code 13) → body encoding (form only on writes) → parameter checks
//! (400 code 7) → the endpoint. Every answer carries its bucket's `X-RateLimit-*` headers and
//! is recorded in the request log. Must not: log the apiKey, or accept undocumented parameters.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};

use crate::endpoints;
use crate::input::{ApiErr, Input};
use crate::state::{Delivery, IssueChange, RequestLog, State as Space, API_USER_ID};
use crate::App;

/// A successful endpoint answer.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub location: Option<String>,
    pub deliveries: Vec<Delivery>,
    pub delay: Option<Duration>,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            location: None,
            deliveries: Vec::new(),
            delay: None,
        }
    }

    pub(crate) fn created(body: Value, deliveries: Vec<Delivery>) -> Self {
        Self {
            status: StatusCode::CREATED,
            deliveries,
            ..Self::ok(body)
        }
    }
}

fn bucket_of(method: &Method, segs: &[&str]) -> &'static str {
    match (method, segs) {
        (&Method::GET, ["issues"] | ["issues", "count"]) => "search",
        (&Method::GET, _) => "read",
        _ => "update",
    }
}

pub(crate) fn now_epoch() -> i64 {
    Utc::now().timestamp()
}

/// The entry point for every `/api/v2/*` request.
pub async fn handle(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let rest = path.strip_prefix("/api/v2").unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let bucket = bucket_of(&method, &segs);
    let mut query = match Input::parse(uri.query().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return finish(&app, &method, &path, bucket, Err(e), None),
    };
    let keys: Vec<String> = query
        .pairs
        .iter()
        .filter(|(n, _)| n == "apiKey")
        .map(|(_, v)| v.clone())
        .collect();
    query.pairs.retain(|(n, _)| n != "apiKey");
    if keys.len() != 1 || keys[0] != app.options.api_key {
        let err = ApiErr::new(StatusCode::UNAUTHORIZED, 11, "Authentication failure.");
        return finish(&app, &method, &path, bucket, Err(err), None);
    }
    let limits = match admit(&app, bucket) {
        Ok(limits) => limits,
        Err((e, limits)) => return finish(&app, &method, &path, bucket, Err(e), limits),
    };
    let result = match read_input(&app, &method, &segs, &headers, query, &body) {
        Ok(input) => route(&app, &method, &segs, &input, &headers),
        Err(e) => Err(e),
    };
    let delay = result.as_ref().ok().and_then(|a| a.delay);
    let response = finish(&app, &method, &path, bucket, result, limits);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    response
}

/// `(limit, remaining, reset epoch)` of the request's bucket.
type LimitHeaders = Option<(u64, u64, i64)>;

fn headers_of(limit: u64, remaining: u64, reset_epoch: i64) -> LimitHeaders {
    Some((limit, remaining, reset_epoch))
}

/// Injected faults first, then the bucket's real counter. An injected 429 says "remaining 0,
/// reset in 1 s" so clients recover quickly whatever the configured window.
fn admit(app: &App, bucket: &'static str) -> Result<LimitHeaders, (ApiErr, LimitHeaders)> {
    let mut s = app.lock();
    let now = now_epoch();
    let limit = app.options.limits.for_bucket(bucket);
    if s.faults.rate_limit_next > 0 {
        s.faults.rate_limit_next -= 1;
        let err = ApiErr::new(StatusCode::TOO_MANY_REQUESTS, 13, "Too many requests.");
        return Err((err, headers_of(limit, 0, now + 1)));
    }
    if s.faults.error_5xx_next > 0 {
        s.faults.error_5xx_next -= 1;
        let err = ApiErr::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            1,
            "Internal error (injected).",
        );
        return Err((err, None));
    }
    let window = app.options.window_secs.max(1);
    let b = s.buckets.entry(bucket).or_insert(crate::state::BucketRec {
        limit,
        remaining: limit,
        reset_epoch: now + window,
    });
    if now >= b.reset_epoch {
        b.remaining = b.limit;
        b.reset_epoch = now + window;
    }
    if b.remaining == 0 {
        let err = ApiErr::new(StatusCode::TOO_MANY_REQUESTS, 13, "Too many requests.");
        return Err((err, headers_of(b.limit, 0, b.reset_epoch)));
    }
    b.remaining -= 1;
    Ok(headers_of(b.limit, b.remaining, b.reset_epoch))
}

fn read_input(
    app: &App,
    method: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    query: Input,
    body: &[u8],
) -> Result<Input, ApiErr> {
    if *method == Method::GET || *method == Method::DELETE {
        return Ok(query);
    }
    if !query.pairs.is_empty() {
        return Err(ApiErr::invalid(
            "Write parameters belong in the form body, not the query.",
        ));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).map_err(|_| ApiErr::invalid("Body is not UTF-8."))?;
        return Input::parse(text);
    }
    let create = *method == Method::POST && segs == ["issues"];
    if ctype.starts_with("application/json") && create && app.options.accept_json_create {
        return Input::from_json(body);
    }
    if body.is_empty() {
        return Ok(Input::default());
    }
    Err(ApiErr::invalid(
        "Request body must be application/x-www-form-urlencoded.",
    ))
}

fn finish(
    app: &App,
    method: &Method,
    path: &str,
    bucket: &'static str,
    result: Result<Answer, ApiErr>,
    limits: LimitHeaders,
) -> Response {
    let (status, body, location, deliveries) = match result {
        Ok(a) => (a.status, a.body, a.location, a.deliveries),
        Err(e) => (e.status, e.body(), None, Vec::new()),
    };
    app.lock().requests.push(RequestLog {
        method: method.to_string(),
        path: path.to_owned(),
        bucket,
        status: status.as_u16(),
    });
    crate::webhooks::deliver(app, deliveries);
    let mut response = (status, axum::Json(body)).into_response();
    let h = response.headers_mut();
    if let Some((limit, remaining, reset)) = limits {
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    response
}

fn project<'a>(s: &Space, key: &'a str) -> Result<&'a str, ApiErr> {
    if s.matches_project(key) {
        Ok(key)
    } else {
        Err(ApiErr::not_found("No project."))
    }
}

fn list(items: &[(i64, String)], project_id: Option<i64>) -> Value {
    items
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let mut v = json!({"id": id, "name": name, "displayOrder": i});
            if let Some(p) = project_id {
                v["projectId"] = json!(p);
            }
            v
        })
        .collect()
}

fn route(
    app: &App,
    method: &Method,
    segs: &[&str],
    input: &Input,
    headers: &HeaderMap,
) -> Result<Answer, ApiErr> {
    let no_params = || input.allow(&[]);
    let mut s = app.lock();
    match (method.clone(), segs) {
        (Method::GET, ["users", "myself"]) => {
            no_params()?;
            Ok(Answer::ok(s.user_json(API_USER_ID)))
        }
        (Method::GET, ["rateLimit"]) => {
            no_params()?;
            Ok(Answer::ok(endpoints::rate_limit_json(app, &s)))
        }
        (Method::GET, ["space"]) => {
            no_params()?;
            Ok(Answer::ok(
                json!({"spaceKey": "sandbox", "name": "Sandbox", "timezone": "UTC", "lang": "en"}),
            ))
        }
        (Method::GET, ["priorities"]) => {
            no_params()?;
            Ok(Answer::ok(list(&s.priorities, None)))
        }
        (Method::GET, ["resolutions"]) => {
            no_params()?;
            Ok(Answer::ok(list(&s.resolutions, None)))
        }
        (Method::GET, ["projects", p]) => {
            no_params()?;
            project(&s, p)?;
            Ok(Answer::ok(s.project_json()))
        }
        (Method::GET, ["projects", p, "issueTypes"]) => {
            no_params()?;
            project(&s, p)?;
            Ok(Answer::ok(list(&s.issue_types, Some(s.project_id))))
        }
        (Method::GET, ["projects", p, "statuses"]) => {
            no_params()?;
            project(&s, p)?;
            Ok(Answer::ok(list(&s.statuses, Some(s.project_id))))
        }
        (Method::GET, ["projects", p, "customFields"]) => {
            no_params()?;
            project(&s, p)?;
            Ok(Answer::ok(json!([])))
        }
        (Method::GET, ["projects", p, "activities"]) => {
            project(&s, p)?;
            endpoints::activities(app, &s, input)
        }
        (Method::GET, ["projects", p, "webhooks"]) => {
            no_params()?;
            project(&s, p)?;
            Ok(Answer::ok(
                s.webhooks.iter().map(|w| s.webhook_json(w)).collect(),
            ))
        }
        (Method::POST, ["projects", p, "webhooks"]) => {
            project(&s, p)?;
            endpoints::create_webhook(&mut s, input)
        }
        (m, ["projects", p, "webhooks", id]) => {
            project(&s, p)?;
            endpoints::webhook_by_id(&mut s, m, id, input)
        }
        (Method::POST, ["issues"]) => endpoints::create_issue(app, &mut s, input, headers),
        (Method::GET, ["issues"]) => endpoints::list_issues(app, &s, input, false),
        (Method::GET, ["issues", "count"]) => endpoints::list_issues(app, &s, input, true),
        (Method::GET, ["issues", key]) => {
            no_params()?;
            let idx = s
                .find_issue(key)
                .ok_or_else(|| ApiErr::not_found("No issue."))?;
            Ok(Answer::ok(s.issue_json(&s.issues[idx])))
        }
        (Method::PATCH, ["issues", key]) => endpoints::update_issue(&mut s, key, input),
        (Method::POST, ["issues", key, "comments"]) => {
            input.allow(&["content", "notifiedUserId[]", "attachmentId[]"])?;
            let content = input.required("content")?.to_owned();
            let idx = s
                .find_issue(key)
                .ok_or_else(|| ApiErr::not_found("No issue."))?;
            let change = IssueChange {
                comment: Some(content),
                ..Default::default()
            };
            let deliveries = s.change_issue(idx, API_USER_ID, change);
            let comment = s.issues[idx]
                .comments
                .last()
                .cloned()
                .ok_or_else(|| ApiErr::invalid("No comment."))?;
            Ok(Answer::created(s.comment_json(&comment), deliveries))
        }
        _ => Err(ApiErr::not_found("No such API.")),
    }
}
