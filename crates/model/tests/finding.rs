//! `fb_model::finding` on the real AWS samples in `tests/fixtures/aws/` (see its SOURCES.md).
//! Detail-only samples are wrapped into EventBridge envelopes here, not in the fixture files.

use fb_model::finding::{asff_event, parse_event, EventError, FindingFormat, Severity};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/aws/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn envelope(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": "e-1", "detail-type": detail_type, "source": source,
        "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail,
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

#[test]
fn asff_control_finding_event() {
    let event = parse_event(&bytes(&fixture(
        "securityhub-findings-imported-asff-control-afsbp-ec2.7.json",
    )))
    .expect("parses");
    assert_eq!(event.detail_type, "Security Hub Findings - Imported");
    assert_eq!(event.id, "1622bd23-7237-fdec-8fb0-a019cccfd3cb");
    assert_eq!(event.account, "111111111111");
    assert_eq!(event.findings.len(), 1);
    let f = &event.findings[0];
    let id = "arn:aws:securityhub:us-east-1:111111111111:subscription/aws-foundational-security-best-practices/v/1.0.0/EC2.7/finding/0003b335-cf3f-4f93-a025-6b1a7baced06";
    assert_eq!(f.id, id);
    assert_eq!(f.key, id, "an ARN Id is the key by itself");
    assert_eq!(
        f.product_arn.as_deref(),
        Some("arn:aws:securityhub:us-east-1::product/aws/securityhub")
    );
    assert_eq!(f.format, FindingFormat::Asff);
    assert_eq!(f.product_name, "Security Hub");
    assert_eq!(f.severity, Severity::Informational);
    assert_eq!(f.title, "EC2.7 EBS default encryption should be enabled");
    assert_eq!(f.account, "111111111111");
    assert_eq!(
        f.region, "us-east-1",
        "taken from the ProductArn when Region is absent"
    );
    assert_eq!(f.resource_type.as_deref(), Some("AwsAccount"));
    assert_eq!(
        f.resource_id.as_deref(),
        Some("AWS::::Account:111111111111")
    );
    assert_eq!(f.workflow_status, "NEW");
    assert_eq!(f.record_state, "ACTIVE");
    assert_eq!(f.compliance_status.as_deref(), Some("FAILED"));
    assert_eq!(f.updated_at.as_deref(), Some("2021-02-17T14:56:09.063Z"));
    assert_eq!(f.count, None);
    assert_eq!(
        f.var("FindingType").as_deref(),
        Some("Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices")
    );
    assert_eq!(f.var("Severity").as_deref(), Some("INFORMATIONAL"));
    assert_eq!(f.var("SourceUrl"), None);
    assert_eq!(f.var("NoSuchVar"), None);
}

#[test]
fn guardduty_in_asff_wrapped_in_an_envelope() {
    let finding = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    let event = envelope(
        "Security Hub Findings - Imported",
        "aws.securityhub",
        json!({"findings": [finding]}),
    );
    let f = &parse_event(&bytes(&event)).expect("parses").findings[0];
    assert_eq!(f.product_name, "GuardDuty", "from ProductFields");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.count, Some(74));
    assert_eq!(
        f.finding_type,
        "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"
    );
    assert_eq!(f.resource_type.as_deref(), Some("AwsEc2Instance"));
    assert_eq!(f.var("AwsAccountId").as_deref(), Some("193043430472"));
    assert!(f
        .var("SourceUrl")
        .unwrap()
        .contains("fId=46ba0ac2845071e23ccdeb2ae03bfdea"));
    assert_eq!(f.key, f.id);
}

#[test]
fn ocsf_v2_event() {
    let event = parse_event(&bytes(&fixture(
        "securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json",
    )))
    .expect("parses");
    assert_eq!(event.detail_type, "Findings Imported V2");
    let f = &event.findings[0];
    let arn = "arn:aws:guardduty:us-east-1:869728294630:detector/b4c71b47fb852d3fc0e99a82fa2841aa/finding/06c95f0cfdfd3b579b977e20e9da1aa4";
    assert_eq!(f.format, FindingFormat::Ocsf);
    assert_eq!(f.key, arn, "GuardDuty's ARN, as in ASFF and raw GuardDuty");
    assert_eq!(f.id, arn);
    assert_eq!(
        f.metadata_uid.as_deref(),
        Some("1d24e91799652d9e17025b61d94f436b20b515b6f3cd9bda788f48c1db9cf244")
    );
    assert_eq!(f.product_name, "GuardDuty");
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.workflow_status, "SUPPRESSED");
    assert_eq!(f.record_state, "ACTIVE");
    assert_eq!(f.account, "869728294964");
    assert_eq!(f.count, Some(264));
    assert_eq!(f.finding_type, "Stealth:IAMUser/CloudTrailLoggingDisabled");
    assert_eq!(f.resource_type.as_deref(), Some("AWS::IAM::AccessKey"));
    assert_eq!(f.updated_at.as_deref(), Some("2025-07-22T03:02:34.272Z"));
}

