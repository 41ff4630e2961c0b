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

use crate::input::{ApiErr, Input};
use crate::state::{
    Delivery, IssueChange, IssueFilter, RequestLog, State as Space, WebhookRec, API_USER_ID,
};
use crate::App;

/// A successful endpoint answer.
struct Answer {
    status: StatusCode,
    body: Value,
    location: Option<String>,
    deliveries: Vec<Delivery>,
    delay: Option<Duration>,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            location: None,
            deliveries: Vec::new(),
            delay: None,
        }
    }

    fn created(body: Value, deliveries: Vec<Delivery>) -> Self {
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

fn now_epoch() -> i64 {
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
            Ok(Answer::ok(rate_limit_json(app, &s)))
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
            activities(app, &s, input)
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
            create_webhook(&mut s, input)
        }
        (m, ["projects", p, "webhooks", id]) => {
            project(&s, p)?;
            webhook_by_id(&mut s, m, id, input)
        }
        (Method::POST, ["issues"]) => create_issue(app, &mut s, input, headers),
        (Method::GET, ["issues"]) => list_issues(app, &s, input, false),
        (Method::GET, ["issues", "count"]) => list_issues(app, &s, input, true),
        (Method::GET, ["issues", key]) => {
            no_params()?;
            let idx = s
                .find_issue(key)
                .ok_or_else(|| ApiErr::not_found("No issue."))?;
            Ok(Answer::ok(s.issue_json(&s.issues[idx])))
        }
        (Method::PATCH, ["issues", key]) => update_issue(&mut s, key, input),
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

fn rate_limit_json(app: &App, s: &Space) -> Value {
    let now = now_epoch();
    let one = |bucket: &'static str| {
        let limit = app.options.limits.for_bucket(bucket);
        match s.buckets.get(bucket) {
            Some(b) if now < b.reset_epoch => {
                json!({"limit": b.limit, "remaining": b.remaining, "reset": b.reset_epoch})
            }
            _ => {
                json!({"limit": limit, "remaining": limit, "reset": now + app.options.window_secs})
            }
        }
    };
    json!({"rateLimit": {"read": one("read"), "update": one("update"), "search": one("search"), "icon": one("icon")}})
}

fn activities(app: &App, s: &Space, input: &Input) -> Result<Answer, ApiErr> {
    input.allow(&["activityTypeId[]", "minId", "maxId", "count", "order"])?;
    let types = input.ints("activityTypeId")?;
    let min = input.int("minId")?;
    let max = input.int("maxId")?;
    let count = input.count(20)?;
    let asc = input.ascending()?;
    let inclusive = app.options.min_id_inclusive;
    let id_of = |a: &Value| a["id"].as_i64().unwrap_or_default();
    let mut out: Vec<Value> = s
        .activities
        .iter()
        .filter(|a| types.is_empty() || types.contains(&a["type"].as_i64().unwrap_or_default()))
        .filter(|a| {
            min.is_none_or(|m| {
                if inclusive {
                    id_of(a) >= m
                } else {
                    id_of(a) > m
                }
            })
        })
        .filter(|a| {
            max.is_none_or(|m| {
                if inclusive {
                    id_of(a) <= m
                } else {
                    id_of(a) < m
                }
            })
        })
        .cloned()
        .collect();
    if !asc {
        out.reverse();
    }
    out.truncate(count);
    Ok(Answer::ok(Value::Array(out)))
}

const CREATE_PARAMS: &[&str] = &[
    "projectId",
    "summary",
    "parentIssueId",
    "description",
    "startDate",
    "dueDate",
    "estimatedHours",
    "actualHours",
    "issueTypeId",
    "categoryId[]",
    "versionId[]",
    "milestoneId[]",
    "priorityId",
    "assigneeId",
    "notifiedUserId[]",
    "attachmentId[]",
    "customField_*",
];

