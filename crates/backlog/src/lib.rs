//! `fb-backlog`: a typed client for the documented Backlog API v2.
//!
//! Form-urlencoded writes, `apiKey` query parameter, rate-limit aware (per bucket), retries with
//! backoff, a typed ambiguity for creates that may have reached Backlog, name resolution.
//! Must not: print or return the API key in any log line, error or Debug output; call
//! undocumented endpoints or parameters.

mod client;
pub mod error;
pub mod models;
mod names;
mod paging;
pub mod params;
mod redact;
mod transport;

pub use client::{BuildError, Client};
pub use error::{ApiErrors, CallError, CreateError, ResolveError, TransportKind};
pub use fb_model::secret::Secret;
pub use models::{
    Activity, ActivityContent, ActivityLink, ActivityProject, ApiErrorItem, Change, Comment,
    IdName, Issue, Project, RateLimitBucket, RateLimits, User, Webhook,
};
pub use names::{
    lookup, NamesToResolve, ResolvedNames, BUILTIN_PRIORITIES, BUILTIN_RESOLUTIONS,
    BUILTIN_STATUSES,
};
pub use paging::Pages;
pub use params::{
    ActivityQuery, IssueQuery, IssueSort, IssueUpdate, NewIssue, Order, WebhookSpec, MAX_COUNT,
};
pub use redact::{mask_hook_url, redact_api_key};
pub use transport::{Bucket, CallObserver, CallOutcome, ClientOptions};
