//! One failed AWS call, reduced to what callers need: which operation, the full cause chain as
//! text, the service error code, and whether a later attempt can help.
//!
//! Must not: hold request bodies (they may carry secrets); only SDK error messages end up here,
//! and AWS never echoes secret values in them.

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::ErrorKind;

/// Service error codes a later attempt can get past.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ConcurrentModificationException",
    "ConcurrentUpdateError",
    "InternalException",
    "InternalFailure",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// True when a service error code means "try again later".
pub fn is_retryable_code(code: &str) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// True for HTTP statuses that mean "try again later" (throttled, server-side failure).
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// A failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsCallError {
    /// `service:Operation`, as in [`crate::OPERATIONS`].
    pub operation: &'static str,
    /// The service error code (`AccessDenied`, `ResourceNotFoundException`…), when AWS gave one.
    pub code: Option<String>,
    /// The whole cause chain.
    pub message: String,
    /// A later attempt may succeed (throttling, time-out, 5xx).
    pub retryable: bool,
}

impl AwsCallError {
    /// Reduces an SDK error. Time-outs and transport failures are retryable; service errors by
    /// their code or HTTP status; a request the SDK could not build is not.
    pub fn from_sdk<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = err.code().map(str::to_owned);
        let retryable = match err {
            SdkError::TimeoutError(_) => true,
            // Connection trouble is transient; a credentials failure (AssumeRole denied…)
            // also arrives here, as an unclassified "other" error, and is not.
            SdkError::DispatchFailure(f) => {
                f.is_io()
                    || f.is_timeout()
                    || f.as_other().is_some_and(|k| {
                        matches!(
                            k,
                            ErrorKind::TransientError
                                | ErrorKind::ThrottlingError
                                | ErrorKind::ServerError
                        )
                    })
            }
            SdkError::ResponseError(ctx) => is_retryable_status(ctx.raw().status().as_u16()),
            SdkError::ServiceError(ctx) => {
                code.as_deref().is_some_and(is_retryable_code)
                    || is_retryable_status(ctx.raw().status().as_u16())
            }
            _ => false,
        };
        AwsCallError {
            operation,
            code,
            // The cause chain, not the SDK's Debug dump of the raw response.
            message: error_chain(err),
            retryable,
        }
    }

    /// An error that came from no SDK call (a value AWS should have returned was missing…).
    pub fn other(operation: &'static str, message: impl Into<String>) -> Self {
        AwsCallError {
            operation,
            code: None,
            message: message.into(),
            retryable: false,
        }
    }

    /// Replaces every occurrence of the given values in the message with `****`.
    pub fn redact(mut self, values: &[&str]) -> Self {
        for value in values.iter().filter(|v| !v.is_empty()) {
            self.message = self.message.replace(value, "****");
        }
        self
    }

    /// True when AWS said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NoSuchEntity" | "NoSuchEntityException")
        )
    }
}

/// Extension to turn `Result<T, SdkError>` into `Result<T, AwsCallError>` with the operation.
pub(crate) trait CallContext<T> {
    fn op(self, operation: &'static str) -> Result<T, AwsCallError>;
}

impl<T, E> CallContext<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn op(self, operation: &'static str) -> Result<T, AwsCallError> {
        self.map_err(|e| AwsCallError::from_sdk(operation, &e))
    }
}

/// An error and all its sources, joined with `: ` (what a report or a log line shows).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // SDK errors often repeat their source in their own message; skip exact repeats.
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for code in [
            "ThrottlingException",
            "LimitExceededException",
            "InternalFailure",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "AccessDenied",
            "ValidationException",
            "FindingNotFound",
            "InvalidInput",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(400));
        assert!(!is_retryable_status(403));
    }

    #[test]
    fn redact_hides_every_occurrence() {
        let e = AwsCallError::other(
            "events:CreateConnection",
            "Value 'k3y' at 'apiKeyValue' (k3y)",
        )
        .redact(&["k3y", ""]);
        assert_eq!(e.message, "Value '****' at 'apiKeyValue' (****)");
    }

    #[test]
    fn not_found_codes_are_recognised() {
        let mut e = AwsCallError::other("iam:GetRole", "gone");
        assert!(!e.is_not_found());
        e.code = Some("NoSuchEntity".into());
        assert!(e.is_not_found());
        e.code = Some("ResourceNotFoundException".into());
        assert!(e.is_not_found());
    }

    type PutRuleSdkError = SdkError<aws_sdk_eventbridge::operation::put_rule::PutRuleError>;

    fn service_error(code: &str, status: u16) -> PutRuleSdkError {
        use aws_sdk_eventbridge::error::ErrorMetadata;
        use aws_sdk_eventbridge::operation::put_rule::PutRuleError;
        let err = PutRuleError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("from the service")
                .build(),
        );
        let raw = HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        SdkError::service_error(err, raw)
    }

    #[test]
    fn sdk_errors_are_classified_by_kind_code_and_status() {
        let throttled =
            AwsCallError::from_sdk("events:PutRule", &service_error("ThrottlingException", 400));
        assert!(throttled.retryable);
        assert_eq!(throttled.code.as_deref(), Some("ThrottlingException"));
        assert!(
            throttled.message.contains("from the service"),
            "{}",
            throttled.message
        );

        let denied = AwsCallError::from_sdk(
            "events:PutRule",
            &service_error("AccessDeniedException", 403),
        );
        assert!(!denied.retryable);
        let unknown_5xx = AwsCallError::from_sdk("events:PutRule", &service_error("Weird", 503));
        assert!(unknown_5xx.retryable);

        let timeout: PutRuleSdkError = SdkError::timeout_error("took too long");
        assert!(AwsCallError::from_sdk("events:PutRule", &timeout).retryable);
        use aws_sdk_eventbridge::error::ConnectorError;
        let refused: PutRuleSdkError =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert!(AwsCallError::from_sdk("events:PutRule", &refused).retryable);
        let no_credentials: PutRuleSdkError =
            SdkError::dispatch_failure(ConnectorError::other("AccessDenied".into(), None));
        assert!(!AwsCallError::from_sdk("events:PutRule", &no_credentials).retryable);
        let bad_request: PutRuleSdkError = SdkError::construction_failure("missing name");
        assert!(!AwsCallError::from_sdk("events:PutRule", &bad_request).retryable);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    #[test]
    fn chain_joins_every_source() {
        assert_eq!(error_chain(&Outer(Inner)), "outer: inner cause");
    }
}
