//! Shared test harness: a temporary store, the in-memory fakes, a config parsed from YAML, and
//! finding events built from the real AWS samples in `crates/model/tests/fixtures/aws/`.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fb_model::config::Config;
use fb_store::{EventOrigin, InboxEvent, Store};
use fb_sync::testing::{FakeTracker, FakeWriter};
use fb_sync::{Pipeline, PipelineSettings, ProcessReport};
use serde_json::{json, Value};

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../model/tests/fixtures/aws/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

/// A desired-state file with one GuardDuty relay rule (severity → priority) and one raw-pattern
/// rule for Security Hub control failures with a per-rule variable.
pub fn config_yaml(on_recurrence: &str) -> String {
    format!(
        r#"version: 1
name: test
accounts:
  ids: ["111111111111"]
  role: FindingsBridgeExecution
  regions: [us-east-1]
security_hub:
  account: "111111111111"
  region: us-east-1
backlog:
  base_url: https://example.backlog.test
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
  on_recurrence: {on_recurrence}
relay:
  public_url: https://bridge.example.test
  api_key: env:FB_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\nDescription:\n<Description>\n\nSeverity: <Severity>\n<SourceUrl>"
  - name: controls
    event_pattern:
      source: [aws.securityhub]
      detail:
        findings:
          Compliance:
            Status: [FAILED]
          Workflow:
            Status: [NEW]
    vars:
      ControlId: "$.detail.findings[0].ProductFields.ControlId"
    issue:
      summary: "<ControlId> failed in <AwsAccountId>"
      description: "<Title>"
      priority: Low
server:
  listen: "127.0.0.1:8080"
store:
  path: ./data
"#
    )
}

pub fn config(on_recurrence: &str) -> Arc<Config> {
    Arc::new(
        fb_model::config::parse_str(&config_yaml(on_recurrence), "test.yaml")
            .unwrap_or_else(|e| panic!("test config: {e:?}")),
    )
}

pub struct Harness {
    pub store: Store,
    pub tracker: Arc<FakeTracker>,
    pub writer: Arc<FakeWriter>,
    pub pipeline: Pipeline,
}

/// Retries (and intent searches) are immediate unless a test asks for a delay.
pub fn fast_settings() -> PipelineSettings {
    PipelineSettings {
        retry_base: Duration::ZERO,
        intent_settle: Duration::ZERO,
        ..PipelineSettings::default()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with("reopen", fast_settings())
    }

    pub fn with(on_recurrence: &str, settings: PipelineSettings) -> Harness {
        let store = Store::open_temporary().expect("temporary store");
        let tracker = Arc::new(FakeTracker::new());
        let writer = Arc::new(FakeWriter::new());
        let pipeline = Pipeline::with_settings(
            store.clone(),
            tracker.clone(),
            writer.clone(),
            config(on_recurrence),
            settings,
        );
        Harness {
            store,
            tracker,
            writer,
            pipeline,
        }
    }

    /// A new pipeline over the same store and fakes: a restart.
    pub fn restart(&mut self) {
        self.pipeline = Pipeline::with_settings(
            self.store.clone(),
            self.tracker.clone(),
            self.writer.clone(),
            config("reopen"),
            fast_settings(),
        );
    }

    pub async fn deliver(&self, event: &Value) {
        self.store
            .accept(InboxEvent {
                received_at: chrono::Utc::now(),
                origin: EventOrigin::Relay,
                body: event.to_string(),
            })
            .await
            .expect("accept");
    }

    pub async fn process(&self) -> ProcessReport {
        self.pipeline.process_pending().await.expect("pass")
    }

    /// Passes until the inbox is empty (bounded).
    pub async fn drain(&self) -> ProcessReport {
        let mut total = ProcessReport::default();
        for _ in 0..20 {
            let r = self.process().await;
            total.events_done += r.events_done;
            total.created += r.created;
            total.adopted += r.adopted;
            total.known += r.known;
            total.echoes += r.echoes;
            total.ignored += r.ignored;
            total.retry += r.retry;
            total.failed += r.failed;
            total.malformed += r.malformed;
            if self.store.inbox_len() == 0 {
                return total;
            }
        }
        panic!("inbox not drained: {}", self.store.inbox_len());
    }
}

pub const T1: &str = "2020-09-30T12:14:00.206Z";
pub const T2: &str = "2020-09-30T18:14:00.206Z";
pub const T3: &str = "2020-10-01T00:14:00.206Z";

pub fn finding_id(n: usize) -> String {
    format!("arn:aws:guardduty:us-east-1:193043430472:detector/d4b040365221be2b54a6264dc9a4bc64/finding/f{n}")
}

/// GuardDuty finding `n` in ASFF (from the AWS docs sample) inside an Imported event.
pub fn gd_event(n: usize, workflow: &str, updated_at: &str, severity: &str) -> Value {
    let mut f = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    f["Id"] = json!(finding_id(n));
    f["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/guardduty");
    f["ProductName"] = json!("GuardDuty");
    f["Region"] = json!("us-east-1");
    f["Workflow"] = json!({"Status": workflow});
    f["UpdatedAt"] = json!(updated_at);
    f["Severity"] = json!({"Label": severity});
    wrap(f)
}

pub fn wrap(finding: Value) -> Value {
    json!({
        "version": "0", "id": "ev", "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": "193043430472", "time": "2020-09-30T12:15:00Z",
        "region": "us-east-1", "resources": [], "detail": {"findings": [finding]},
    })
}

/// The event Security Hub emits after our BatchUpdateFindings: NOTIFIED, our note, same UpdatedAt.
pub fn echo_of(event: &Value) -> Value {
    let mut echo = event.clone();
    let f = &mut echo["detail"]["findings"][0];
    f["Workflow"] = json!({"Status": "NOTIFIED"});
    f["Note"] = json!({"Text": "Backlog SEC-1", "UpdatedBy": "findings-bridge", "UpdatedAt": "2020-10-01T00:00:00Z"});
    echo
}