fn create_issue(
    app: &App,
    s: &mut Space,
    input: &Input,
    headers: &HeaderMap,
) -> Result<Answer, ApiErr> {
    input.allow(CREATE_PARAMS)?;
    let project_id = input.required_int("projectId")?;
    let summary = input.required("summary")?.to_owned();
    let issue_type_id = input.required_int("issueTypeId")?;
    let priority_id = input.required_int("priorityId")?;
    if project_id != s.project_id {
        return Err(ApiErr::invalid("No project."));
    }
    if !s.issue_types.iter().any(|(id, _)| *id == issue_type_id) {
        return Err(ApiErr::invalid("No issue type."));
    }
    if !s.priorities.iter().any(|(id, _)| *id == priority_id) {
        return Err(ApiErr::invalid("No priority."));
    }
    let description = input.get("description").unwrap_or("").to_owned();
    let (idx, deliveries) = s.create_issue(
        API_USER_ID,
        summary,
        description,
        issue_type_id,
        priority_id,
    );
    let issue = &s.issues[idx];
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut answer = Answer::created(s.issue_json(issue), deliveries);
    answer.location = Some(format!("http://{host}/view/{}", s.issue_key(issue)));
    if s.faults.slow_after_create_next > 0 {
        s.faults.slow_after_create_next -= 1;
        answer.delay = Some(Duration::from_millis(
            s.faults.slow_ms.unwrap_or(app.options.default_slow_ms),
        ));
    }
    Ok(answer)
}

const LIST_PARAMS: &[&str] = &[
    "projectId[]",
    "issueTypeId[]",
    "categoryId[]",
    "versionId[]",
    "milestoneId[]",
    "statusId[]",
    "priorityId[]",
    "assigneeId[]",
    "createdUserId[]",
    "resolutionId[]",
    "parentChild",
    "attachment",
    "sharedFile",
    "sort",
    "order",
    "offset",
    "count",
    "createdSince",
    "createdUntil",
    "updatedSince",
    "updatedUntil",
    "startDateSince",
    "startDateUntil",
    "dueDateSince",
    "dueDateUntil",
    "id[]",
    "parentIssueId[]",
    "keyword",
    "customField_*",
];

/// `GET /issues` (and `/issues/count`). Filters the sandbox does not model (categories, dates
/// other than created/updated, custom fields) are accepted and ignored.
fn list_issues(app: &App, s: &Space, input: &Input, count_only: bool) -> Result<Answer, ApiErr> {
    input.allow(LIST_PARAMS)?;
    let filter = IssueFilter {
        project_ids: input.ints("projectId")?,
        issue_type_ids: input.ints("issueTypeId")?,
        status_ids: input.ints("statusId")?,
        priority_ids: input.ints("priorityId")?,
        resolution_ids: input.ints("resolutionId")?,
        ids: input.ints("id")?,
        keyword: input
            .get("keyword")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
        created_since: input.date("createdSince")?,
        created_until: input.date("createdUntil")?,
        updated_since: input.date("updatedSince")?,
        updated_until: input.date("updatedUntil")?,
        keyword_delay: chrono::Duration::milliseconds(app.options.keyword_delay_ms as i64),
    };
    let mut found = s.filter_issues(&filter);
    if count_only {
        return Ok(Answer::ok(json!({"count": found.len()})));
    }
    let sort = input.get("sort").unwrap_or("updated");
    match sort {
        "created" | "issueType" | "summary" | "priority" => found.sort_by_key(|i| i.id),
        "updated" => found.sort_by_key(|i| (i.updated, i.id)),
        "status" => found.sort_by_key(|i| (i.status_id, i.id)),
        other => return Err(ApiErr::invalid(format!("Unsupported sort: {other}"))),
    }
    if !input.ascending()? {
        found.reverse();
    }
    let offset = input.int("offset")?.unwrap_or(0).max(0) as usize;
    let count = input.count(20)?;
    let page: Vec<Value> = found
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|i| s.issue_json(i))
        .collect();
    Ok(Answer::ok(Value::Array(page)))
}

const UPDATE_PARAMS: &[&str] = &[
    "summary",
    "parentIssueId",
    "description",
    "statusId",
    "resolutionId",
    "startDate",
    "dueDate",
    "estimatedHours",
    "actualHours",
    "issueTypeId",
    "categoryId[]",
    "versionId[]",
    "milestoneId[]",
    "priorityId",
    "assigneeId",
    "notifiedUserId[]",
    "attachmentId[]",
    "comment",
    "customField_*",
];

