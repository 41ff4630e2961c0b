//! The typed Backlog API v2 client: one method per documented endpoint findings-bridge uses.
//!
//! Must not: send undocumented parameters, retry a create blindly, or expose its API key.

use std::sync::Arc;

use fb_model::secret::Secret;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::error::{CallError, CreateError};
use crate::models::{
    Activity, Comment, IdName, Issue, Project, RateLimitEnvelope, RateLimits, User, Webhook,
};
use crate::params::{
    ActivityQuery, IssueQuery, IssueUpdate, NewIssue, Params, WebhookSpec, MAX_COUNT,
};
use crate::transport::{Bucket, Call, CallObserver, ClientOptions, Failure, Replay, Transport};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Backlog base URL {url:?} is not an http(s) URL without a query")]
    BadBaseUrl { url: String },
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// A Backlog API client. Cheap to clone; clones share the rate-limit state.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Transport>,
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn check_count(operation: &'static str, count: Option<u32>) -> Result<(), CallError> {
    match count {
        Some(c) if c == 0 || c > MAX_COUNT => Err(CallError::InvalidInput {
            operation,
            reason: format!("count must be 1..={MAX_COUNT}, got {c}"),
        }),
        _ => Ok(()),
    }
}

impl Client {
    /// `base_url` is the space URL (`https://example.backlog.jp`) or its API root (`…/api/v2`).
    pub fn new(
        base_url: &str,
        api_key: Secret,
        options: ClientOptions,
    ) -> Result<Self, BuildError> {
        Self::with_observer(base_url, api_key, options, None)
    }

