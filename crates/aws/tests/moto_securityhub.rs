//! The Security Hub client against moto with the harness's BatchUpdateFindings and GetFindings
//! filter additions: reached through the assumed role in the `security_hub` account, paging,
//! filters, workflow write-back with the note, unknown findings reported per finding.

use aws_sdk_securityhub::types::{AwsSecurityFinding, Resource, Severity, SeverityLabel};
use fb_aws::securityhub::{
    FindingFilters, SecurityHubClient, Workflow, WorkflowUpdate, UPDATED_BY,
};
use fb_aws::Sessions;
use fb_e2e::moto::Moto;
use fb_model::config::types::{RoleTarget, SecurityHub};

const HUB: &str = "111111111111";
const REGION: &str = "ap-northeast-1";
const ROLE: &str = "FindingsBridgeExecution";
const PRODUCT: &str = "arn:aws:securityhub:ap-northeast-1::product/aws/guardduty";

fn finding(n: usize, severity: SeverityLabel) -> AwsSecurityFinding {
    let id = format!("arn:aws:guardduty:{REGION}:{HUB}:detector/d/finding/f{n}");
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(id)
        .product_arn(PRODUCT)
        .product_name("GuardDuty")
        .generator_id("arn:aws:guardduty:detector/d")
        .aws_account_id(HUB)
        .region(REGION)
        .types("TTPs/Discovery")
        .created_at("2026-11-01T00:00:00.000Z")
        .updated_at("2026-11-01T00:00:00.000Z")
        .severity(Severity::builder().label(severity).build())
        .title(format!("finding {n}"))
        .description("test finding")
        .resources(
            Resource::builder()
                .r#type("AwsEc2Instance")
                .id("i-1")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn pages_filters_and_writes_back_through_the_assumed_role() {
    let moto = Moto::start().expect("moto starts (run ./scripts/test.sh once for .venv)");
    moto.create_execution_role(HUB, ROLE).await.unwrap();
    let admin = moto.securityhub(HUB, REGION).await.unwrap();
    let _ = admin.enable_security_hub().send().await;
    let mut import = admin.batch_import_findings();
    for n in 0..3 {
        import = import.findings(finding(n, SeverityLabel::High));
    }
    import = import.findings(finding(3, SeverityLabel::Low));
    import.send().await.unwrap();

    let sessions = Sessions::new(
        moto.base_config("us-east-1"),
        RoleTarget::Name(ROLE.into()),
        None,
    );
    let hub = SecurityHubClient::connect(
        &sessions,
        &SecurityHub {
            account: HUB.into(),
            region: REGION.into(),
        },
    )
    .await
    .unwrap();

    // Paging over the HIGH, NEW findings: 2 + 1.
    let filters = FindingFilters {
        severity_labels: vec!["HIGH".into()],
        workflow_statuses: vec!["NEW".into()],
        ..FindingFilters::default()
    };
    let first = hub.get_findings(&filters, 2, None).await.unwrap();
    assert_eq!(first.findings.len(), 2);
    let second = hub
        .get_findings(&filters, 2, first.next_token.clone())
        .await
        .unwrap();
    assert_eq!(second.findings.len(), 1);
    assert_eq!(second.next_token, None);
    let mut ids: Vec<String> = first
        .findings
        .iter()
        .chain(&second.findings)
        .map(|f| {
            assert_eq!(f["ProductArn"], PRODUCT);
            assert_eq!(f["Severity"]["Label"], "HIGH");
            assert_eq!(f["Workflow"]["Status"], "NEW");
            f["Id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3);

    // Write back NOTIFIED with a note per issue; one unknown finding comes back unprocessed.
    let mut updates: Vec<WorkflowUpdate> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| WorkflowUpdate {
            finding_id: id.clone(),
            product_arn: PRODUCT.into(),
            workflow: Workflow::Notified,
            note: Some(format!("Backlog SEC-{i}")),
        })
        .collect();
    updates.push(WorkflowUpdate {
        finding_id: "arn:unknown".into(),
        product_arn: PRODUCT.into(),
        workflow: Workflow::Notified,
        note: Some("Backlog SEC-9".into()),
    });
    let outcome = hub.batch_update_workflow(updates).await;
    let mut processed = outcome.processed.clone();
    processed.sort();
    assert_eq!(processed, ids);
    assert_eq!(outcome.unprocessed.len(), 1);
    assert_eq!(outcome.unprocessed[0].finding_id, "arn:unknown");
    assert_eq!(outcome.unprocessed[0].code, "FindingNotFound");
    assert!(!outcome.unprocessed[0].retryable);

    let stored = moto.finding(HUB, REGION, &ids[1]).await.unwrap().unwrap();
    assert_eq!(stored["Workflow"]["Status"], "NOTIFIED");
    assert_eq!(stored["Note"]["Text"], "Backlog SEC-1");
    assert_eq!(stored["Note"]["UpdatedBy"], UPDATED_BY);

    // Nothing NEW and HIGH is left.
    let rest = hub.get_findings(&filters, 100, None).await.unwrap();
    assert!(rest.findings.is_empty(), "{:?}", rest.findings);
}
