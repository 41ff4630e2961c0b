//! The moto additions of `tests/moto/server.py`, exercised through the Rust SDK (the client the
//! product uses): AssumeRole denial, BatchUpdateFindings, GetFindings filters and paging, the
//! provider's archive / un-archive with Security Hub's Workflow reset.

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, NoteUpdate,
    Resource, Severity, SeverityLabel, StringFilter, StringFilterComparison, WorkflowStatus,
    WorkflowUpdate,
};
use fb_e2e::moto::{block_on, Moto};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "ap-northeast-1";
const GUARDDUTY: &str = "arn:aws:securityhub:ap-northeast-1::product/aws/guardduty";

fn finding(id: &str, product_name: &str) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(id)
        .product_arn(GUARDDUTY)
        .product_name(product_name)
        .generator_id("gd")
        .aws_account_id(ACCOUNT)
        .types("TTPs/Discovery")
        .created_at("2026-01-01T00:00:00Z")
        .updated_at("2026-01-01T00:00:00Z")
        .severity(Severity::builder().label(SeverityLabel::High).build())
        .title("t")
        .description("d")
        .resources(Resource::builder().r#type("Other").id("r").build())
        .build()
}

fn eq(value: &str) -> StringFilter {
    StringFilter::builder()
        .value(value)
        .comparison(StringFilterComparison::Equals)
        .build()
}

fn ident(id: &str) -> AwsSecurityFindingIdentifier {
    AwsSecurityFindingIdentifier::builder()
        .id(id)
        .product_arn(GUARDDUTY)
        .build()
}

async fn ids(hub: &aws_sdk_securityhub::Client, filters: AwsSecurityFindingFilters) -> Vec<String> {
    let out = hub.get_findings().filters(filters).send().await.unwrap();
    let mut ids: Vec<String> = out.findings().iter().filter_map(|f| f.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn assume_role_is_denied_without_the_role_and_allowed_with_it() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        let sts = aws_sdk_sts::Client::new(&moto.base_config(REGION));
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/FindingsBridgeExecution");
        let denied = sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name("fb")
            .send()
            .await
            .unwrap_err();
        let code = denied.as_service_error().and_then(|e| e.meta().code());
        assert_eq!(code, Some("AccessDenied"), "{denied:?}");

        moto.create_execution_role(ACCOUNT, "FindingsBridgeExecution")
            .await
            .unwrap();
        let out = sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name("fb")
            .send()
            .await
            .unwrap();
        assert!(out.assumed_role_user().unwrap().arn().contains(ACCOUNT));
    });
}

#[test]
fn batch_update_findings_and_filters_behave_like_security_hub() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        let hub = moto.securityhub(ACCOUNT, REGION).await.unwrap();
        hub.enable_security_hub().send().await.unwrap();
        let mut batch: Vec<_> = (0..4)
            .map(|i| finding(&format!("gd-{i}"), "GuardDuty"))
            .collect();
        batch.push(finding("insp-0", "Inspector"));
        let imported = hub
            .batch_import_findings()
            .set_findings(Some(batch))
            .send()
            .await
            .unwrap();
        assert_eq!(imported.success_count(), Some(5));

        let out = hub
            .batch_update_findings()
            .finding_identifiers(ident("gd-1"))
            .finding_identifiers(ident("gd-2"))
            .finding_identifiers(ident("unknown"))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::Notified)
                    .build(),
            )
            .note(
                NoteUpdate::builder()
                    .text("Backlog SEC-1")
                    .updated_by("findings-bridge")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(out.processed_findings().len(), 2);
        let unprocessed = out.unprocessed_findings();
        assert_eq!(unprocessed.len(), 1);
        assert_eq!(unprocessed[0].error_code(), Some("FindingNotFound"));

        let stored = moto
            .finding(ACCOUNT, REGION, "gd-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored["Workflow"]["Status"], "NOTIFIED");
        assert_eq!(stored["Note"]["UpdatedBy"], "findings-bridge");
        assert_eq!(
            stored["UpdatedAt"], "2026-01-01T00:00:00Z",
            "UpdatedAt is kept"
        );

        // AND across fields, OR within one.
        let notified_gd = AwsSecurityFindingFilters::builder()
            .product_name(eq("GuardDuty"))
            .workflow_status(eq("NOTIFIED"))
            .build();
        assert_eq!(ids(&hub, notified_gd).await, ["gd-1", "gd-2"]);
        let either = AwsSecurityFindingFilters::builder()
            .id(eq("gd-0"))
            .id(eq("insp-0"))
            .build();
        assert_eq!(ids(&hub, either).await, ["gd-0", "insp-0"]);
        let not_ours = AwsSecurityFindingFilters::builder()
            .note_updated_by(
                StringFilter::builder()
                    .value("findings-bridge")
                    .comparison(StringFilterComparison::NotEquals)
                    .build(),
            )
            .product_name(
                StringFilter::builder()
                    .value("Guard")
                    .comparison(StringFilterComparison::Prefix)
                    .build(),
            )
            .build();
        assert_eq!(ids(&hub, not_ours).await, ["gd-0", "gd-3"]);

        // Paging: 5 findings, 2 per page.
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = hub
                .get_findings()
                .max_results(2)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            assert!(page.findings().len() <= 2);
            seen.extend(page.findings().iter().filter_map(|f| f.id.clone()));
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, ["gd-0", "gd-1", "gd-2", "gd-3", "insp-0"]);

        let too_many = hub
            .batch_update_findings()
            .set_finding_identifiers(Some((0..101).map(|i| ident(&format!("x{i}"))).collect()))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::Notified)
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        let code = too_many.as_service_error().and_then(|e| e.meta().code());
        assert_eq!(code, Some("InvalidInputException"));
    });
}

