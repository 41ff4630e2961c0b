//! Errors of the Backlog client, one enum per kind of operation.
//!
//! Every variant carries the operation name and, for API answers, Backlog's own `errors[]`.
//! Must not: hold a URL with its query string (the API key travels there) or a request body.

use std::fmt;

use crate::models::{error_code, ApiErrorItem};

/// Backlog's `errors[]`, shown as `message (code N); …`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiErrors(pub Vec<ApiErrorItem>);

impl ApiErrors {
    pub fn has_code(&self, code: i64) -> bool {
        self.0.iter().any(|e| e.code == code)
    }
}

impl fmt::Display for ApiErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no error body");
        }
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} (code {})", e.message, e.code)?;
            if !e.more_info.is_empty() {
                write!(f, ": {}", e.more_info)?;
            }
        }
        Ok(())
    }
}

/// A failed call (reads, updates, comments, lists, webhooks).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// 404 / code 6: the resource does not exist (or was deleted).
    #[error("Backlog {operation}: not found (HTTP 404): {errors}")]
    NotFound {
        operation: &'static str,
        errors: ApiErrors,
    },
    /// Any other 4xx: the request is wrong or not allowed; retrying does not help.
    #[error("Backlog {operation}: rejected with HTTP {status}: {errors}")]
    Rejected {
        operation: &'static str,
        status: u16,
        errors: ApiErrors,
    },
    /// Still 429 after the configured number of waits.
    #[error("Backlog {operation}: rate limited (HTTP 429) after {attempts} attempts: {errors}")]
    RateLimited {
        operation: &'static str,
        attempts: u32,
        errors: ApiErrors,
    },
    /// Still 5xx after the configured retries.
    #[error("Backlog {operation}: server error HTTP {status} after {attempts} attempts: {errors}")]
    Server {
        operation: &'static str,
        status: u16,
        attempts: u32,
        errors: ApiErrors,
    },
    /// Network failure or time-out after the configured retries. The source has no URL.
    #[error("Backlog {operation}: {kind} after {attempts} attempts")]
    Transport {
        operation: &'static str,
        kind: TransportKind,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer whose body is not the documented shape.
    #[error("Backlog {operation}: unexpected answer body")]
    Decode {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The caller's arguments were refused before sending.
    #[error("Backlog {operation}: invalid request: {reason}")]
    InvalidInput {
        operation: &'static str,
        reason: String,
    },
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection was never made: nothing reached Backlog.
    Connect,
    /// No (complete) answer in time: the request may have been processed.
    Timeout,
    /// Anything else after the request may have been sent.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Other => "transport error",
        })
    }
}

impl CallError {
    /// Whether a later attempt (by the caller's loop) might succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallError::RateLimited { .. } | CallError::Server { .. } | CallError::Transport { .. }
        )
    }

    /// 401 / code 11: the API key is wrong.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            CallError::Rejected { status, errors, .. } => {
                *status == 401 || errors.has_code(error_code::AUTHENTICATION)
            }
            _ => false,
        }
    }

    /// Backlog's error items, when the failure came with a body.
    pub fn api_errors(&self) -> Option<&ApiErrors> {
        match self {
            CallError::NotFound { errors, .. }
            | CallError::Rejected { errors, .. }
            | CallError::RateLimited { errors, .. }
            | CallError::Server { errors, .. } => Some(errors),
            _ => None,
        }
    }
}

/// A failed `create_issue`.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The request may have reached Backlog (time-out or 5xx after sending): the issue may exist.
    /// Search for its marker before creating again; never retry blindly.
    #[error("Backlog create_issue: outcome unknown, the issue may have been created; search for its marker before retrying")]
    Ambiguous {
        #[source]
        cause: CallError,
    },
    /// Backlog did not create the issue.
    #[error(transparent)]
    Failed(#[from] CallError),
}

/// A failed `resolve_names`.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("Backlog {kind} {name:?} not found in project {project}; valid: {}", valid.join(", "))]
    UnknownName {
        kind: &'static str,
        name: String,
        project: String,
        valid: Vec<String>,
    },
    #[error("resolving Backlog names for project {project}")]
    Call {
        project: String,
        #[source]
        source: CallError,
    },
}
