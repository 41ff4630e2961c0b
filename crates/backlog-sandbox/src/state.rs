//! The sandbox's in-memory space: one project, its issues, comments, activities and webhooks,
//! plus injected faults, rate-limit buckets and the request log.
//!
//! All mutation goes through methods here so that activities (and webhook targets) are recorded
//! for every change. Must not: do IO or hold the lock across an await (callers lock, mutate,
//! release, then deliver).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::Options;

/// The API key's own user (the "bot" the client acts as).
pub const API_USER_ID: i64 = 1;

#[derive(Debug, Clone)]
pub struct UserRec {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    pub role_type: i64,
}

impl UserRec {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "userId": self.user_id, "name": self.name, "roleType": self.role_type,
               "lang": null, "mailAddress": format!("{}@sandbox.invalid", self.user_id)})
    }
}

#[derive(Debug, Clone)]
pub struct CommentRec {
    pub id: i64,
    pub content: String,
    pub user_id: i64,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct IssueRec {
    pub id: i64,
    pub key_id: i64,
    pub summary: String,
    pub description: String,
    pub issue_type_id: i64,
    pub priority_id: i64,
    pub status_id: i64,
    pub resolution_id: Option<i64>,
    pub created_user: i64,
    pub created: DateTime<Utc>,
    pub updated_user: i64,
    pub updated: DateTime<Utc>,
    pub comments: Vec<CommentRec>,
}

#[derive(Debug, Clone)]
pub struct WebhookRec {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub hook_url: String,
    pub all_event: bool,
    pub activity_type_ids: Vec<i64>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// Faults injected through `POST /_sandbox/faults`; each counter is consumed per API request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub rate_limit_next: u32,
    pub error_5xx_next: u32,
    pub slow_after_create_next: u32,
    pub slow_ms: Option<u64>,
}

/// One API call as seen by the sandbox (the apiKey never recorded).
#[derive(Debug, Clone, Serialize)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub bucket: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct BucketRec {
    pub limit: u64,
    pub remaining: u64,
    pub reset_epoch: i64,
}

/// A pending webhook delivery: the URL and the activity JSON.
pub type Delivery = (String, Value);

#[derive(Debug)]
pub struct State {
    pub project_id: i64,
    pub project_key: String,
    pub project_name: String,
    pub issue_types: Vec<(i64, String)>,
    pub statuses: Vec<(i64, String)>,
    pub priorities: Vec<(i64, String)>,
    pub resolutions: Vec<(i64, String)>,
    pub users: Vec<UserRec>,
    pub issues: Vec<IssueRec>,
    pub activities: Vec<Value>,
    pub webhooks: Vec<WebhookRec>,
    pub faults: Faults,
    pub buckets: HashMap<&'static str, BucketRec>,
    pub requests: Vec<RequestLog>,
    pub drop_webhooks: bool,
    next_key_id: i64,
    next_comment_id: i64,
    next_activity_id: i64,
    next_webhook_id: i64,
}

fn named(list: &[(i64, &str)]) -> Vec<(i64, String)> {
    list.iter().map(|(i, n)| (*i, (*n).to_owned())).collect()
}

/// Backlog's timestamp format: seconds, `Z`.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Filters of `GET /issues` that the sandbox evaluates.
#[derive(Debug, Default)]
pub struct IssueFilter {
    pub project_ids: Vec<i64>,
    pub issue_type_ids: Vec<i64>,
    pub status_ids: Vec<i64>,
    pub priority_ids: Vec<i64>,
    pub resolution_ids: Vec<i64>,
    pub ids: Vec<i64>,
    pub keyword: Option<String>,
    pub created_since: Option<NaiveDate>,
    pub created_until: Option<NaiveDate>,
    pub updated_since: Option<NaiveDate>,
    pub updated_until: Option<NaiveDate>,
    /// Keyword search only sees issues created at least this long ago (indexing delay).
    pub keyword_delay: chrono::Duration,
}

/// A change made through `PATCH /issues/:key` or the control API.
#[derive(Debug, Default)]
pub struct IssueChange {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub issue_type_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub status_id: Option<i64>,
    /// `Some(None)` clears the resolution.
    pub resolution_id: Option<Option<i64>>,
    pub comment: Option<String>,
}

