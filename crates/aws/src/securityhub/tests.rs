//! The client against a small fake Security Hub on 127.0.0.1 (moto has no
//! BatchUpdateFindings): it records each request body and answers per finding id — `missing-*`
//! not found, `busy-*` a concurrent update, `throttle` a 429 for the whole request.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_securityhub::config::{BehaviorVersion, Region};
use aws_smithy_types::retry::RetryConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::*;

type Seen = Arc<Mutex<Vec<Value>>>;

async fn batch_update(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.lock().unwrap().push(body.clone());
    let ids = body["FindingIdentifiers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if ids.iter().any(|i| i["Id"] == "throttle") {
        return throttled();
    }
    let (mut processed, mut unprocessed) = (vec![], vec![]);
    for ident in ids {
        let id = ident["Id"].as_str().unwrap_or_default();
        if id.starts_with("missing") {
            unprocessed.push(json!({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "no such finding"}));
        } else if id.starts_with("busy") {
            unprocessed.push(json!({"FindingIdentifier": ident, "ErrorCode": "ConcurrentUpdateError", "ErrorMessage": "try again"}));
        } else {
            processed.push(ident);
        }
    }
    Json(json!({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}))
        .into_response()
}

async fn batch_update_v2(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.lock().unwrap().push(body.clone());
    let uids = body["MetadataUids"].as_array().cloned().unwrap_or_default();
    let idents = body["FindingIdentifiers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !uids.is_empty() && !idents.is_empty() {
        // As Security Hub: one identifier form per request.
        return (
            StatusCode::BAD_REQUEST,
            [("x-amzn-errortype", "ValidationException")],
            Json(json!({"message": "MetadataUids or FindingIdentifiers, not both"})),
        )
            .into_response();
    }
    let (mut processed, mut unprocessed) = (vec![], vec![]);
    for uid in uids {
        if uid.as_str().is_some_and(|u| u.starts_with("missing")) {
            unprocessed.push(json!({"MetadataUid": uid, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "gone"}));
        } else {
            processed.push(json!({"MetadataUid": uid}));
        }
    }
    for ident in idents {
        let info_uid = ident["FindingInfoUid"].as_str().unwrap_or_default();
        if info_uid.starts_with("missing") {
            unprocessed.push(json!({"FindingIdentifier": ident, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "gone"}));
        } else {
            processed.push(json!({"FindingIdentifier": ident}));
        }
    }
    Json(json!({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}))
        .into_response()
}

async fn get_findings(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.lock().unwrap().push(body);
    Json(json!({
        "Findings": [{
            "SchemaVersion": "2018-10-08",
            "Id": "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f1",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "ProductName": "GuardDuty",
            "GeneratorId": "arn:aws:guardduty:us-east-1:111111111111:detector/d",
            "AwsAccountId": "111111111111",
            "Region": "us-east-1",
            "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
            "CreatedAt": "2026-11-01T00:00:00.000Z",
            "UpdatedAt": "2026-11-02T00:00:00.000Z",
            "Severity": {"Label": "HIGH", "Normalized": 70},
            "Title": "Unprotected port on EC2 instance",
            "Description": "A port is being probed.",
            "SourceUrl": "https://console.aws.amazon.com/guardduty",
            "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"}],
            "Workflow": {"Status": "NEW"},
            "RecordState": "ACTIVE",
            "Note": {"Text": "Backlog SEC-1", "UpdatedBy": "findings-bridge", "UpdatedAt": "2026-11-02T00:00:00.000Z"}
        }],
        "NextToken": "page-2"
    }))
    .into_response()
}

fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("x-amzn-errortype", "LimitExceededException")],
        Json(json!({"message": "slow down"})),
    )
        .into_response()
}

async fn fake_hub() -> (SecurityHubClient, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/findings/batchupdate", patch(batch_update))
        .route("/findingsv2/batchupdatev2", patch(batch_update_v2))
        .route("/findings", post(get_findings))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_sdk_securityhub::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "unit"))
        .endpoint_url(format!("http://{addr}"))
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .build();
    (
        SecurityHubClient::from_client(aws_sdk_securityhub::Client::from_conf(conf)),
        seen,
    )
}

fn update(id: &str, note: &str) -> WorkflowUpdate {
    WorkflowUpdate {
        finding_id: id.into(),
        product_arn: "arn:aws:securityhub:us-east-1::product/aws/guardduty".into(),
        workflow: Workflow::Notified,
        note: Some(note.into()),
    }
}

