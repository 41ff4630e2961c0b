//! The Backlog → Security Hub state machine of one mapping, as a pure function.
//!
//! Inputs: the mapping (what we last decided: `issue_status`; what Security Hub last got from
//! us: `workflow_written`), the issue as re-read now (or `None`: deleted), and the policy (ids,
//! not localized names). Rules:
//!
//! | issue now | wanted Workflow | written when |
//! |---|---|---|
//! | in a closed status, resolution in `suppress` | SUPPRESSED | wanted ≠ written, or the mapping did not record it closed |
//! | in a closed status, other resolution | RESOLVED | same |
//! | open, mapping recorded closed or we wrote RESOLVED/SUPPRESSED | NOTIFIED | always (it is a reopen) |
//! | open otherwise | — | never (the pipeline's own NOTIFIED covers it) |
//! | deleted (404) | — | never: Security Hub is left as it is, the mapping records `deleted` |
//!
//! The "did not record it closed" clause matters when a write is still queued: closed → reopened
//! → closed again before the first RESOLVED left the outbox must still queue RESOLVED after the
//! NOTIFIED. Must not: do IO or read the clock.

use std::collections::BTreeSet;

use fb_store::{IssueStatus, Mapping};

use super::source::IssueView;

pub const NOTIFIED: &str = "NOTIFIED";
pub const RESOLVED: &str = "RESOLVED";
pub const SUPPRESSED: &str = "SUPPRESSED";

/// The configured names resolved to ids (Backlog localizes built-in names; ids are stable).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosurePolicy {
    /// Status ids of `backlog.closed_statuses`.
    pub closed_status_ids: BTreeSet<i64>,
    /// Resolution ids of `backlog.suppress_resolutions`.
    pub suppress_resolution_ids: BTreeSet<i64>,
}

/// What to do with one mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Everything already agrees.
    Nothing,
    /// Only the mapping's record of the issue changes (no Security Hub write).
    Record(IssueStatus),
    /// Queue a write-back and record the issue's status.
    Write {
        workflow: &'static str,
        note: String,
        issue_status: IssueStatus,
    },
    /// The issue is gone: record it; Security Hub is not changed.
    Deleted,
}

