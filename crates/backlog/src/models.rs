//! Typed shapes of Backlog API v2 answers and webhook payloads.
//!
//! Only the fields findings-bridge reads are typed; unknown fields are ignored so a space that
//! returns more (or a newer API) still parses. Must not: carry behaviour or IO.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Accepts an integer given as a JSON number or as a string (type 14 payloads send `"100"`).
fn flex_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex {
        Num(i64),
        Text(String),
    }
    match Flex::deserialize(d)? {
        Flex::Num(n) => Ok(n),
        Flex::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn flex_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "flex_i64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `{id, name}`: statuses, priorities, resolutions, issue types (their other fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

/// A project (`GET /projects/:key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: i64,
    pub project_key: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub text_formatting_rule: String,
    #[serde(default)]
    pub archived: bool,
}

/// A user, as embedded in issues, comments, activities and `GET /users/myself`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub role_type: Option<i64>,
}

/// An issue (`GET /issues/:idOrKey`, list entries, create and update answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub id: i64,
    pub project_id: i64,
    pub issue_key: String,
    #[serde(default)]
    pub key_id: i64,
    pub issue_type: IdName,
    pub summary: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default)]
    pub resolution: Option<IdName>,
    pub priority: IdName,
    pub status: IdName,
    #[serde(default)]
    pub assignee: Option<User>,
    #[serde(default)]
    pub created_user: Option<User>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_user: Option<User>,
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
    /// Kept raw: the value's type depends on the field type (see the reference §4).
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Vec<serde_json::Value>,
}

/// A comment (`POST /issues/:key/comments` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: String,
    #[serde(default)]
    pub created_user: Option<User>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

/// The project as embedded in an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityProject {
    pub id: i64,
    pub project_key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

/// One entry of `content.changes[]`. Values are strings (ids as text, sometimes display names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub new_value: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub old_value: String,
    #[serde(default, rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
}

/// The comment embedded in an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityComment {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: String,
}

/// One issue of a type 14 (bulk update) activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityLink {
    #[serde(deserialize_with = "flex_i64")]
    pub id: i64,
    #[serde(deserialize_with = "flex_i64")]
    pub key_id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub title: String,
}

/// `content` of an issue activity (types 1–4 and 14); every field optional because each type
/// carries a different subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityContent {
    #[serde(default, deserialize_with = "flex_opt_i64")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "flex_opt_i64")]
    pub key_id: Option<i64>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub comment: Option<ActivityComment>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub changes: Vec<Change>,
    #[serde(default, deserialize_with = "flex_opt_i64")]
    pub tx_id: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub link: Vec<ActivityLink>,
}

/// Activity type ids findings-bridge cares about (backlog-js `ActivityType`).
pub mod activity_type {
    pub const ISSUE_CREATED: i64 = 1;
    pub const ISSUE_UPDATED: i64 = 2;
    pub const ISSUE_COMMENTED: i64 = 3;
    pub const ISSUE_DELETED: i64 = 4;
    pub const ISSUES_BULK_UPDATED: i64 = 14;
}

/// An activity (`GET /projects/:p/activities`), which is also the webhook payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: i64,
    #[serde(rename = "type")]
    pub type_id: i64,
    #[serde(default)]
    pub project: Option<ActivityProject>,
    /// Non-issue activity types carry other shapes; those parse to an empty content.
    #[serde(default, deserialize_with = "lenient_content")]
    pub content: ActivityContent,
    #[serde(default)]
    pub created_user: Option<User>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

fn lenient_content<'de, D: Deserializer<'de>>(d: D) -> Result<ActivityContent, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

impl Activity {
    /// Issue keys this activity is about: `projectKey-key_id`, or each linked issue of a bulk
    /// update. Empty when the project or key is missing.
    pub fn issue_keys(&self) -> Vec<String> {
        let Some(project) = &self.project else {
            return Vec::new();
        };
        let key = |key_id: i64| format!("{}-{}", project.project_key, key_id);
        if !self.content.link.is_empty() {
            return self.content.link.iter().map(|l| key(l.key_id)).collect();
        }
        self.content.key_id.map(key).into_iter().collect()
    }

    /// `(old, new)` status ids when `changes[]` holds a status change with numeric ids. A hint
    /// only: callers re-read the issue before acting.
    pub fn status_change(&self) -> Option<(Option<i64>, i64)> {
        let change = self.content.changes.iter().find(|c| c.field == "status")?;
        let new = change.new_value.trim().parse().ok()?;
        Some((change.old_value.trim().parse().ok(), new))
    }
}

/// A project webhook. Debug masks the URL's token (the receiver's secret path).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    pub hook_url: String,
    pub all_event: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub activity_type_ids: Vec<i64>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("hook_url", &crate::redact::mask_hook_url(&self.hook_url))
            .field("all_event", &self.all_event)
            .field("activity_type_ids", &self.activity_type_ids)
            .finish_non_exhaustive()
    }
}

/// One bucket of `GET /rateLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitBucket {
    pub limit: u64,
    pub remaining: u64,
    /// UTC epoch seconds.
    pub reset: i64,
}

/// `GET /rateLimit` → `rateLimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub read: RateLimitBucket,
    pub update: RateLimitBucket,
    pub search: RateLimitBucket,
    #[serde(default)]
    pub icon: Option<RateLimitBucket>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RateLimitEnvelope {
    pub rate_limit: RateLimits,
}

/// One entry of Backlog's error body `{"errors":[{message, code, moreInfo}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorItem {
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub more_info: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ApiErrorItem>,
}

/// Backlog error codes with documented meaning (reference §7).
pub mod error_code {
    pub const INTERNAL: i64 = 1;
    pub const NO_RESOURCE: i64 = 6;
    pub const INVALID_REQUEST: i64 = 7;
    pub const AUTHENTICATION: i64 = 11;
    pub const TOO_MANY_REQUESTS: i64 = 13;
}