#[test]
fn ocsf_without_an_arn_uid_is_keyed_by_metadata_uid() {
    let mut event = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    event["detail"]["findings"][0]["finding_info"]["uid"] = json!("plain-id-1");
    let f = &parse_event(&bytes(&event)).expect("parses").findings[0];
    assert_eq!(
        f.key,
        "1d24e91799652d9e17025b61d94f436b20b515b6f3cd9bda788f48c1db9cf244"
    );
    assert_eq!(f.id, "plain-id-1");
}

#[test]
fn raw_guardduty_event_and_detail_only_sample() {
    let event = parse_event(&bytes(&fixture(
        "guardduty-finding-event-raw-sample-o7conseils.json",
    )))
    .expect("parses");
    let f = &event.findings[0];
    assert_eq!(f.format, FindingFormat::GuardDuty);
    assert_eq!(f.key, "arn:aws:guardduty:ca-central-1:303697492861:detector/e8b2d11eace51dd009880267917bb379/finding/7ebc050b71c556086b524045c9067feb");
    assert_eq!(
        f.product_arn.as_deref(),
        Some("arn:aws:securityhub:ca-central-1::product/aws/guardduty")
    );
    assert_eq!(f.severity, Severity::Medium, "5 is Medium");
    assert_eq!(f.resource_id.as_deref(), Some("i-99999999"));
    assert_eq!(f.count, Some(1));
    assert_eq!(f.record_state, "ACTIVE");

    let detail = fixture("guardduty-finding-detail-only-aws-samples.json");
    let wrapped = envelope("GuardDuty Finding", "aws.guardduty", detail);
    let f = &parse_event(&bytes(&wrapped)).expect("parses").findings[0];
    assert_eq!(f.key, "arn:aws:guardduty:us-east-1:123456789012:detector/123456789012/finding/16afba5c5c43e07c9e3e5e2e544e95df");
    assert_eq!(f.finding_type, "Canary:EC2/Stateless.IntegTest");
    assert_eq!(f.resource_type.as_deref(), Some("Instance"));
}

/// One GuardDuty finding delivered as ASFF, OCSF and raw: the same key each time. The three
/// fixtures describe different findings, so the test gives them one ARN, as AWS does.
#[test]
fn one_guardduty_finding_has_one_key_in_every_format() {
    let raw = fixture("guardduty-finding-event-raw-sample-o7conseils.json");
    let arn = raw["detail"]["arn"].clone();

    let mut asff = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    asff["Id"] = arn.clone();
    let asff = envelope(
        "Security Hub Findings - Imported",
        "aws.securityhub",
        json!({"findings": [asff]}),
    );
    let mut ocsf = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    ocsf["detail"]["findings"][0]["finding_info"]["uid"] = arn.clone();

    let keys: Vec<String> = [raw, asff, ocsf]
        .iter()
        .map(|e| {
            parse_event(&bytes(e)).expect("parses").findings[0]
                .key
                .clone()
        })
        .collect();
    assert_eq!(keys, vec![arn.as_str().unwrap().to_string(); 3]);
}

#[test]
fn non_arn_asff_id_is_qualified_by_product() {
    let mut finding = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    finding["Id"] = json!("finding-42");
    let event = envelope(
        "Security Hub Findings - Imported",
        "aws.securityhub",
        json!({"findings": [finding]}),
    );
    let f = &parse_event(&bytes(&event)).expect("parses").findings[0];
    assert_eq!(
        f.key,
        "arn:aws::securityhub:us-east-1::product/aws/guardduty|finding-42"
    );
}