/// The state machine (see the module header).
pub fn decide(mapping: &Mapping, issue: Option<&IssueView>, policy: &ClosurePolicy) -> Decision {
    let Some(issue) = issue else {
        return if mapping.issue_status == IssueStatus::Deleted {
            Decision::Nothing
        } else {
            Decision::Deleted
        };
    };
    let written = mapping.workflow_written.as_deref();
    let who = issue.updated_by.as_deref().unwrap_or("an unknown user");
    if policy.closed_status_ids.contains(&issue.status.id) {
        let suppressed = issue
            .resolution
            .as_ref()
            .is_some_and(|r| policy.suppress_resolution_ids.contains(&r.id));
        let workflow = if suppressed { SUPPRESSED } else { RESOLVED };
        if written == Some(workflow) && mapping.issue_status == IssueStatus::Closed {
            return Decision::Nothing;
        }
        let resolution = issue
            .resolution
            .as_ref()
            .map_or("none", |r| r.name.as_str());
        return Decision::Write {
            workflow,
            note: format!(
                "Backlog {} closed by {who} (status {}, resolution {resolution}): {workflow} by findings-bridge.",
                issue.key, issue.status.name
            ),
            issue_status: IssueStatus::Closed,
        };
    }
    let we_closed = mapping.issue_status == IssueStatus::Closed
        || matches!(written, Some(RESOLVED) | Some(SUPPRESSED));
    if we_closed {
        return Decision::Write {
            workflow: NOTIFIED,
            note: format!(
                "Backlog {} reopened by {who} (status {}): NOTIFIED again by findings-bridge.",
                issue.key, issue.status.name
            ),
            issue_status: IssueStatus::Open,
        };
    }
    if mapping.issue_status == IssueStatus::Open {
        Decision::Nothing
    } else {
        // It was recorded deleted and is readable again (restored): track it as open.
        Decision::Record(IssueStatus::Open)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use fb_store::FindingFormat;

    use super::*;
    use crate::closure::source::Named;

    fn policy() -> ClosurePolicy {
        ClosurePolicy {
            closed_status_ids: [4, 100].into(),
            suppress_resolution_ids: [1, 2, 3].into(),
        }
    }

    fn mapping(status: IssueStatus, written: Option<&str>) -> Mapping {
        Mapping {
            finding_key: "k1".into(),
            finding_id: "arn:finding/1".into(),
            product_arn: Some("arn:product".into()),
            metadata_uid: None,
            format: FindingFormat::Asff,
            account: "111111111111".into(),
            region: "ap-northeast-1".into(),
            rule: "guardduty".into(),
            title: "t".into(),
            issue_key: Some("SEC-7".into()),
            issue_id: Some(7),
            issue_status: status,
            severity: "HIGH".into(),
            record_state: "ACTIVE".into(),
            workflow_status: "NEW".into(),
            workflow_written: written.map(str::to_string),
            finding_updated_at: None,
            seen_count: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn issue(status: (i64, &str), resolution: Option<(i64, &str)>) -> IssueView {
        IssueView {
            key: "SEC-7".into(),
            status: Named {
                id: status.0,
                name: status.1.into(),
            },
            resolution: resolution.map(|(id, name)| Named {
                id,
                name: name.into(),
            }),
            updated_by: Some("Alice".into()),
        }
    }

    fn workflow(d: &Decision) -> Option<&'static str> {
        match d {
            Decision::Write { workflow, .. } => Some(workflow),
            _ => None,
        }
    }

    #[test]
    fn closed_fixed_resolves_with_a_note_naming_issue_closer_and_resolution() {
        let d = decide(
            &mapping(IssueStatus::Open, Some(NOTIFIED)),
            Some(&issue((4, "Closed"), Some((0, "Fixed")))),
            &policy(),
        );
        let Decision::Write {
            workflow,
            note,
            issue_status,
        } = d
        else {
            panic!("expected a write, got {d:?}");
        };
        assert_eq!(workflow, RESOLVED);
        assert_eq!(issue_status, IssueStatus::Closed);
        for part in ["SEC-7", "Alice", "Fixed"] {
            assert!(note.contains(part), "{note:?} lacks {part}");
        }
    }

    #[test]
    fn closed_with_a_suppressing_resolution_suppresses() {
        for (id, name) in [(1, "Won't Fix"), (2, "Invalid"), (3, "重複")] {
            let d = decide(
                &mapping(IssueStatus::Open, Some(NOTIFIED)),
                Some(&issue((4, "完了"), Some((id, name)))),
                &policy(),
            );
            assert_eq!(workflow(&d), Some(SUPPRESSED), "resolution {name}");
        }
    }

    #[test]
    fn closed_without_resolution_or_in_a_custom_closed_status_resolves() {
        let none = decide(
            &mapping(IssueStatus::Open, None),
            Some(&issue((4, "Closed"), None)),
            &policy(),
        );
        assert_eq!(workflow(&none), Some(RESOLVED));
        let custom = decide(
            &mapping(IssueStatus::Open, Some(NOTIFIED)),
            Some(&issue((100, "Done (custom)"), Some((0, "Fixed")))),
            &policy(),
        );
        assert_eq!(workflow(&custom), Some(RESOLVED));
    }

    #[test]
    fn a_status_not_configured_as_closed_is_open() {
        // Built-in 3 "Resolved" only counts when configured.
        let d = decide(
            &mapping(IssueStatus::Open, Some(NOTIFIED)),
            Some(&issue((3, "Resolved"), Some((0, "Fixed")))),
            &policy(),
        );
        assert_eq!(d, Decision::Nothing);
    }

    #[test]
    fn closed_and_already_written_is_quiet() {
        for w in [RESOLVED, SUPPRESSED] {
            let resolution = if w == RESOLVED { 0 } else { 1 };
            let d = decide(
                &mapping(IssueStatus::Closed, Some(w)),
                Some(&issue((4, "Closed"), Some((resolution, "r")))),
                &policy(),
            );
            assert_eq!(d, Decision::Nothing, "{w}");
        }
    }

    #[test]
    fn resolution_changed_while_closed_rewrites() {
        let d = decide(
            &mapping(IssueStatus::Closed, Some(RESOLVED)),
            Some(&issue((4, "Closed"), Some((1, "Won't Fix")))),
            &policy(),
        );
        assert_eq!(workflow(&d), Some(SUPPRESSED));
    }

    #[test]
    fn closed_again_while_the_reopen_is_still_queued_writes_again() {
        // RESOLVED was sent, the reopen queued NOTIFIED (not sent yet), now closed again.
        let d = decide(
            &mapping(IssueStatus::Open, Some(RESOLVED)),
            Some(&issue((4, "Closed"), Some((0, "Fixed")))),
            &policy(),
        );
        assert_eq!(workflow(&d), Some(RESOLVED));
    }

    #[test]
    fn reopened_goes_back_to_notified() {
        for (status, written) in [
            (IssueStatus::Closed, Some(RESOLVED)),
            (IssueStatus::Closed, Some(SUPPRESSED)),
            // The close was queued but not sent yet.
            (IssueStatus::Closed, Some(NOTIFIED)),
            (IssueStatus::Open, Some(SUPPRESSED)),
        ] {
            let d = decide(
                &mapping(status, written),
                Some(&issue((1, "Open"), None)),
                &policy(),
            );
            let Decision::Write {
                workflow,
                note,
                issue_status,
            } = &d
            else {
                panic!("{status:?}/{written:?}: expected a write, got {d:?}");
            };
            assert_eq!(*workflow, NOTIFIED);
            assert_eq!(*issue_status, IssueStatus::Open);
            assert!(
                note.contains("SEC-7") && note.contains("reopened"),
                "{note}"
            );
        }
    }

    #[test]
    fn open_and_never_closed_is_quiet() {
        for written in [None, Some(NOTIFIED), Some("NEW")] {
            let d = decide(
                &mapping(IssueStatus::Open, written),
                Some(&issue((2, "In Progress"), None)),
                &policy(),
            );
            assert_eq!(d, Decision::Nothing, "{written:?}");
        }
    }

    #[test]
    fn deleted_is_recorded_once_and_never_written() {
        let d = decide(&mapping(IssueStatus::Open, Some(NOTIFIED)), None, &policy());
        assert_eq!(d, Decision::Deleted);
        let again = decide(
            &mapping(IssueStatus::Deleted, Some(NOTIFIED)),
            None,
            &policy(),
        );
        assert_eq!(again, Decision::Nothing);
    }

    #[test]
    fn a_deleted_issue_readable_again_is_tracked_as_open_or_closed() {
        let open = decide(
            &mapping(IssueStatus::Deleted, Some(NOTIFIED)),
            Some(&issue((1, "Open"), None)),
            &policy(),
        );
        assert_eq!(open, Decision::Record(IssueStatus::Open));
        let closed = decide(
            &mapping(IssueStatus::Deleted, Some(NOTIFIED)),
            Some(&issue((4, "Closed"), Some((0, "Fixed")))),
            &policy(),
        );
        assert_eq!(workflow(&closed), Some(RESOLVED));
    }
}