impl State {
    pub fn new(options: &Options) -> Self {
        let ja = options.japanese_names;
        let pick = |en: &'static [(i64, &'static str)], jp: &'static [(i64, &'static str)]| {
            named(if ja { jp } else { en })
        };
        Self {
            project_id: options.project_id,
            project_key: options.project_key.clone(),
            project_name: format!("{} (sandbox)", options.project_key),
            issue_types: vec![
                (options.project_id * 10 + 1, "Task".into()),
                (options.project_id * 10 + 2, "Bug".into()),
            ],
            statuses: pick(
                &[
                    (1, "Open"),
                    (2, "In Progress"),
                    (3, "Resolved"),
                    (4, "Closed"),
                ],
                &[(1, "未対応"), (2, "処理中"), (3, "処理済み"), (4, "完了")],
            ),
            priorities: pick(
                &[(2, "High"), (3, "Normal"), (4, "Low")],
                &[(2, "高"), (3, "中"), (4, "低")],
            ),
            resolutions: pick(
                &[
                    (0, "Fixed"),
                    (1, "Won't Fix"),
                    (2, "Invalid"),
                    (3, "Duplication"),
                    (4, "Cannot Reproduce"),
                ],
                &[
                    (0, "対応済み"),
                    (1, "対応しない"),
                    (2, "無効"),
                    (3, "重複"),
                    (4, "再現しない"),
                ],
            ),
            users: vec![UserRec {
                id: API_USER_ID,
                user_id: "findings-bridge".into(),
                name: "findings-bridge".into(),
                role_type: 2,
            }],
            issues: Vec::new(),
            activities: Vec::new(),
            webhooks: Vec::new(),
            faults: Faults::default(),
            buckets: HashMap::new(),
            requests: Vec::new(),
            drop_webhooks: false,
            next_key_id: 1,
            next_comment_id: 1,
            next_activity_id: 1,
            next_webhook_id: 1,
        }
    }

    /// The id of a (human) user by login name, created on first use.
    pub fn human(&mut self, login: &str) -> i64 {
        if let Some(u) = self.users.iter().find(|u| u.user_id == login) {
            return u.id;
        }
        let id = 100 + self.users.len() as i64;
        self.users.push(UserRec {
            id,
            user_id: login.to_owned(),
            name: login.to_owned(),
            role_type: 2,
        });
        id
    }

    pub fn user_json(&self, id: i64) -> Value {
        self.users
            .iter()
            .find(|u| u.id == id)
            .map(UserRec::json)
            .unwrap_or(Value::Null)
    }

    pub fn project_json(&self) -> Value {
        json!({"id": self.project_id, "projectKey": self.project_key, "name": self.project_name,
               "chartEnabled": false, "subtaskingEnabled": false, "projectLeaderCanEditProjectLeader": false,
               "useWikiTreeView": false, "textFormattingRule": "markdown", "archived": false, "displayOrder": 0})
    }

    pub fn matches_project(&self, id_or_key: &str) -> bool {
        id_or_key == self.project_key || id_or_key == self.project_id.to_string()
    }

    fn name_of(list: &[(i64, String)], id: i64) -> Value {
        list.iter()
            .find(|(i, _)| *i == id)
            .map(|(i, n)| json!({"id": i, "name": n}))
            .unwrap_or(Value::Null)
    }

    pub fn issue_key(&self, issue: &IssueRec) -> String {
        format!("{}-{}", self.project_key, issue.key_id)
    }

    pub fn issue_json(&self, i: &IssueRec) -> Value {
        let mut issue_type = Self::name_of(&self.issue_types, i.issue_type_id);
        if let Value::Object(m) = &mut issue_type {
            m.insert("projectId".into(), json!(self.project_id));
            m.insert("color".into(), json!("#7ea800"));
        }
        json!({
            "id": i.id, "projectId": self.project_id, "issueKey": self.issue_key(i), "keyId": i.key_id,
            "issueType": issue_type, "summary": i.summary, "description": i.description,
            "resolution": i.resolution_id.map(|r| Self::name_of(&self.resolutions, r)).unwrap_or(Value::Null),
            "priority": Self::name_of(&self.priorities, i.priority_id),
            "status": Self::name_of(&self.statuses, i.status_id),
            "assignee": null, "category": [], "versions": [], "milestone": [], "startDate": null,
            "dueDate": null, "estimatedHours": null, "actualHours": null, "parentIssueId": null,
            "createdUser": self.user_json(i.created_user), "created": ts(&i.created),
            "updatedUser": self.user_json(i.updated_user), "updated": ts(&i.updated),
            "customFields": [], "attachments": [], "sharedFiles": [], "stars": []
        })
    }

    pub fn comment_json(&self, c: &CommentRec) -> Value {
        json!({"id": c.id, "content": c.content, "changeLog": [], "createdUser": self.user_json(c.user_id),
               "created": ts(&c.created), "updated": ts(&c.created), "stars": [], "notifications": []})
    }

    /// Finds an issue by numeric id or `KEY-n`.
    pub fn find_issue(&self, id_or_key: &str) -> Option<usize> {
        self.issues.iter().position(|i| {
            i.id.to_string() == id_or_key || self.issue_key(i).eq_ignore_ascii_case(id_or_key)
        })
    }

    pub fn create_issue(
        &mut self,
        user: i64,
        summary: String,
        description: String,
        issue_type_id: i64,
        priority_id: i64,
    ) -> (usize, Vec<Delivery>) {
        let now = Utc::now();
        let key_id = self.next_key_id;
        self.next_key_id += 1;
        self.issues.push(IssueRec {
            id: 50_000 + key_id,
            key_id,
            summary,
            description,
            issue_type_id,
            priority_id,
            status_id: 1,
            resolution_id: None,
            created_user: user,
            created: now,
            updated_user: user,
            updated: now,
            comments: Vec::new(),
        });
        let idx = self.issues.len() - 1;
        let deliveries = self.record_activity(1, idx, user, None, Vec::new());
        (idx, deliveries)
    }

    /// Applies a change, recording one type 2 activity (or type 3 for a comment alone).
    pub fn change_issue(&mut self, idx: usize, user: i64, change: IssueChange) -> Vec<Delivery> {
        let now = Utc::now();
        let mut changes = Vec::new();
        let issue = &mut self.issues[idx];
        let mut set = |field: &str, old: String, new: String| {
            if old != new {
                changes.push((field.to_owned(), new, old));
            }
        };
        if let Some(s) = change.summary {
            set("summary", issue.summary.clone(), s.clone());
            issue.summary = s;
        }
        if let Some(d) = change.description {
            set("description", issue.description.clone(), d.clone());
            issue.description = d;
        }
        if let Some(t) = change.issue_type_id {
            set("issueType", issue.issue_type_id.to_string(), t.to_string());
            issue.issue_type_id = t;
        }
        if let Some(p) = change.priority_id {
            set("priority", issue.priority_id.to_string(), p.to_string());
            issue.priority_id = p;
        }
        if let Some(s) = change.status_id {
            set("status", issue.status_id.to_string(), s.to_string());
            issue.status_id = s;
        }
        if let Some(r) = change.resolution_id {
            let show = |r: Option<i64>| r.map(|v| v.to_string()).unwrap_or_default();
            set("resolution", show(issue.resolution_id), show(r));
            issue.resolution_id = r;
        }
        let comment = change.comment.filter(|c| !c.is_empty()).map(|content| {
            let c = CommentRec {
                id: self.next_comment_id,
                content,
                user_id: user,
                created: now,
            };
            self.next_comment_id += 1;
            issue.comments.push(c.clone());
            (c.id, c.content)
        });
        issue.updated = now;
        issue.updated_user = user;
        let type_id = if changes.is_empty() && comment.is_some() {
            3
        } else {
            2
        };
        self.record_activity(type_id, idx, user, comment, changes)
    }

    pub fn delete_issue(&mut self, idx: usize, user: i64) -> Vec<Delivery> {
        let deliveries = self.record_activity(4, idx, user, None, Vec::new());
        self.issues.remove(idx);
        deliveries
    }

    fn record_activity(
        &mut self,
        type_id: i64,
        idx: usize,
        user: i64,
        comment: Option<(i64, String)>,
        changes: Vec<(String, String, String)>,
    ) -> Vec<Delivery> {
        let issue = &self.issues[idx];
        let content = if type_id == 4 {
            json!({"id": issue.id, "key_id": issue.key_id})
        } else {
            let mut c = json!({"id": issue.id, "key_id": issue.key_id, "summary": issue.summary,
                               "description": issue.description});
            if let Some((id, content)) = comment {
                c["comment"] = json!({"id": id, "content": content});
            }
            if type_id == 2 {
                c["changes"] = changes
                    .into_iter()
                    .map(|(field, new, old)| json!({"field": field, "new_value": new, "old_value": old, "type": "standard"}))
                    .collect();
            }
            c
        };
        let activity = json!({
            "id": self.next_activity_id, "type": type_id,
            "project": self.project_json(), "content": content, "notifications": [],
            "createdUser": self.user_json(user), "created": ts(&Utc::now())
        });
        self.next_activity_id += 1;
        self.activities.push(activity.clone());
        self.deliveries_for(type_id, &activity)
    }

    /// A bulk update (activity type 14): one activity for all issues, with `link[]` and string
    /// ids in `changes` (as the idobata fixture shows). Real Backlog may also record per-issue
    /// type 2 activities: UNVERIFIED, so the sandbox records only the type 14 one.
    pub fn bulk_change(
        &mut self,
        idxs: &[usize],
        user: i64,
        status_id: i64,
        resolution_id: Option<i64>,
    ) -> Vec<Delivery> {
        let now = Utc::now();
        let mut link = Vec::new();
        for &idx in idxs {
            let issue = &mut self.issues[idx];
            issue.status_id = status_id;
            issue.resolution_id = resolution_id;
            issue.updated = now;
            issue.updated_user = user;
            link.push(
                json!({"id": issue.id.to_string(), "key_id": issue.key_id.to_string(),
                             "title": issue.summary}),
            );
        }
        let mut changes = vec![
            json!({"field": "status", "type": "standard", "new_value": status_id.to_string()}),
        ];
        if let Some(r) = resolution_id {
            changes.push(
                json!({"field": "resolution", "type": "standard", "new_value": r.to_string()}),
            );
        }
        let id = self.next_activity_id;
        self.next_activity_id += 1;
        let activity = json!({
            "id": id, "type": 14, "project": self.project_json(),
            "content": {"tx_id": (1000 + id).to_string(), "link": link, "changes": changes},
            "notifications": [], "createdUser": self.user_json(user), "created": ts(&now)
        });
        self.activities.push(activity.clone());
        self.deliveries_for(14, &activity)
    }

    fn deliveries_for(&self, type_id: i64, activity: &Value) -> Vec<Delivery> {
        if self.drop_webhooks {
            return Vec::new();
        }
        self.webhooks
            .iter()
            .filter(|w| w.all_event || w.activity_type_ids.contains(&type_id))
            .map(|w| (w.hook_url.clone(), activity.clone()))
            .collect()
    }

    pub fn filter_issues(&self, f: &IssueFilter) -> Vec<&IssueRec> {
        let any = |list: &[i64], v: i64| list.is_empty() || list.contains(&v);
        let keyword = f.keyword.as_ref().map(|k| k.to_lowercase());
        self.issues
            .iter()
            .filter(|_| any(&f.project_ids, self.project_id))
            .filter(|i| any(&f.issue_type_ids, i.issue_type_id))
            .filter(|i| any(&f.status_ids, i.status_id))
            .filter(|i| any(&f.priority_ids, i.priority_id))
            .filter(|i| {
                f.resolution_ids.is_empty()
                    || i.resolution_id
                        .is_some_and(|r| f.resolution_ids.contains(&r))
            })
            .filter(|i| any(&f.ids, i.id))
            .filter(|i| keyword.is_none() || Utc::now() - i.created >= f.keyword_delay)
            .filter(|i| {
                keyword.as_ref().is_none_or(|k| {
                    i.summary.to_lowercase().contains(k) || i.description.to_lowercase().contains(k)
                })
            })
            .filter(|i| f.created_since.is_none_or(|d| i.created.date_naive() >= d))
            .filter(|i| f.created_until.is_none_or(|d| i.created.date_naive() <= d))
            .filter(|i| f.updated_since.is_none_or(|d| i.updated.date_naive() >= d))
            .filter(|i| f.updated_until.is_none_or(|d| i.updated.date_naive() <= d))
            .collect()
    }

    pub fn webhook_json(&self, w: &WebhookRec) -> Value {
        json!({"id": w.id, "name": w.name, "description": w.description, "hookUrl": w.hook_url,
               "allEvent": w.all_event, "activityTypeIds": w.activity_type_ids,
               "createdUser": self.user_json(API_USER_ID), "created": ts(&w.created),
               "updatedUser": self.user_json(API_USER_ID), "updated": ts(&w.updated)})
    }

    pub fn add_webhook(&mut self, mut w: WebhookRec) -> Value {
        w.id = self.next_webhook_id;
        self.next_webhook_id += 1;
        let v = self.webhook_json(&w);
        self.webhooks.push(w);
        v
    }
}