fn update_issue(s: &mut Space, key: &str, input: &Input) -> Result<Answer, ApiErr> {
    input.allow(UPDATE_PARAMS)?;
    let idx = s
        .find_issue(key)
        .ok_or_else(|| ApiErr::not_found("No issue."))?;
    let status_id = input.int("statusId")?;
    if let Some(id) = status_id {
        if !s.statuses.iter().any(|(i, _)| *i == id) {
            return Err(ApiErr::invalid("No status."));
        }
    }
    let resolution_id = if input.has("resolutionId") {
        let r = input.int("resolutionId")?;
        if let Some(id) = r {
            if !s.resolutions.iter().any(|(i, _)| *i == id) {
                return Err(ApiErr::invalid("No resolution."));
            }
        }
        Some(r)
    } else {
        None
    };
    let priority_id = input.int("priorityId")?;
    if let Some(id) = priority_id {
        if !s.priorities.iter().any(|(i, _)| *i == id) {
            return Err(ApiErr::invalid("No priority."));
        }
    }
    let change = IssueChange {
        summary: input.get("summary").map(str::to_owned),
        description: input.get("description").map(str::to_owned),
        issue_type_id: input.int("issueTypeId")?,
        priority_id,
        status_id,
        resolution_id,
        comment: input.get("comment").map(str::to_owned),
    };
    let deliveries = s.change_issue(idx, API_USER_ID, change);
    let mut answer = Answer::ok(s.issue_json(&s.issues[idx]));
    answer.deliveries = deliveries;
    Ok(answer)
}

const WEBHOOK_PARAMS: &[&str] = &[
    "name",
    "description",
    "hookUrl",
    "allEvent",
    "activityTypeIds[]",
];

fn create_webhook(s: &mut Space, input: &Input) -> Result<Answer, ApiErr> {
    input.allow(WEBHOOK_PARAMS)?;
    let now = Utc::now();
    let w = WebhookRec {
        id: 0,
        name: input.required("name")?.to_owned(),
        description: input.get("description").unwrap_or("").to_owned(),
        hook_url: input.required("hookUrl")?.to_owned(),
        all_event: input
            .bool("allEvent")?
            .ok_or_else(|| ApiErr::invalid("Missing required parameter: allEvent"))?,
        activity_type_ids: input.ints("activityTypeIds")?,
        created: now,
        updated: now,
    };
    Ok(Answer::created(s.add_webhook(w), Vec::new()))
}

fn webhook_by_id(s: &mut Space, method: Method, id: &str, input: &Input) -> Result<Answer, ApiErr> {
    let id: i64 = id.parse().map_err(|_| ApiErr::not_found("No webhook."))?;
    let idx = s
        .webhooks
        .iter()
        .position(|w| w.id == id)
        .ok_or_else(|| ApiErr::not_found("No webhook."))?;
    match method {
        Method::GET => {
            input.allow(&[])?;
            Ok(Answer::ok(s.webhook_json(&s.webhooks[idx])))
        }
        Method::DELETE => {
            input.allow(&[])?;
            let w = s.webhooks.remove(idx);
            Ok(Answer::ok(s.webhook_json(&w)))
        }
        Method::PATCH => {
            input.allow(WEBHOOK_PARAMS)?;
            let all_event = input.bool("allEvent")?;
            let types = input.ints("activityTypeIds")?;
            let w = &mut s.webhooks[idx];
            if let Some(v) = input.get("name") {
                w.name = v.to_owned();
            }
            if let Some(v) = input.get("description") {
                w.description = v.to_owned();
            }
            if let Some(v) = input.get("hookUrl") {
                w.hook_url = v.to_owned();
            }
            if let Some(v) = all_event {
                w.all_event = v;
            }
            if input.pairs.iter().any(|(n, _)| n == "activityTypeIds[]") {
                w.activity_type_ids = types;
            }
            w.updated = Utc::now();
            Ok(Answer::ok(s.webhook_json(&s.webhooks[idx])))
        }
        _ => Err(ApiErr::not_found("No such API.")),
    }
}
