//! One HTTP call to Backlog with rate-limit pacing and retries.
//!
//! Order per attempt: wait while the bucket is exhausted → send → record the bucket's
//! `X-RateLimit-*` headers → 2xx returns; 429 waits until the reset and tries again; 5xx and
//! network failures back off (exponential, jittered) and try again — except for non-idempotent
//! creates, which report the ambiguity instead. Must not: log or keep a URL's query string
//! (the API key is there), or retry a create that may have reached Backlog.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::error::{ApiErrors, CallError, TransportKind};
use crate::models::ErrorBody;
use crate::params::Params;

/// Backlog's rate-limit buckets (reference §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Read,
    Update,
    Search,
}

/// What one HTTP attempt ended with; reported to a [`CallObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Success,
    NotFound,
    Rejected,
    RateLimited,
    ServerError,
    TransportError,
    /// The call waited before sending because its bucket was (nearly) exhausted.
    Paced,
}

/// Receives one event per HTTP attempt, for metrics. Must be cheap and must not block.
pub trait CallObserver: Send + Sync {
    fn observe(&self, operation: &'static str, outcome: CallOutcome);
}

/// Timeouts, retry and pacing settings; every delay is injectable so tests run fast.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request time limit (connect + send + answer).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after a 5xx or a network failure (not counting the first attempt).
    pub max_retries: u32,
    /// How many times a 429 is waited out before giving up.
    pub max_rate_limit_waits: u32,
    /// First backoff delay; doubled per retry, with jitter, capped at `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Wait after a 429 without a usable `X-RateLimit-Reset`.
    pub rate_limit_fallback: Duration,
    /// Added to every wait-until-reset, to absorb clock skew.
    pub rate_limit_margin: Duration,
    /// Longest wait-until-reset accepted from a header (guards against absurd values).
    pub rate_limit_max_wait: Duration,
    /// Wait for the reset before sending when a bucket's remaining count is at most this.
    pub min_remaining: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            max_rate_limit_waits: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            rate_limit_fallback: Duration::from_secs(60),
            rate_limit_margin: Duration::from_millis(200),
            rate_limit_max_wait: Duration::from_secs(120),
            min_remaining: 1,
        }
    }
}

/// Whether a failed send may be retried blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads, updates that set absolute values, comments: retry on 5xx / network errors.
    Safe,
    /// Creates: a 5xx or a failure after connecting is returned as [`Failure::Ambiguous`].
    Unsafe,
}

/// A failed call; `Ambiguous` only for [`Replay::Unsafe`].
#[derive(Debug)]
pub(crate) enum Failure {
    Definite(CallError),
    Ambiguous(CallError),
}

/// The next step after a failed attempt.
enum Verdict {
    Fail(Failure),
    /// 429: wait this long (until the bucket's reset), then resend.
    WaitForReset(Duration, CallError),
    /// 5xx or network failure on a replayable call: back off, then resend.
    Backoff(CallError),
}

#[derive(Debug, Clone, Copy)]
struct BucketState {
    remaining: u64,
    reset_epoch: i64,
}

/// The request description the client hands to [`Transport::call`].
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub operation: &'static str,
    pub method: Method,
    /// Path below `/api/v2`, already escaped, without a query.
    pub path: String,
    pub params: &'a Params,
    pub bucket: Bucket,
    pub replay: Replay,
}