    /// Like [`Client::new`], reporting every HTTP attempt to `observer`.
    pub fn with_observer(
        base_url: &str,
        api_key: Secret,
        options: ClientOptions,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<Self, BuildError> {
        // The URL goes into the error redacted: someone may have pasted `?apiKey=…` into it.
        let bad = || BuildError::BadBaseUrl {
            url: crate::redact::redact_api_key(base_url),
        };
        let parsed = url::Url::parse(base_url).map_err(|_| bad())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(bad());
        }
        let trimmed = base_url.trim_end_matches('/');
        let base = if trimmed.ends_with("/api/v2") {
            trimmed.to_owned()
        } else {
            format!("{trimmed}/api/v2")
        };
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("findings-bridge/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the apiKey query parameter to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BuildError::Http(e.without_url()))?;
        Ok(Self {
            inner: Arc::new(Transport::new(http, base, api_key, options, observer)),
        })
    }

    /// The API root this client calls (`…/api/v2`), without any key.
    pub fn api_root(&self) -> &str {
        &self.inner.base
    }

    /// The browser URL of an issue: `{space}/view/{key}` (whatever form the base URL had).
    pub fn issue_url(&self, issue_key: &str) -> String {
        let space = self.inner.base.trim_end_matches("/api/v2");
        format!("{space}/view/{issue_key}")
    }

    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: String,
        params: &Params,
        bucket: Bucket,
    ) -> Result<T, CallError> {
        let call = Call {
            operation,
            method,
            path,
            params,
            bucket,
            replay: Replay::Safe,
        };
        match self.inner.call(call).await {
            Ok((_, body)) => decode(operation, &body),
            Err(Failure::Definite(e) | Failure::Ambiguous(e)) => Err(e),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        path: String,
        params: &Params,
        bucket: Bucket,
    ) -> Result<T, CallError> {
        self.call(operation, Method::GET, path, params, bucket)
            .await
    }

    /// `GET /projects/:key`.
    pub async fn get_project(&self, key: &str) -> Result<Project, CallError> {
        self.get(
            "get_project",
            format!("/projects/{}", seg(key)),
            &Params::new(),
            Bucket::Read,
        )
        .await
    }

    /// `GET /projects/:key/issueTypes`.
    pub async fn issue_types(&self, project: &str) -> Result<Vec<IdName>, CallError> {
        let path = format!("/projects/{}/issueTypes", seg(project));
        self.get("issue_types", path, &Params::new(), Bucket::Read)
            .await
    }

    /// `GET /projects/:key/statuses`.
    pub async fn statuses(&self, project: &str) -> Result<Vec<IdName>, CallError> {
        let path = format!("/projects/{}/statuses", seg(project));
        self.get("statuses", path, &Params::new(), Bucket::Read)
            .await
    }

    /// `GET /priorities` (space-wide).
    pub async fn priorities(&self) -> Result<Vec<IdName>, CallError> {
        self.get(
            "priorities",
            "/priorities".into(),
            &Params::new(),
            Bucket::Read,
        )
        .await
    }

    /// `GET /resolutions` (space-wide).
    pub async fn resolutions(&self) -> Result<Vec<IdName>, CallError> {
        self.get(
            "resolutions",
            "/resolutions".into(),
            &Params::new(),
            Bucket::Read,
        )
        .await
    }

    /// `GET /users/myself`: the key's own user, to recognise our own activities.
    pub async fn myself(&self) -> Result<User, CallError> {
        self.get(
            "myself",
            "/users/myself".into(),
            &Params::new(),
            Bucket::Read,
        )
        .await
    }

    /// `GET /rateLimit`.
    pub async fn rate_limit(&self) -> Result<RateLimits, CallError> {
        let env: RateLimitEnvelope = self
            .get(
                "rate_limit",
                "/rateLimit".into(),
                &Params::new(),
                Bucket::Read,
            )
            .await?;
        Ok(env.rate_limit)
    }

    /// `POST /issues` (201). Never retried after the request may have reached Backlog: a 5xx
    /// or time-out is [`CreateError::Ambiguous`]; the caller searches for its marker.
    pub async fn create_issue(&self, issue: &NewIssue) -> Result<Issue, CreateError> {
        const OP: &str = "create_issue";
        if issue.summary.trim().is_empty() {
            return Err(CreateError::Failed(CallError::InvalidInput {
                operation: OP,
                reason: "summary is empty".into(),
            }));
        }
        let params = issue.params();
        let call = Call {
            operation: OP,
            method: Method::POST,
            path: "/issues".into(),
            params: &params,
            bucket: Bucket::Update,
            replay: Replay::Unsafe,
        };
        match self.inner.call(call).await {
            Ok((_, body)) => Ok(decode(OP, &body)?),
            Err(Failure::Ambiguous(cause)) => Err(CreateError::Ambiguous { cause }),
            Err(Failure::Definite(e)) => Err(CreateError::Failed(e)),
        }
    }

    /// `GET /issues/:idOrKey`; a missing or deleted issue (404) is `Ok(None)`.
    pub async fn get_issue(&self, id_or_key: &str) -> Result<Option<Issue>, CallError> {
        let path = format!("/issues/{}", seg(id_or_key));
        match self
            .get("get_issue", path, &Params::new(), Bucket::Read)
            .await
        {
            Ok(issue) => Ok(Some(issue)),
            Err(CallError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /issues` (search bucket). One page; loop with `offset` for more.
    pub async fn list_issues(&self, query: &IssueQuery) -> Result<Vec<Issue>, CallError> {
        check_count("list_issues", query.count)?;
        self.get(
            "list_issues",
            "/issues".into(),
            &query.params(),
            Bucket::Search,
        )
        .await
    }

    /// `PATCH /issues/:idOrKey` with the fields set in `update`.
    pub async fn update_issue(&self, key: &str, update: &IssueUpdate) -> Result<Issue, CallError> {
        if update.is_empty() {
            return Err(CallError::InvalidInput {
                operation: "update_issue",
                reason: "nothing to update".into(),
            });
        }
        let path = format!("/issues/{}", seg(key));
        self.call(
            "update_issue",
            Method::PATCH,
            path,
            &update.params(),
            Bucket::Update,
        )
        .await
    }

    /// `POST /issues/:idOrKey/comments` (201). Retried on 5xx like other writes: a rare
    /// duplicate comment is preferred over a lost note.
    pub async fn add_comment(&self, key: &str, content: &str) -> Result<Comment, CallError> {
        if content.trim().is_empty() {
            return Err(CallError::InvalidInput {
                operation: "add_comment",
                reason: "content is empty".into(),
            });
        }
        let mut params = Params::new();
        params.push("content", content);
        let path = format!("/issues/{}/comments", seg(key));
        self.call("add_comment", Method::POST, path, &params, Bucket::Update)
            .await
    }

    /// `GET /projects/:p/activities`.
    pub async fn project_activities(
        &self,
        project: &str,
        query: &ActivityQuery,
    ) -> Result<Vec<Activity>, CallError> {
        check_count("project_activities", query.count)?;
        let path = format!("/projects/{}/activities", seg(project));
        self.get("project_activities", path, &query.params(), Bucket::Read)
            .await
    }

    /// `GET /projects/:p/webhooks`.
    pub async fn webhooks(&self, project: &str) -> Result<Vec<Webhook>, CallError> {
        let path = format!("/projects/{}/webhooks", seg(project));
        self.get("list_webhooks", path, &Params::new(), Bucket::Read)
            .await
    }

    /// `POST /projects/:p/webhooks`.
    pub async fn create_webhook(
        &self,
        project: &str,
        spec: &WebhookSpec,
    ) -> Result<Webhook, CallError> {
        let path = format!("/projects/{}/webhooks", seg(project));
        self.call(
            "create_webhook",
            Method::POST,
            path,
            &spec.params(),
            Bucket::Update,
        )
        .await
    }

    /// `PATCH /projects/:p/webhooks/:id`, sending every field of `spec`.
    pub async fn update_webhook(
        &self,
        project: &str,
        id: i64,
        spec: &WebhookSpec,
    ) -> Result<Webhook, CallError> {
        let path = format!("/projects/{}/webhooks/{id}", seg(project));
        self.call(
            "update_webhook",
            Method::PATCH,
            path,
            &spec.params(),
            Bucket::Update,
        )
        .await
    }

    /// `DELETE /projects/:p/webhooks/:id`.
    pub async fn delete_webhook(&self, project: &str, id: i64) -> Result<Webhook, CallError> {
        let path = format!("/projects/{}/webhooks/{id}", seg(project));
        self.call(
            "delete_webhook",
            Method::DELETE,
            path,
            &Params::new(),
            Bucket::Update,
        )
        .await
    }
}

fn decode<T: DeserializeOwned>(operation: &'static str, body: &[u8]) -> Result<T, CallError> {
    serde_json::from_slice(body).map_err(|source| CallError::Decode { operation, source })
}
