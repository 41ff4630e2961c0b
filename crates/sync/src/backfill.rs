//! Backfill: findings still NEW in Security Hub that the rules match (missed while the daemon
//! was down past EventBridge's retries) are read with GetFindings and queued into the inbox as
//! synthetic `Security Hub Findings - Imported` events (origin Backfill), so the ordinary
//! pipeline handles them — a finding that already has its issue is skipped here and would be a
//! no-op there anyway. Unfinished create intents without a pending delivery are resolved first
//! (see [`Pipeline::backfill`]); the daemon runs backfill once at start, so intents left by a
//! crash are resolved at start.
//!
//! Must not: create issues itself, or exceed GetFindings' rate (the writer paces its calls).

use chrono::Utc;
use fb_model::config::{Config, Delivery, RulePattern};
use fb_model::finding::{asff_event, parse_event_value};
use fb_store::{EventOrigin, InboxEvent, StoreError};
use serde::Serialize;

use crate::pipeline::Pipeline;
use crate::rules;
use crate::stats::PipelineStats;
use crate::writer::{FindingQuery, WriterError};

/// What one [`Pipeline::backfill`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    pub pages: usize,
    pub fetched: usize,
    /// Queued into the inbox.
    pub queued: usize,
    /// Already mapped to an issue.
    pub known: usize,
    /// No enabled relay rule matches.
    pub unmatched: usize,
    /// Not parseable as an ASFF finding.
    pub invalid: usize,
    /// Stopped at `backfill_max_pages` with more pages left.
    pub truncated: bool,
    /// Create intents whose issue is already recorded (removed).
    pub stale_intents: usize,
    /// Findings of unfinished create intents queued again (the pass then searches first).
    pub intents_requeued: usize,
}

/// Findings per GetFindings `Id` filter.
const IDS_PER_QUERY: usize = 20;

/// The ASFF `Id` inside a finding key (see `fb_model::finding`: `Id` or `ProductArn|Id`).
fn asff_id_of(key: &str) -> &str {
    key.split_once('|').map_or(key, |(_, id)| id)
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("GetFindings failed during backfill")]
    Fetch(#[source] WriterError),
    #[error("the store failed during backfill")]
    Store(#[source] StoreError),
}

impl From<StoreError> for BackfillError {
    fn from(e: StoreError) -> Self {
        BackfillError::Store(e)
    }
}

/// NEW + ACTIVE findings of the relay rules' products (no product filter when a rule has a raw
/// pattern or no product list: the rules then decide per finding).
pub(crate) fn backfill_query(config: &Config) -> Option<FindingQuery> {
    let relay: Vec<_> = config
        .rules
        .iter()
        .filter(|r| r.enabled && r.delivery == Delivery::Relay)
        .collect();
    if relay.is_empty() {
        return None;
    }
    let mut product_names: Vec<String> = Vec::new();
    for rule in &relay {
        match &rule.pattern {
            RulePattern::Match(m) if !m.product_names.is_empty() => {
                product_names.extend(m.product_names.iter().cloned())
            }
            _ => {
                product_names.clear();
                break;
            }
        }
    }
    product_names.sort();
    product_names.dedup();
    Some(FindingQuery {
        product_names,
        workflow_statuses: vec!["NEW".into()],
        record_states: vec!["ACTIVE".into()],
        max_results: 100,
        ..FindingQuery::default()
    })
}

impl Pipeline {
    /// Reads matching NEW findings and queues the unknown ones (see the module header).
    pub async fn backfill(&self) -> Result<BackfillReport, BackfillError> {
        let config = self.config();
        let mut report = BackfillReport::default();
        self.resolve_intents(&mut report).await?;
        let Some(mut query) = backfill_query(&config) else {
            return Ok(report);
        };
        let store = &self.inner.store;
        let now = Utc::now();
        let time = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        loop {
            if report.pages >= self.inner.settings.backfill_max_pages {
                report.truncated = true;
                break;
            }
            let page = self
                .inner
                .writer
                .get_findings(&query)
                .await
                .map_err(BackfillError::Fetch)?;
            report.pages += 1;
            for finding in page.findings {
                report.fetched += 1;
                let id = format!("backfill-{}-{}", now.timestamp(), report.fetched);
                let raw = asff_event(finding, &id, &time);
                let event = match parse_event_value(raw.clone()) {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::warn!(%error, "backfill: skipping a finding that does not parse");
                        report.invalid += 1;
                        continue;
                    }
                };
                let Some(finding) = event.findings.first() else {
                    report.invalid += 1;
                    continue;
                };
                if store
                    .mapping(&finding.key)?
                    .is_some_and(|m| m.issue_key.is_some())
                {
                    report.known += 1;
                    continue;
                }
                if rules::select_rule(&config, finding, &raw).is_none() {
                    report.unmatched += 1;
                    continue;
                }
                store.inbox_insert(&InboxEvent {
                    received_at: Utc::now(),
                    origin: EventOrigin::Backfill,
                    body: raw.to_string(),
                })?;
                PipelineStats::bump(&self.inner.stats.backfill_queued);
                report.queued += 1;
            }
            match page.next_token {
                Some(token) if !token.is_empty() => query.next_token = Some(token),
                _ => break,
            }
        }
        store.flush().await?;
        tracing::info!(?report, "backfill");
        Ok(report)
    }

    /// Unfinished create intents left without a pending delivery (e.g. the daemon was down
    /// longer than EventBridge retried): a stale one (the mapping has its issue) is removed;
    /// otherwise the finding is fetched and queued again, so the pass resolves the intent the
    /// usual way — marker search first, create only if absent.
    async fn resolve_intents(&self, report: &mut BackfillReport) -> Result<(), BackfillError> {
        let store = &self.inner.store;
        let mut open = Vec::new();
        for intent in store.intents()? {
            if store
                .mapping(&intent.finding_key)?
                .is_some_and(|m| m.issue_key.is_some())
            {
                store.remove_intent(&intent.finding_key)?;
                report.stale_intents += 1;
            } else {
                open.push(asff_id_of(&intent.finding_key).to_string());
            }
        }
        let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for ids in open.chunks(IDS_PER_QUERY) {
            let query = FindingQuery {
                finding_ids: ids.to_vec(),
                max_results: 100,
                ..FindingQuery::default()
            };
            let page = self
                .inner
                .writer
                .get_findings(&query)
                .await
                .map_err(BackfillError::Fetch)?;
            // Only the asked-for findings, even from a writer that ignores the Id filter.
            let asked = |f: &serde_json::Value| {
                f.get("Id")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|id| ids.iter().any(|i| i == id))
            };
            for (i, finding) in page.findings.into_iter().filter(asked).enumerate() {
                let raw = asff_event(
                    finding,
                    &format!("intent-{}-{i}", Utc::now().timestamp()),
                    &time,
                );
                store.inbox_insert(&InboxEvent {
                    received_at: Utc::now(),
                    origin: EventOrigin::Backfill,
                    body: raw.to_string(),
                })?;
                report.intents_requeued += 1;
            }
        }
        if report.stale_intents + report.intents_requeued > 0 {
            tracing::info!(
                stale = report.stale_intents,
                requeued = report.intents_requeued,
                "unfinished create intents"
            );
        }
        Ok(())
    }
}