pub(crate) struct Transport {
    pub http: reqwest::Client,
    /// `…/api/v2`, no trailing slash.
    pub base: String,
    pub api_key: fb_model::secret::Secret,
    pub options: ClientOptions,
    pub observer: Option<std::sync::Arc<dyn CallObserver>>,
    buckets: Mutex<HashMap<Bucket, BucketState>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("api_key", &self.api_key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn now_epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn header_num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn transport_kind(err: &reqwest::Error) -> TransportKind {
    if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    }
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        base: String,
        api_key: fb_model::secret::Secret,
        options: ClientOptions,
        observer: Option<std::sync::Arc<dyn CallObserver>>,
    ) -> Self {
        Self {
            http,
            base,
            api_key,
            options,
            observer,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        if let Some(o) = &self.observer {
            o.observe(operation, outcome);
        }
    }

    /// Sends the call until it succeeds or fails for good; returns the status and body.
    pub async fn call(&self, call: Call<'_>) -> Result<(StatusCode, bytes::Bytes), Failure> {
        // Separate budgets: waiting out 429s does not use up the 5xx / network retries.
        let mut attempts = 0u32;
        let mut rate_waits = 0u32;
        let mut failures = 0u32;
        loop {
            attempts += 1;
            self.pace(call.operation, call.bucket).await;
            let verdict = match self.send_once(&call).await {
                Ok((status, headers, body)) => {
                    self.record_limits(call.bucket, &headers);
                    tracing::debug!(operation = call.operation, method = %call.method, path = %call.path, status = status.as_u16(), attempt = attempts, "backlog call");
                    if status.is_success() {
                        self.observe(call.operation, CallOutcome::Success);
                        return Ok((status, body));
                    }
                    self.judge_answer(&call, status, &headers, &body, attempts)
                }
                Err(source) => self.judge_transport(&call, source, attempts),
            };
            match verdict {
                Verdict::Fail(failure) => return Err(failure),
                Verdict::WaitForReset(wait, err) => {
                    rate_waits += 1;
                    if rate_waits > self.options.max_rate_limit_waits {
                        return Err(Failure::Definite(err));
                    }
                    tracing::warn!(
                        operation = call.operation,
                        wait_ms = wait.as_millis() as u64,
                        "backlog rate limited; waiting for the reset"
                    );
                    tokio::time::sleep(wait).await;
                }
                Verdict::Backoff(err) => {
                    failures += 1;
                    if failures > self.options.max_retries {
                        return Err(Failure::Definite(err));
                    }
                    self.backoff(call.operation, failures).await;
                }
            }
        }
    }

    /// What to do with a non-2xx answer.
    fn judge_answer(
        &self,
        call: &Call<'_>,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Verdict {
        let operation = call.operation;
        let errors = ApiErrors(
            serde_json::from_slice::<ErrorBody>(body)
                .map(|b| b.errors)
                .unwrap_or_default(),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Not processed: safe to resend even a create.
            self.observe(operation, CallOutcome::RateLimited);
            let err = CallError::RateLimited {
                operation,
                attempts,
                errors,
            };
            return Verdict::WaitForReset(self.reset_wait(headers), err);
        }
        if status.is_server_error() {
            self.observe(operation, CallOutcome::ServerError);
            let err = CallError::Server {
                operation,
                status: status.as_u16(),
                attempts,
                errors,
            };
            return match call.replay {
                Replay::Unsafe => Verdict::Fail(Failure::Ambiguous(err)),
                Replay::Safe => Verdict::Backoff(err),
            };
        }
        if status == StatusCode::NOT_FOUND {
            self.observe(operation, CallOutcome::NotFound);
            return Verdict::Fail(Failure::Definite(CallError::NotFound { operation, errors }));
        }
        self.observe(operation, CallOutcome::Rejected);
        Verdict::Fail(Failure::Definite(CallError::Rejected {
            operation,
            status: status.as_u16(),
            errors,
        }))
    }

    /// What to do when no (complete) answer arrived.
    fn judge_transport(&self, call: &Call<'_>, source: reqwest::Error, attempts: u32) -> Verdict {
        self.observe(call.operation, CallOutcome::TransportError);
        let kind = transport_kind(&source);
        tracing::warn!(operation = call.operation, path = %call.path, attempt = attempts, error = %kind, "backlog call failed");
        let err = CallError::Transport {
            operation: call.operation,
            kind,
            attempts,
            source,
        };
        // A refused connection reached nobody; anything later may have reached Backlog.
        if call.replay == Replay::Unsafe && kind != TransportKind::Connect {
            return Verdict::Fail(Failure::Ambiguous(err));
        }
        Verdict::Backoff(err)
    }

    /// One attempt. Errors are stripped of their URL (it holds the API key).
    async fn send_once(
        &self,
        call: &Call<'_>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), reqwest::Error> {
        let key = url::form_urlencoded::byte_serialize(self.api_key.expose().as_bytes())
            .collect::<String>();
        let is_read = call.method == Method::GET;
        let query = if is_read && !call.params.pairs().is_empty() {
            format!("{}&apiKey={key}", call.params.encode())
        } else {
            format!("apiKey={key}")
        };
        let url = format!("{}{}?{query}", self.base, call.path);
        let mut request = self.http.request(call.method.clone(), url);
        if !is_read {
            request = request
                .header(
                    CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=UTF-8",
                )
                .body(call.params.encode());
        }
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok((status, headers, body))
        }
        .await;
        result.map_err(|e: reqwest::Error| e.without_url())
    }

    fn record_limits(&self, bucket: Bucket, headers: &HeaderMap) {
        let remaining = header_num::<u64>(headers, "x-ratelimit-remaining");
        let reset = header_num::<i64>(headers, "x-ratelimit-reset");
        if let (Some(remaining), Some(reset_epoch)) = (remaining, reset) {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            buckets.insert(
                bucket,
                BucketState {
                    remaining,
                    reset_epoch,
                },
            );
        }
    }

    /// Time until `reset_epoch` plus the margin, capped; zero when already past.
    fn until_reset(&self, reset_epoch: i64) -> Duration {
        let ms = reset_epoch.saturating_mul(1000) - now_epoch_ms();
        let wait = Duration::from_millis(ms.max(0) as u64) + self.options.rate_limit_margin;
        wait.min(self.options.rate_limit_max_wait)
    }

    fn reset_wait(&self, headers: &HeaderMap) -> Duration {
        match header_num::<i64>(headers, "x-ratelimit-reset") {
            Some(reset) => self.until_reset(reset),
            None => self.options.rate_limit_fallback,
        }
    }

    /// Waits for the reset when the last answer said the bucket is (nearly) exhausted.
    async fn pace(&self, operation: &'static str, bucket: Bucket) {
        let wait = {
            let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            match buckets.get(&bucket) {
                Some(s)
                    if s.remaining <= self.options.min_remaining
                        && s.reset_epoch * 1000 > now_epoch_ms() =>
                {
                    Some(self.until_reset(s.reset_epoch))
                }
                _ => None,
            }
        };
        if let Some(wait) = wait {
            self.observe(operation, CallOutcome::Paced);
            tracing::info!(
                operation,
                ?bucket,
                wait_ms = wait.as_millis() as u64,
                "backlog bucket nearly exhausted; waiting for the reset"
            );
            tokio::time::sleep(wait).await;
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            buckets.remove(&bucket);
        }
    }

    async fn backoff(&self, operation: &'static str, attempt: u32) {
        let exp = self
            .options
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.options.backoff_max);
        let wait = if exp.is_zero() {
            exp
        } else {
            rand::thread_rng().gen_range(exp / 2..=exp)
        };
        tracing::debug!(
            operation,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "backlog retry backoff"
        );
        tokio::time::sleep(wait).await;
    }
}