#[test]
fn severity_derivations_follow_aws_tables() {
    assert_eq!(Severity::from_normalized(0.0), Severity::Informational);
    assert_eq!(Severity::from_normalized(39.0), Severity::Low);
    assert_eq!(Severity::from_normalized(40.0), Severity::Medium);
    assert_eq!(Severity::from_normalized(70.0), Severity::High);
    assert_eq!(Severity::from_normalized(90.0), Severity::Critical);
    assert_eq!(Severity::from_guardduty(3.9), Severity::Low);
    assert_eq!(Severity::from_guardduty(8.9), Severity::High);
    assert_eq!(Severity::from_guardduty(9.0), Severity::Critical);
    assert_eq!(Severity::from_ocsf_id(4), Severity::High);
    assert_eq!(Severity::from_ocsf_id(6), Severity::Critical);
    assert!(Severity::Critical > Severity::High);

    // Without a Label, ASFF falls back to Normalized.
    let mut finding = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    finding["Severity"] = json!({"Normalized": 75});
    let event = envelope(
        "Security Hub Findings - Imported",
        "aws.securityhub",
        json!({"findings": [finding]}),
    );
    assert_eq!(
        parse_event(&bytes(&event)).unwrap().findings[0].severity,
        Severity::High
    );
}

#[test]
fn event_path_evaluates_json_paths() {
    let event = parse_event(&bytes(&fixture(
        "securityhub-findings-imported-asff-control-afsbp-ec2.7.json",
    )))
    .unwrap();
    assert_eq!(
        event
            .path("$.detail.findings[0].ProductFields.ControlId")
            .as_deref(),
        Some("EC2.7")
    );
    assert_eq!(
        event
            .path("$.detail.findings[0].Resources[0].Type")
            .as_deref(),
        Some("AwsAccount")
    );
    assert_eq!(
        event
            .path("$.detail.findings[0].Severity.Normalized")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        event.path("$.detail-type").as_deref(),
        Some("Security Hub Findings - Imported")
    );
    assert_eq!(event.path("$.detail.findings[3].Id"), None);
    assert_eq!(event.path("detail.findings"), None, "must start with $");
    assert_eq!(event.path("$.detail.findings[x]"), None);
}

#[test]
fn backfill_wrapping_round_trips() {
    let finding = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    let event = asff_event(finding.clone(), "backfill-1", "2024-01-01T00:00:00Z");
    let parsed = parse_event(&bytes(&event)).unwrap();
    assert_eq!(parsed.account, "193043430472");
    assert_eq!(parsed.findings[0].id, finding["Id"].as_str().unwrap());
}

#[test]
fn malformed_bodies_get_specific_errors() {
    let err = |body: &[u8]| parse_event(body).expect_err("must fail");
    assert!(matches!(err(b"{not json"), EventError::NotJson(_)));
    assert!(matches!(err(b"[1,2]"), EventError::NotAnObject));
    assert!(matches!(
        err(br#"{"source":"aws.securityhub","detail":{}}"#),
        EventError::MissingField {
            field: "detail-type"
        }
    ));
    let unknown = err(&bytes(&envelope(
        "EC2 Instance State-change Notification",
        "aws.ec2",
        json!({}),
    )));
    assert!(matches!(unknown, EventError::UnknownDetailType { .. }));
    assert!(unknown
        .to_string()
        .contains("EC2 Instance State-change Notification"));
    assert!(matches!(
        err(&bytes(&envelope(
            "Security Hub Findings - Imported",
            "aws.guardduty",
            json!({})
        ))),
        EventError::UnknownDetailType { .. }
    ));
    assert!(matches!(
        err(&bytes(&envelope(
            "Security Hub Findings - Imported",
            "aws.securityhub",
            json!({"findings": []})
        ))),
        EventError::NoFindings
    ));
    let mut no_id = envelope(
        "Security Hub Findings - Imported",
        "aws.securityhub",
        json!({}),
    );
    no_id["detail"] = json!({"findings": [{"ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty"}]});
    assert!(matches!(
        err(&bytes(&no_id)),
        EventError::MissingFindingField {
            index: 0,
            field: "Id"
        }
    ));
    assert!(matches!(
        err(&bytes(&envelope(
            "Findings Imported V2",
            "aws.securityhub",
            json!({"findings": [3]})
        ))),
        EventError::FindingNotObject { index: 0 }
    ));
    assert!(matches!(
        err(&bytes(&envelope(
            "GuardDuty Finding",
            "aws.guardduty",
            json!({"id": "x"})
        ))),
        EventError::MissingFindingField { field: "arn", .. }
    ));
    let mut no_detail = envelope("GuardDuty Finding", "aws.guardduty", json!({}));
    no_detail.as_object_mut().unwrap().remove("detail");
    assert!(matches!(err(&bytes(&no_detail)), EventError::NoDetail));
}
