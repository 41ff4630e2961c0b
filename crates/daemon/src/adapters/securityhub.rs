//! `fb_aws`'s Security Hub client as the pipeline's [`FindingsWriter`], connected lazily
//! (assume role) on first use so an AWS outage does not stop issues from being filed.
//!
//! Must not: know the pipeline's state; results are mapped back to finding keys only.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use fb_model::config::Config;
use fb_store::FindingFormat;
use fb_sync::{
    BatchResult, FindingQuery, FindingsPage, FindingsWriter, Unprocessed, WorkflowUpdate,
    WriterError,
};

use crate::backend::chain;
use crate::metrics::Metrics;

/// Security Hub in the `security_hub` account and region, as the pipeline's writer.
#[derive(Debug)]
pub struct SecurityHubWriter {
    config: Arc<Config>,
    client: tokio::sync::OnceCell<fb_aws::SecurityHubClient>,
    metrics: Arc<Metrics>,
}

impl SecurityHubWriter {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        SecurityHubWriter {
            config,
            client: tokio::sync::OnceCell::new(),
            metrics,
        }
    }

    /// Connects (assume role + identity check) once; a failure is retried on the next call.
    async fn client(&self) -> Result<&fb_aws::SecurityHubClient, WriterError> {
        self.client
            .get_or_try_init(|| async {
                let base = fb_aws::load_base_config().await;
                let sessions = fb_aws::Sessions::from_accounts(base, &self.config.accounts)
                    .map_err(|e| WriterError::Permanent {
                        operation: "connect",
                        message: chain(&e),
                    })?;
                fb_aws::SecurityHubClient::connect(&sessions, &self.config.security_hub)
                    .await
                    .map_err(|e| {
                        self.metrics.aws_call("sts:AssumeRole", "error");
                        WriterError::Retryable {
                            operation: "connect",
                            message: chain(&e),
                        }
                    })
            })
            .await
    }
}

fn workflow(name: &str) -> Option<fb_aws::securityhub::Workflow> {
    use fb_aws::securityhub::Workflow;
    match name {
        "NEW" => Some(Workflow::New),
        "NOTIFIED" => Some(Workflow::Notified),
        "RESOLVED" => Some(Workflow::Resolved),
        "SUPPRESSED" => Some(Workflow::Suppressed),
        _ => None,
    }
}

#[async_trait]
impl FindingsWriter for SecurityHubWriter {
    async fn batch_update(&self, updates: &[WorkflowUpdate]) -> Result<BatchResult, WriterError> {
        use fb_aws::securityhub::{OcsfUpdate, WorkflowUpdate as AsffUpdate};
        let client = self.client().await?;
        let mut result = BatchResult::default();
        // Results name findings by the identifier sent; the pipeline wants its keys back.
        let mut key_of: HashMap<String, String> = HashMap::new();
        let (mut asff, mut ocsf) = (Vec::new(), Vec::new());
        for u in updates {
            let Some(wf) = workflow(&u.workflow) else {
                result
                    .unprocessed
                    .push(unprocessed(u, "InvalidWorkflow", false));
                continue;
            };
            match (u.format, &u.product_arn) {
                (FindingFormat::Asff, Some(product_arn)) => {
                    key_of.insert(u.finding_id.clone(), u.finding_key.clone());
                    asff.push(AsffUpdate {
                        finding_id: u.finding_id.clone(),
                        product_arn: product_arn.clone(),
                        workflow: wf,
                        note: Some(u.note.clone()),
                    });
                }
                (FindingFormat::Asff, None) => {
                    result
                        .unprocessed
                        .push(unprocessed(u, "MissingProductArn", false));
                }
                (FindingFormat::Ocsf, _) => match ocsf_identifier(u) {
                    Some(identifier) => {
                        key_of.insert(identifier.name().to_owned(), u.finding_key.clone());
                        ocsf.push(OcsfUpdate {
                            identifier,
                            workflow: wf,
                            comment: Some(u.note.clone()),
                        });
                    }
                    None => {
                        tracing::error!(finding_key = %u.finding_key, "OCSF write-back skipped: the mapping has neither the metadata uid nor the product uid and account that BatchUpdateFindingsV2 needs");
                        result
                            .unprocessed
                            .push(unprocessed(u, "MissingOcsfIdentifier", false));
                    }
                },
            }
        }
        let mut outcomes = Vec::new();
        if !asff.is_empty() {
            outcomes.push((
                "securityhub:BatchUpdateFindings",
                client.batch_update_workflow(asff).await,
            ));
        }
        if !ocsf.is_empty() {
            outcomes.push((
                "securityhub:BatchUpdateFindingsV2",
                client.batch_update_v2(ocsf).await,
            ));
        }
        for (operation, outcome) in outcomes {
            let label = if outcome.unprocessed.is_empty() {
                "ok"
            } else {
                "partial"
            };
            for _ in 0..outcome.calls {
                self.metrics.aws_call(operation, label);
            }
            let key = |id: &str| key_of.get(id).cloned().unwrap_or_else(|| id.to_owned());
            result
                .processed
                .extend(outcome.processed.iter().map(|id| key(id)));
            result
                .unprocessed
                .extend(outcome.unprocessed.into_iter().map(|u| Unprocessed {
                    finding_key: key(&u.finding_id),
                    code: u.code,
                    message: u.message,
                    retryable: u.retryable,
                }));
        }
        Ok(result)
    }

