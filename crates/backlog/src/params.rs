//! Request parameter types and their encoding as Backlog expects it.
//!
//! Backlog takes GET parameters in the query string and writes as
//! `application/x-www-form-urlencoded`; arrays repeat the name with a literal `[]`
//! (`statusId[]=1&statusId[]=2`). Must not: add undocumented parameter names, or hold the API key
//! (the client appends `apiKey` itself).

use chrono::NaiveDate;

/// An ordered list of `name=value` pairs; array names already carry their `[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one scalar parameter.
    pub fn push(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.0.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds a parameter only when present.
    pub fn push_opt<T: ToString>(&mut self, name: &str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.push(name, v);
        }
        self
    }

    /// Adds `name[]=v` for each value.
    pub fn push_array<T: ToString>(&mut self, name: &str, values: &[T]) -> &mut Self {
        for v in values {
            self.0.push((format!("{name}[]"), v.to_string()));
        }
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Form/query encoding that keeps a trailing `[]` literal, as the Backlog docs show it.
    pub fn encode(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.0
            .iter()
            .map(|(name, value)| {
                let name = match name.strip_suffix("[]") {
                    Some(base) => format!("{}[]", enc(base)),
                    None => enc(name),
                };
                format!("{name}={}", enc(value))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `POST /issues`: the fields findings-bridge sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub project_id: i64,
    pub summary: String,
    pub description: String,
    pub issue_type_id: i64,
    pub priority_id: i64,
}

impl NewIssue {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        p.push("projectId", self.project_id)
            .push("summary", &self.summary)
            .push("issueTypeId", self.issue_type_id)
            .push("priorityId", self.priority_id);
        if !self.description.is_empty() {
            p.push("description", &self.description);
        }
        p
    }
}

/// `sort` values of `GET /issues` that findings-bridge uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    Created,
    #[default]
    Updated,
    Status,
}

impl IssueSort {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSort::Created => "created",
            IssueSort::Updated => "updated",
            IssueSort::Status => "status",
        }
    }
}

/// `order` of lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// The most items one list call may ask for.
pub const MAX_COUNT: u32 = 100;

/// `GET /issues` filters. `sort` and `order` are always sent (the default sort is undocumented).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueQuery {
    pub project_ids: Vec<i64>,
    pub status_ids: Vec<i64>,
    pub ids: Vec<i64>,
    pub keyword: Option<String>,
    /// Day granularity (`yyyy-MM-dd`).
    pub updated_since: Option<NaiveDate>,
    pub sort: IssueSort,
    pub order: Order,
    pub offset: Option<u32>,
    /// 1–100; `None` sends 100.
    pub count: Option<u32>,
}

impl IssueQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        p.push_array("projectId", &self.project_ids)
            .push_array("statusId", &self.status_ids)
            .push_array("id", &self.ids)
            .push_opt("keyword", self.keyword.as_deref())
            .push_opt(
                "updatedSince",
                self.updated_since.map(|d| d.format("%Y-%m-%d")),
            )
            .push("sort", self.sort.as_str())
            .push("order", self.order.as_str())
            .push_opt("offset", self.offset)
            .push("count", self.count.unwrap_or(MAX_COUNT));
        p
    }
}

/// `PATCH /issues/:key`: only the fields set are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueUpdate {
    pub status_id: Option<i64>,
    pub resolution_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub comment: Option<String>,
}

impl IssueUpdate {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("statusId", self.status_id)
            .push_opt("resolutionId", self.resolution_id)
            .push_opt("priorityId", self.priority_id)
            .push_opt("comment", self.comment.as_deref());
        p
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.params().pairs().is_empty()
    }
}

/// `GET /projects/:p/activities` filters. `order` is always sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivityQuery {
    pub type_ids: Vec<i64>,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    /// 1–100; `None` sends 100.
    pub count: Option<u32>,
    pub order: Order,
}

impl ActivityQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        p.push_array("activityTypeId", &self.type_ids)
            .push_opt("minId", self.min_id)
            .push_opt("maxId", self.max_id)
            .push("count", self.count.unwrap_or(MAX_COUNT))
            .push("order", self.order.as_str());
        p
    }
}

/// `POST /projects/:p/webhooks` and, with every field set, `PATCH`. Debug masks the URL's token.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub name: String,
    pub description: String,
    /// Contains the receiver's path token: never logged.
    pub hook_url: String,
    pub all_event: bool,
    pub activity_type_ids: Vec<i64>,
}

impl std::fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("hook_url", &crate::redact::mask_hook_url(&self.hook_url))
            .field("all_event", &self.all_event)
            .field("activity_type_ids", &self.activity_type_ids)
            .finish()
    }
}

impl WebhookSpec {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::new();
        p.push("name", &self.name)
            .push("description", &self.description)
            .push("hookUrl", &self.hook_url)
            .push("allEvent", self.all_event);
        if !self.all_event {
            p.push_array("activityTypeIds", &self.activity_type_ids);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_keep_literal_brackets_and_values_are_escaped() {
        let q = IssueQuery {
            project_ids: vec![7],
            status_ids: vec![1, 2],
            keyword: Some("fb:key a&b".into()),
            ..Default::default()
        };
        assert_eq!(
            q.params().encode(),
            "projectId[]=7&statusId[]=1&statusId[]=2&keyword=fb%3Akey+a%26b&sort=updated&order=desc&count=100"
        );
    }

    #[test]
    fn update_sends_only_set_fields() {
        let u = IssueUpdate {
            status_id: Some(4),
            resolution_id: Some(0),
            ..Default::default()
        };
        assert_eq!(u.params().encode(), "statusId=4&resolutionId=0");
        assert!(IssueUpdate::default().is_empty());
    }
}