#[test]
fn notes_are_clipped_to_512_characters() {
    let long = "é".repeat(600);
    let clipped = clip_note(Some(&long)).unwrap();
    assert_eq!(clipped.chars().count(), MAX_NOTE_CHARS);
    assert_eq!(
        clip_note(Some("Backlog SEC-1")).as_deref(),
        Some("Backlog SEC-1")
    );
    assert_eq!(clip_note(Some("  ")), None);
    assert_eq!(clip_note(None), None);
}

#[test]
fn grouping_keeps_first_seen_order() {
    let groups = group(vec![("a", 1), ("b", 2), ("a", 3), ("a", 1)], |(k, v)| {
        (k, v)
    });
    assert_eq!(groups, vec![("a", vec![1, 3]), ("b", vec![2])]);
}

#[test]
fn unprocessed_codes_are_classified() {
    assert!(unprocessed(Some("x"), Some("ConcurrentUpdateError"), None).retryable);
    assert!(unprocessed(Some("x"), Some("InternalFailure"), None).retryable);
    assert!(unprocessed(Some("x"), Some("ConflictException"), None).retryable);
    assert!(!unprocessed(Some("x"), Some("FindingNotFound"), None).retryable);
    assert!(!unprocessed(Some("x"), Some("InvalidInput"), None).retryable);
}

#[test]
fn workflow_maps_to_ocsf_status_ids() {
    assert_eq!(Workflow::Notified.ocsf_status_id(), 2);
    assert_eq!(Workflow::Suppressed.ocsf_status_id(), 3);
    assert_eq!(Workflow::Resolved.ocsf_status_id(), 4);
}

#[tokio::test]
async fn same_note_findings_go_in_chunks_of_100() {
    let (hub, seen) = fake_hub().await;
    let updates: Vec<_> = (0..250)
        .map(|i| update(&format!("f{i}"), "Backlog sync"))
        .collect();
    let outcome = hub.batch_update_workflow(updates).await;
    assert_eq!(outcome.processed.len(), 250);
    assert!(outcome.unprocessed.is_empty());
    assert_eq!(outcome.calls, 3);
    let sizes: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["FindingIdentifiers"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first["Workflow"]["Status"], "NOTIFIED");
    assert_eq!(first["Note"]["UpdatedBy"], UPDATED_BY);
    assert_eq!(first["Note"]["Text"], "Backlog sync");
}

#[tokio::test]
async fn different_notes_are_separate_requests_and_long_notes_are_clipped() {
    let (hub, seen) = fake_hub().await;
    let long = "x".repeat(700);
    let outcome = hub
        .batch_update_workflow(vec![update("a", "Backlog SEC-1"), update("b", &long)])
        .await;
    assert_eq!(outcome.calls, 2);
    assert_eq!(outcome.processed, vec!["a", "b"]);
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies[0]["Note"]["Text"], "Backlog SEC-1");
    assert_eq!(
        bodies[1]["Note"]["Text"].as_str().unwrap().len(),
        MAX_NOTE_CHARS
    );
}

#[tokio::test]
async fn partial_failures_come_back_per_finding() {
    let (hub, _) = fake_hub().await;
    let outcome = hub
        .batch_update_workflow(vec![
            update("ok", "n"),
            update("missing-1", "n"),
            update("busy-1", "n"),
        ])
        .await;
    assert_eq!(outcome.processed, vec!["ok"]);
    let codes: Vec<(&str, &str, bool)> = outcome
        .unprocessed
        .iter()
        .map(|u| (u.finding_id.as_str(), u.code.as_str(), u.retryable))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("missing-1", "FindingNotFound", false),
            ("busy-1", "ConcurrentUpdateError", true)
        ]
    );
}

#[tokio::test]
async fn a_throttled_request_marks_its_findings_retryable() {
    let (hub, _) = fake_hub().await;
    let outcome = hub
        .batch_update_workflow(vec![update("throttle", "n"), update("other", "n")])
        .await;
    assert!(outcome.processed.is_empty());
    assert_eq!(outcome.unprocessed.len(), 2);
    for u in &outcome.unprocessed {
        assert!(u.retryable, "{u:?}");
        assert_eq!(u.code, "LimitExceededException");
    }
}

#[tokio::test]
async fn v2_updates_send_status_id_and_comment() {
    let (hub, seen) = fake_hub().await;
    let outcome = hub
        .batch_update_v2(vec![
            OcsfUpdate {
                identifier: OcsfIdentifier::MetadataUid("u1".into()),
                workflow: Workflow::Resolved,
                comment: Some("closed in Backlog".into()),
            },
            OcsfUpdate {
                identifier: OcsfIdentifier::MetadataUid("missing-2".into()),
                workflow: Workflow::Resolved,
                comment: Some("closed in Backlog".into()),
            },
        ])
        .await;
    assert_eq!(outcome.calls, 1);
    assert_eq!(outcome.processed, vec!["u1"]);
    assert_eq!(outcome.unprocessed[0].code, "ResourceNotFoundException");
    assert!(!outcome.unprocessed[0].retryable);
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(body["StatusId"], 4);
    assert_eq!(body["Comment"], "closed in Backlog");
    assert_eq!(body["MetadataUids"], json!(["u1", "missing-2"]));
}