#[test]
fn unarchiving_resets_workflow_to_new_and_reimport_keeps_workflow() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        let hub = moto.securityhub(ACCOUNT, REGION).await.unwrap();
        hub.enable_security_hub().send().await.unwrap();
        hub.batch_import_findings()
            .findings(finding("gd-0", "GuardDuty"))
            .send()
            .await
            .unwrap();
        hub.batch_update_findings()
            .finding_identifiers(ident("gd-0"))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::Notified)
                    .build(),
            )
            .send()
            .await
            .unwrap();

        // A provider's re-import cannot change the Workflow.
        hub.batch_import_findings()
            .findings(finding("gd-0", "GuardDuty"))
            .send()
            .await
            .unwrap();
        let stored = moto
            .finding(ACCOUNT, REGION, "gd-0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored["Workflow"]["Status"], "NOTIFIED");

        let archived = moto
            .set_record_state(ACCOUNT, REGION, "gd-0", "ARCHIVED")
            .await
            .unwrap();
        assert_eq!(archived["RecordState"], "ARCHIVED");
        assert_eq!(archived["Workflow"]["Status"], "NOTIFIED");
        let active = moto
            .set_record_state(ACCOUNT, REGION, "gd-0", "ACTIVE")
            .await
            .unwrap();
        assert_eq!(active["Workflow"]["Status"], "NEW");
        assert!(moto
            .finding(ACCOUNT, REGION, "nope")
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn imports_updates_and_archiving_emit_imported_events() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        let hub = moto.securityhub(ACCOUNT, REGION).await.unwrap();
        hub.enable_security_hub().send().await.unwrap();
        hub.batch_import_findings()
            .findings(finding("gd-0", "GuardDuty"))
            .send()
            .await
            .unwrap();
        hub.batch_update_findings()
            .finding_identifiers(ident("gd-0"))
            .finding_identifiers(ident("unknown"))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::Notified)
                    .build(),
            )
            .note(
                NoteUpdate::builder()
                    .text("Backlog SEC-1")
                    .updated_by("findings-bridge")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        moto.set_record_state(ACCOUNT, REGION, "gd-0", "ARCHIVED")
            .await
            .unwrap();

        let events = moto.imported_events(ACCOUNT, REGION).await.unwrap();
        assert_eq!(
            events.len(),
            3,
            "import, our update (the echo), archive: {events:#?}"
        );
        for event in &events {
            assert_eq!(event["detail-type"], "Security Hub Findings - Imported");
            assert_eq!(event["source"], "aws.securityhub");
            assert_eq!(event["account"], ACCOUNT);
            assert_eq!(event["region"], REGION);
            assert_eq!(event["detail"]["findings"][0]["Id"], "gd-0");
        }
        let echo = &events[1]["detail"]["findings"][0];
        assert_eq!(echo["Workflow"]["Status"], "NOTIFIED");
        assert_eq!(echo["Note"]["UpdatedBy"], "findings-bridge");
        assert_eq!(
            events[2]["detail"]["findings"][0]["RecordState"],
            "ARCHIVED"
        );
        let elsewhere = moto.imported_events(ACCOUNT, "us-east-1").await.unwrap();
        assert!(elsewhere.is_empty(), "{elsewhere:?}");
    });
}