    async fn get_findings(&self, query: &FindingQuery) -> Result<FindingsPage, WriterError> {
        const OP: &str = "securityhub:GetFindings";
        let client = self.client().await?;
        let filters = fb_aws::securityhub::FindingFilters {
            ids: query.finding_ids.clone(),
            product_names: query.product_names.clone(),
            workflow_statuses: query.workflow_statuses.clone(),
            record_states: query.record_states.clone(),
            ..Default::default()
        };
        let max = query.max_results.clamp(1, fb_aws::securityhub::MAX_RESULTS);
        match client
            .get_findings(&filters, max, query.next_token.clone())
            .await
        {
            Ok(page) => {
                self.metrics.aws_call(OP, "ok");
                Ok(FindingsPage {
                    findings: page.findings,
                    next_token: page.next_token,
                })
            }
            Err(e) => {
                self.metrics.aws_call(OP, "error");
                let message = chain(&e);
                Err(if e.retryable() {
                    WriterError::Retryable {
                        operation: OP,
                        message,
                    }
                } else {
                    WriterError::Permanent {
                        operation: OP,
                        message,
                    }
                })
            }
        }
    }
}

/// BatchUpdateFindingsV2 names a finding by `metadata.uid`; a mapping recorded before that
/// was kept falls back to (account, `finding_info.uid`, `metadata.product.uid`). The finding
/// id is never sent as a metadata uid: Security Hub would answer ResourceNotFound.
fn ocsf_identifier(u: &WorkflowUpdate) -> Option<fb_aws::OcsfIdentifier> {
    if let Some(uid) = u.metadata_uid.as_ref().filter(|uid| !uid.is_empty()) {
        return Some(fb_aws::OcsfIdentifier::MetadataUid(uid.clone()));
    }
    let product_uid = u.product_arn.as_ref().filter(|p| !p.is_empty())?;
    if u.account.is_empty() || u.finding_id.is_empty() {
        return None;
    }
    Some(fb_aws::OcsfIdentifier::Finding {
        cloud_account_uid: u.account.clone(),
        finding_info_uid: u.finding_id.clone(),
        metadata_product_uid: product_uid.clone(),
    })
}

fn unprocessed(u: &WorkflowUpdate, code: &str, retryable: bool) -> Unprocessed {
    Unprocessed {
        finding_key: u.finding_key.clone(),
        code: code.to_owned(),
        message: format!("cannot send workflow {:?} for this finding", u.workflow),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use fb_aws::OcsfIdentifier;

    use super::*;

    fn ocsf(metadata_uid: Option<&str>, product_uid: Option<&str>) -> WorkflowUpdate {
        WorkflowUpdate {
            finding_key: "key-1".into(),
            finding_id: "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f".into(),
            product_arn: product_uid.map(str::to_owned),
            metadata_uid: metadata_uid.map(str::to_owned),
            account: "111111111111".into(),
            format: FindingFormat::Ocsf,
            workflow: "NOTIFIED".into(),
            note: "Backlog SEC-1".into(),
        }
    }

    #[test]
    fn an_ocsf_finding_is_named_by_its_metadata_uid() {
        let u = ocsf(Some("meta-1"), Some("arn:product"));
        assert_eq!(
            ocsf_identifier(&u),
            Some(OcsfIdentifier::MetadataUid("meta-1".into()))
        );
    }

    #[test]
    fn without_a_metadata_uid_the_finding_identifiers_form_is_used() {
        let u = ocsf(None, Some("arn:product"));
        assert_eq!(
            ocsf_identifier(&u),
            Some(OcsfIdentifier::Finding {
                cloud_account_uid: u.account.clone(),
                finding_info_uid: u.finding_id.clone(),
                metadata_product_uid: "arn:product".into(),
            })
        );
    }

    #[test]
    fn without_either_identifier_nothing_is_sent() {
        assert_eq!(ocsf_identifier(&ocsf(None, None)), None);
        assert_eq!(ocsf_identifier(&ocsf(Some(""), Some(""))), None);
    }
}
