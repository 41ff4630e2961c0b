//! `POST /v1/events` and the managed lifecycle rule (`fb-<name>-<rule>-lifecycle`): a lifecycle
//! change of a finding the store already maps is accepted (its issue must hear of it); the same
//! change of a finding without a mapping is answered "ignored" and not stored, so a lifecycle
//! event can never start a new issue.

mod support;

use std::sync::Arc;

use fb_model::compile::{compile, CompileInputs, LIFECYCLE_SUFFIX};
use fb_model::finding::{parse_event, FindingFormat};
use fb_store::{IssueStatus, Mapping, Store};
use serde_json::{json, Value};
use support::{asff_event, config_yaml, FakeBackend, FakeControl, Secrets, TestDaemon};

/// Finding `n` archived by its provider after we wrote our note: NOTIFIED, ARCHIVED.
fn archived_with_our_note(n: usize) -> Value {
    let mut event = asff_event(n, "GuardDuty");
    let finding = &mut event["detail"]["findings"][0];
    finding["RecordState"] = json!("ARCHIVED");
    finding["Workflow"] = json!({"Status": "NOTIFIED"});
    finding["Note"] = json!({"Text": "Backlog SEC-1", "UpdatedBy": "findings-bridge"});
    finding["UpdatedAt"] = json!("2026-01-02T00:00:00Z");
    event
}

/// The mapping the pipeline would have written when it filed finding `n` as SEC-1.
fn mapping_of(n: usize) -> Mapping {
    let event = parse_event(asff_event(n, "GuardDuty").to_string().as_bytes()).unwrap();
    let f = &event.findings[0];
    let now = chrono::Utc::now();
    Mapping {
        finding_key: f.key.clone(),
        finding_id: f.id.clone(),
        product_arn: f.product_arn.clone(),
        metadata_uid: f.metadata_uid.clone(),
        format: fb_store::FindingFormat::Asff,
        account: f.account.clone(),
        region: f.region.clone(),
        rule: "guardduty".into(),
        title: f.title.clone(),
        issue_key: Some("SEC-1".into()),
        issue_id: Some(1),
        issue_status: IssueStatus::Open,
        severity: "HIGH".into(),
        record_state: "ACTIVE".into(),
        workflow_status: "NOTIFIED".into(),
        workflow_written: Some("NOTIFIED".into()),
        finding_updated_at: Some("2026-01-01T00:00:00Z".into()),
        seen_count: 1,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_are_accepted_for_mapped_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets::new();
    let store_path = dir.path().join("store");
    let config_path = dir.path().join("findings-bridge.yaml");
    let yaml = config_yaml(&secrets, "http://127.0.0.1:9", &store_path);
    std::fs::write(&config_path, &yaml).unwrap();
    {
        let store = Store::open(&store_path).unwrap();
        store.put_mapping(&mapping_of(1)).unwrap();
    }

    // Both events are ones the deployed lifecycle rule delivers; the main rule delivers neither.
    let config = fb_model::config::parse_str(&yaml, "findings-bridge.yaml").unwrap();
    let desired = compile(
        &config,
        &CompileInputs {
            accounts: vec!["111111111111".into()],
            backlog: None,
        },
    )
    .unwrap();
    let rules = &desired.accounts[0].regions[0].rules;
    let pattern_of = |suffix: &str| {
        let name = desired.naming.rule("guardduty", suffix);
        let rule = rules.iter().find(|r| r.name == name);
        rule.unwrap_or_else(|| panic!("{name} in {rules:?}"))
            .event_pattern
            .clone()
    };
    let (main, lifecycle) = (pattern_of(""), pattern_of(LIFECYCLE_SUFFIX));
    for n in [1, 2] {
        let event = archived_with_our_note(n);
        assert!(fb_model::pattern::matches(&lifecycle, &event), "{n}");
        assert!(!fb_model::pattern::matches(&main, &event), "{n}");
        let parsed = parse_event(event.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.findings[0].format, FindingFormat::Asff);
    }

    let control = Arc::new(FakeControl::default());
    let backend = Arc::new(FakeBackend(control));
    let d = TestDaemon::start_in(dir, config_path, store_path, secrets, backend, false).await;
    let key = d.secrets.ingest_key.clone();

    let (s, body) = d
        .post_event(Some(&key), archived_with_our_note(2).to_string())
        .await;
    assert_eq!(
        (s, body["result"].as_str()),
        (202, Some("ignored")),
        "{body}"
    );
    let (s, body) = d
        .post_event(Some(&key), archived_with_our_note(1).to_string())
        .await;
    assert_eq!(
        (s, body["result"].as_str()),
        (202, Some("accepted")),
        "{body}"
    );
    let status = d.status().await;
    assert_eq!(status.counters.events_accepted, 1);
    assert_eq!(status.counters.events_ignored, 1);

    let (result, _dir, store_path) = d.stop().await;
    result.unwrap();
    let store = Store::open(&store_path).unwrap();
    let pending = store.inbox_pending(100).unwrap();
    let bodies: Vec<Value> = pending
        .iter()
        .map(|(_, e)| serde_json::from_str(&e.body).unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![archived_with_our_note(1)],
        "only the mapped finding's"
    );
    assert!(store.mapping(&mapping_of(2).finding_key).unwrap().is_none());
}