fn by_finding(info_uid: &str) -> OcsfIdentifier {
    OcsfIdentifier::Finding {
        cloud_account_uid: "111111111111".into(),
        finding_info_uid: info_uid.into(),
        metadata_product_uid: "arn:aws:securityhub:us-east-1::product/aws/guardduty".into(),
    }
}

#[tokio::test]
async fn v2_sends_each_identifier_form_in_its_own_request() {
    let (hub, seen) = fake_hub().await;
    let ocsf = |identifier| OcsfUpdate {
        identifier,
        workflow: Workflow::Notified,
        comment: Some("Backlog SEC-1".into()),
    };
    let outcome = hub
        .batch_update_v2(vec![
            ocsf(OcsfIdentifier::MetadataUid("meta-1".into())),
            ocsf(by_finding("info-2")),
            ocsf(by_finding("missing-3")),
        ])
        .await;
    assert_eq!(outcome.calls, 2);
    assert_eq!(outcome.processed, vec!["meta-1", "info-2"]);
    assert_eq!(outcome.unprocessed.len(), 1);
    assert_eq!(outcome.unprocessed[0].finding_id, "missing-3");
    assert_eq!(outcome.unprocessed[0].code, "ResourceNotFoundException");
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies[0]["MetadataUids"], json!(["meta-1"]));
    assert!(
        bodies[0].get("FindingIdentifiers").is_none(),
        "{}",
        bodies[0]
    );
    assert!(bodies[1].get("MetadataUids").is_none(), "{}", bodies[1]);
    assert_eq!(
        bodies[1]["FindingIdentifiers"][0],
        json!({
            "CloudAccountUid": "111111111111",
            "FindingInfoUid": "info-2",
            "MetadataProductUid": "arn:aws:securityhub:us-east-1::product/aws/guardduty"
        })
    );
    assert_eq!(bodies[1]["FindingIdentifiers"].as_array().unwrap().len(), 2);
    for body in &bodies {
        assert_eq!(body["StatusId"], 2);
        assert_eq!(body["Comment"], "Backlog SEC-1");
    }
}

#[tokio::test]
async fn get_findings_sends_filters_and_returns_asff_json() {
    let (hub, seen) = fake_hub().await;
    let filters = FindingFilters {
        product_names: vec!["GuardDuty".into()],
        workflow_statuses: vec!["NEW".into()],
        updated_within_days: Some(7),
        ..FindingFilters::default()
    };
    let page = hub.get_findings(&filters, 100, None).await.unwrap();
    assert_eq!(page.next_token.as_deref(), Some("page-2"));
    let f = &page.findings[0];
    assert_eq!(
        f["Id"],
        "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f1"
    );
    assert_eq!(
        f["ProductArn"],
        "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    );
    assert_eq!(f["Severity"]["Label"], "HIGH");
    assert_eq!(f["Workflow"]["Status"], "NEW");
    assert_eq!(f["RecordState"], "ACTIVE");
    assert_eq!(
        f["Types"][0],
        "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"
    );
    assert_eq!(f["Resources"][0]["Type"], "AwsEc2Instance");
    assert_eq!(f["Note"]["UpdatedBy"], "findings-bridge");
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(body["MaxResults"], 100);
    assert_eq!(
        body["Filters"]["ProductName"],
        json!([{"Value": "GuardDuty", "Comparison": "EQUALS"}])
    );
    assert_eq!(body["Filters"]["WorkflowStatus"][0]["Value"], "NEW");
    assert_eq!(
        body["Filters"]["UpdatedAt"][0]["DateRange"],
        json!({"Value": 7, "Unit": "DAYS"})
    );
    assert!(body["Filters"].get("SeverityLabel").is_none());
}

#[tokio::test]
async fn get_findings_refuses_a_page_size_over_100_without_a_call() {
    let (hub, seen) = fake_hub().await;
    let err = hub
        .get_findings(&FindingFilters::default(), 101, None)
        .await
        .unwrap_err();
    assert!(matches!(err, SecurityHubError::MaxResults(101)));
    assert!(!err.retryable());
    assert!(seen.lock().unwrap().is_empty());
}
