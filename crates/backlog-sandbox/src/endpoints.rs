//! The endpoint bodies of the emulated API that take parameters: activities, issue create /
//! list / update, webhooks. `api.rs` routes to them after the generic checks.
//!
//! Must not: accept a parameter the endpoint does not document (each lists its names).

use std::time::Duration;

use axum::http::{header, HeaderMap, Method};
use chrono::Utc;
use serde_json::{json, Value};

use crate::api::{now_epoch, Answer};
use crate::input::{ApiErr, Input};
use crate::state::{IssueChange, IssueFilter, State as Space, WebhookRec, API_USER_ID};
use crate::App;

pub(crate) fn rate_limit_json(app: &App, s: &Space) -> Value {
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

pub(crate) fn activities(app: &App, s: &Space, input: &Input) -> Result<Answer, ApiErr> {
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

pub(crate) fn create_issue(
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
pub(crate) fn list_issues(
    app: &App,
    s: &Space,
    input: &Input,
    count_only: bool,
) -> Result<Answer, ApiErr> {
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

pub(crate) fn update_issue(s: &mut Space, key: &str, input: &Input) -> Result<Answer, ApiErr> {
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

pub(crate) fn create_webhook(s: &mut Space, input: &Input) -> Result<Answer, ApiErr> {
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

pub(crate) fn webhook_by_id(
    s: &mut Space,
    method: Method,
    id: &str,
    input: &Input,
) -> Result<Answer, ApiErr> {
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
