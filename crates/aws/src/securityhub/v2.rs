//! BatchUpdateFindingsV2: status and comment write-back for OCSF findings.
//!
//! The API names findings either by `MetadataUids` or by `FindingIdentifiers`
//! (`CloudAccountUid`, `FindingInfoUid`, `MetadataProductUid`), never both in one request, so
//! updates are grouped by identifier form as well as by (status, comment).
//!
//! Must not: guess a `metadata.uid` from other fields (a wrong one is `ResourceNotFound`),
//! or retry (the caller's outbox does).

use aws_sdk_securityhub::types::OcsfFindingIdentifier;

use super::{clip_note, group, request_failed, unprocessed, BatchOutcome, Workflow, MAX_BATCH};
use crate::error::CallContext;

/// How one OCSF finding is named in a BatchUpdateFindingsV2 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OcsfIdentifier {
    /// The finding's `metadata.uid` (sent as `MetadataUids`).
    MetadataUid(String),
    /// The finding's account, `finding_info.uid` and `metadata.product.uid` (sent as
    /// `FindingIdentifiers`), for callers that do not know the metadata uid.
    Finding {
        cloud_account_uid: String,
        finding_info_uid: String,
        metadata_product_uid: String,
    },
}

impl OcsfIdentifier {
    /// The name [`BatchOutcome`] uses for this finding: the metadata uid, or the
    /// `finding_info.uid` of the `FindingIdentifiers` form.
    pub fn name(&self) -> &str {
        match self {
            OcsfIdentifier::MetadataUid(uid) => uid,
            OcsfIdentifier::Finding {
                finding_info_uid, ..
            } => finding_info_uid,
        }
    }

    fn form(&self) -> Form {
        match self {
            OcsfIdentifier::MetadataUid(_) => Form::MetadataUids,
            OcsfIdentifier::Finding { .. } => Form::FindingIdentifiers,
        }
    }
}

/// One OCSF finding's new status and comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcsfUpdate {
    pub identifier: OcsfIdentifier,
    pub workflow: Workflow,
    pub comment: Option<String>,
}

/// The request field a group of identifiers goes in (one per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    MetadataUids,
    FindingIdentifiers,
}

impl super::SecurityHubClient {
    /// Sets the status (and comment) of OCSF findings; never fails as a whole: a failed
    /// request marks its findings unprocessed. Results name findings by
    /// [`OcsfIdentifier::name`].
    pub async fn batch_update_v2(&self, updates: Vec<OcsfUpdate>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        for ((_, workflow, comment), identifiers) in group(updates, |u| {
            (
                (
                    u.identifier.form(),
                    u.workflow,
                    clip_note(u.comment.as_deref()),
                ),
                u.identifier,
            )
        }) {
            for chunk in identifiers.chunks(MAX_BATCH) {
                self.update_limiter.acquire().await;
                outcome.calls += 1;
                self.send_v2(workflow, comment.clone(), chunk, &mut outcome)
                    .await;
            }
        }
        outcome
    }

    /// One request; every identifier of `chunk` is of one form.
    async fn send_v2(
        &self,
        workflow: Workflow,
        comment: Option<String>,
        chunk: &[OcsfIdentifier],
        outcome: &mut BatchOutcome,
    ) {
        let mut req = self
            .client
            .batch_update_findings_v2()
            .status_id(workflow.ocsf_status_id())
            .set_comment(comment);
        for identifier in chunk {
            req = match identifier {
                OcsfIdentifier::MetadataUid(uid) => req.metadata_uids(uid),
                OcsfIdentifier::Finding {
                    cloud_account_uid,
                    finding_info_uid,
                    metadata_product_uid,
                } => req.finding_identifiers(
                    OcsfFindingIdentifier::builder()
                        .cloud_account_uid(cloud_account_uid)
                        .finding_info_uid(finding_info_uid)
                        .metadata_product_uid(metadata_product_uid)
                        .build(),
                ),
            };
        }
        let by_metadata_uid = chunk.first().map(OcsfIdentifier::form) == Some(Form::MetadataUids);
        // Security Hub answers in the form it was asked in; fall back to the other field.
        let name = |metadata_uid: Option<&str>, ident: Option<&OcsfFindingIdentifier>| {
            let info_uid = ident.and_then(OcsfFindingIdentifier::finding_info_uid);
            if by_metadata_uid {
                metadata_uid.or(info_uid)
            } else {
                info_uid.or(metadata_uid)
            }
            .map(str::to_owned)
        };
        match req.send().await.op("securityhub:BatchUpdateFindingsV2") {
            Ok(out) => {
                outcome.processed.extend(
                    out.processed_findings()
                        .iter()
                        .filter_map(|f| name(f.metadata_uid(), f.finding_identifier())),
                );
                outcome
                    .unprocessed
                    .extend(out.unprocessed_findings().iter().map(|u| {
                        unprocessed(
                            name(u.metadata_uid(), u.finding_identifier()).as_deref(),
                            u.error_code().map(|c| c.as_str()),
                            u.error_message(),
                        )
                    }));
            }
            Err(e) => {
                let names: Vec<String> = chunk.iter().map(|i| i.name().to_owned()).collect();
                request_failed(&e, names.iter(), outcome);
            }
        }
    }
}
