//! Prometheus metrics, every series named `findings_bridge_*` (prometheus-client text format).
//!
//! Counters are bumped where things happen (HTTP handlers, adapters, the worker, the scheduler);
//! queue depths are sampled from the store at scrape time. Must not: carry a secret or an
//! unbounded label (finding ids, issue keys) — labels are results, operations, jobs and
//! account × region pairs from the config.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `accepted`, `ignored` or `rejected`.
    pub result: String,
    /// Why a rejection happened (`unauthorized`, `malformed`, `too_large`); empty otherwise.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub operation: String,
    /// `ok`, `retryable`, `ambiguous`, `error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `inbox` or `outbox`.
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaceLabels {
    pub account: String,
    pub region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobRunLabels {
    pub job: String,
    /// `ok` or `failed`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// `backlog` or `aws`.
    pub service: String,
}

fn job_histogram() -> Histogram {
    // 10 ms … ~330 s: reconciles of many accounts take minutes.
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

/// Every series the daemon exports.
pub struct Metrics {
    registry: Registry,
    pub events: Family<EventLabels, Counter>,
    pub issues_created: Counter,
    pub duplicates_absorbed: Counter,
    pub writebacks: Family<ResultLabels, Counter>,
    pub backlog_calls: Family<CallLabels, Counter>,
    pub aws_calls: Family<CallLabels, Counter>,
    pub rate_limit_waits: Family<ServiceLabels, Counter>,
    pub queue_depth: Family<QueueLabels, Gauge>,
    pub oldest_pending_age: Family<QueueLabels, Gauge>,
    pub drift: Family<PlaceLabels, Gauge>,
    pub job_duration: Family<JobLabels, Histogram, fn() -> Histogram>,
    pub job_runs: Family<JobRunLabels, Counter>,
    pub config_reloads: Family<ResultLabels, Counter>,
    pub webhook_hints: Counter,
    pub ready: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("findings_bridge");
        let m = MetricsParts::default();
        let job_duration: Family<JobLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(job_histogram);
        registry.register(
            "events",
            "Events received on /v1/events by result",
            m.events.clone(),
        );
        registry.register(
            "issues_created",
            "Backlog issues created",
            m.issues_created.clone(),
        );
        registry.register(
            "duplicates_absorbed",
            "Deliveries of an already known finding that created no issue",
            m.duplicates_absorbed.clone(),
        );
        registry.register(
            "writebacks",
            "Security Hub write-backs by status",
            m.writebacks.clone(),
        );
        registry.register(
            "backlog_calls",
            "Backlog API calls by operation and outcome",
            m.backlog_calls.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS API calls by operation and outcome",
            m.aws_calls.clone(),
        );
        registry.register(
            "rate_limit_waits",
            "Waits for a rate limit to reset",
            m.rate_limit_waits.clone(),
        );
        registry.register(
            "queue_depth",
            "Items waiting in the store's queues",
            m.queue_depth.clone(),
        );
        registry.register(
            "oldest_pending_age_seconds",
            "Age of the oldest waiting item per queue",
            m.oldest_pending_age.clone(),
        );
        registry.register(
            "drift",
            "Changes found by the last reconcile per account and region",
            m.drift.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Duration of scheduled jobs",
            job_duration.clone(),
        );
        registry.register(
            "job_runs",
            "Scheduled job runs by result",
            m.job_runs.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            m.config_reloads.clone(),
        );
        registry.register(
            "webhook_hints",
            "Backlog webhook deliveries accepted",
            m.webhook_hints.clone(),
        );
        registry.register("ready", "1 when the daemon is ready", m.ready.clone());
        Metrics {
            registry,
            events: m.events,
            issues_created: m.issues_created,
            duplicates_absorbed: m.duplicates_absorbed,
            writebacks: m.writebacks,
            backlog_calls: m.backlog_calls,
            aws_calls: m.aws_calls,
            rate_limit_waits: m.rate_limit_waits,
            queue_depth: m.queue_depth,
            oldest_pending_age: m.oldest_pending_age,
            drift: m.drift,
            job_duration,
            job_runs: m.job_runs,
            config_reloads: m.config_reloads,
            webhook_hints: m.webhook_hints,
            ready: m.ready,
        }
    }

    /// Counts one `/v1/events` outcome.
    pub fn event(&self, result: &str, reason: &str) {
        self.events
            .get_or_create(&EventLabels {
                result: result.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn event_count(&self, result: &str, reason: &str) -> u64 {
        self.events
            .get(&EventLabels {
                result: result.to_owned(),
                reason: reason.to_owned(),
            })
            .map(|c| c.get())
            .unwrap_or(0)
    }

    pub fn backlog_call(&self, operation: &str, outcome: &str) {
        self.backlog_calls
            .get_or_create(&CallLabels {
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn aws_call(&self, operation: &str, outcome: &str) {
        self.aws_calls
            .get_or_create(&CallLabels {
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn writeback(&self, status: &str, n: u64) {
        if n > 0 {
            self.writebacks
                .get_or_create(&ResultLabels {
                    result: status.to_owned(),
                })
                .inc_by(n);
        }
    }

    pub fn queue(&self, queue: &str, depth: usize, oldest_age: Option<Duration>) {
        let labels = QueueLabels {
            queue: queue.to_owned(),
        };
        self.queue_depth
            .get_or_create(&labels)
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        let age = oldest_age.map(|a| a.as_secs()).unwrap_or(0);
        self.oldest_pending_age
            .get_or_create(&labels)
            .set(i64::try_from(age).unwrap_or(i64::MAX));
    }

    pub fn set_drift(&self, account: &str, region: &str, changes: usize) {
        self.drift
            .get_or_create(&PlaceLabels {
                account: account.to_owned(),
                region: region.to_owned(),
            })
            .set(i64::try_from(changes).unwrap_or(i64::MAX));
    }

    pub fn job_finished(&self, job: &str, duration: Duration, ok: bool) {
        self.job_runs
            .get_or_create(&JobRunLabels {
                job: job.to_owned(),
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
        self.job_duration
            .get_or_create(&JobLabels {
                job: job.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    pub fn config_reload(&self, result: &str) {
        self.config_reloads
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The text exposition (`text/plain; version=0.0.4` compatible OpenMetrics text).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The plain (constructor-less) families, built once so they can be registered and kept.
#[derive(Default)]
struct MetricsParts {
    events: Family<EventLabels, Counter>,
    issues_created: Counter,
    duplicates_absorbed: Counter,
    writebacks: Family<ResultLabels, Counter>,
    backlog_calls: Family<CallLabels, Counter>,
    aws_calls: Family<CallLabels, Counter>,
    rate_limit_waits: Family<ServiceLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    oldest_pending_age: Family<QueueLabels, Gauge>,
    drift: Family<PlaceLabels, Gauge>,
    config_reloads: Family<ResultLabels, Counter>,
    webhook_hints: Counter,
    ready: Gauge,
    job_runs: Family<JobRunLabels, Counter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_the_prefix_and_labels() {
        let m = Metrics::new();
        m.event("accepted", "");
        m.event("accepted", "");
        m.event("rejected", "unauthorized");
        m.set_drift("111111111111", "us-east-1", 3);
        m.job_finished("reconcile", Duration::from_millis(250), true);
        m.queue("inbox", 7, Some(Duration::from_secs(12)));
        let text = m.encode();
        assert!(
            text.contains(r#"findings_bridge_events_total{result="accepted",reason=""} 2"#),
            "{text}"
        );
        assert!(text.contains(
            r#"findings_bridge_events_total{result="rejected",reason="unauthorized"} 1"#
        ));
        assert!(
            text.contains(r#"findings_bridge_drift{account="111111111111",region="us-east-1"} 3"#)
        );
        assert!(text.contains(r#"findings_bridge_job_duration_seconds_count{job="reconcile"} 1"#));
        assert!(text.contains(r#"findings_bridge_queue_depth{queue="inbox"} 7"#));
        assert!(text.contains(r#"findings_bridge_oldest_pending_age_seconds{queue="inbox"} 12"#));
        assert_eq!(m.event_count("accepted", ""), 2);
    }
}
