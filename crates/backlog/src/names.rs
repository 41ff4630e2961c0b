//! Resolving configured names (project, issue type, priorities, statuses, resolutions) to ids.
//!
//! Built-in statuses, priorities and resolutions come back in the space's language, so their
//! English names are accepted for the built-in ids as well as whatever the space returns.
//! Must not: guess (no fuzzy matching); an unknown name is an error that lists the valid ones.

use std::collections::BTreeMap;

use crate::client::Client;
use crate::error::{CallError, ResolveError};
use crate::models::IdName;

/// English names of built-in priorities (space-wide, ids fixed).
pub const BUILTIN_PRIORITIES: &[(i64, &str)] = &[(2, "High"), (3, "Normal"), (4, "Low")];
/// English names of the four statuses every project has.
pub const BUILTIN_STATUSES: &[(i64, &str)] = &[
    (1, "Open"),
    (2, "In Progress"),
    (3, "Resolved"),
    (4, "Closed"),
];
/// English names of built-in resolutions.
pub const BUILTIN_RESOLUTIONS: &[(i64, &str)] = &[
    (0, "Fixed"),
    (1, "Won't Fix"),
    (2, "Invalid"),
    (3, "Duplication"),
    (4, "Cannot Reproduce"),
];

/// Ids for the configured names; maps are keyed by the name as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedNames {
    pub project_id: i64,
    pub project_key: String,
    pub issue_type_ids: BTreeMap<String, i64>,
    pub priority_ids: BTreeMap<String, i64>,
    pub status_ids: BTreeMap<String, i64>,
    pub resolution_ids: BTreeMap<String, i64>,
}

/// The names to resolve for one project.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamesToResolve<'a> {
    pub project: &'a str,
    pub issue_types: &'a [String],
    pub priorities: &'a [String],
    pub statuses: &'a [String],
    pub resolutions: &'a [String],
}

/// Finds `name` among `items` (exact, then case-insensitive) or among the English built-ins
/// whose id the space actually has.
pub fn lookup(items: &[IdName], builtins: &[(i64, &str)], name: &str) -> Option<i64> {
    let wanted = name.trim();
    if let Some(item) = items.iter().find(|i| i.name == wanted) {
        return Some(item.id);
    }
    if let Some(item) = items.iter().find(|i| i.name.eq_ignore_ascii_case(wanted)) {
        return Some(item.id);
    }
    builtins
        .iter()
        .find(|(_, en)| en.eq_ignore_ascii_case(wanted))
        .map(|(id, _)| *id)
        .filter(|id| items.iter().any(|i| i.id == *id))
}

fn resolve_all(
    kind: &'static str,
    project: &str,
    items: &[IdName],
    builtins: &[(i64, &str)],
    names: &[String],
) -> Result<BTreeMap<String, i64>, ResolveError> {
    let mut out = BTreeMap::new();
    for name in names {
        let id = lookup(items, builtins, name).ok_or_else(|| {
            let mut valid: Vec<String> = items.iter().map(|i| i.name.clone()).collect();
            for (id, en) in builtins {
                if items.iter().any(|i| i.id == *id) && !valid.iter().any(|v| v == en) {
                    valid.push((*en).to_owned());
                }
            }
            ResolveError::UnknownName {
                kind,
                name: name.clone(),
                project: project.to_owned(),
                valid,
            }
        })?;
        out.insert(name.clone(), id);
    }
    Ok(out)
}

impl Client {
    /// Resolves every configured name in one go (5 read calls). A wrong name fails with
    /// [`ResolveError::UnknownName`] naming it and the valid ones.
    pub async fn resolve_names(
        &self,
        names: NamesToResolve<'_>,
    ) -> Result<ResolvedNames, ResolveError> {
        let wrap = |source: CallError| ResolveError::Call {
            project: names.project.to_owned(),
            source,
        };
        let project = self.get_project(names.project).await.map_err(wrap)?;
        let issue_types = self.issue_types(names.project).await.map_err(wrap)?;
        let priorities = self.priorities().await.map_err(wrap)?;
        let statuses = self.statuses(names.project).await.map_err(wrap)?;
        let resolutions = self.resolutions().await.map_err(wrap)?;
        let p = names.project;
        Ok(ResolvedNames {
            project_id: project.id,
            project_key: project.project_key,
            issue_type_ids: resolve_all("issue type", p, &issue_types, &[], names.issue_types)?,
            priority_ids: resolve_all(
                "priority",
                p,
                &priorities,
                BUILTIN_PRIORITIES,
                names.priorities,
            )?,
            status_ids: resolve_all("status", p, &statuses, BUILTIN_STATUSES, names.statuses)?,
            resolution_ids: resolve_all(
                "resolution",
                p,
                &resolutions,
                BUILTIN_RESOLUTIONS,
                names.resolutions,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &[(i64, &str)]) -> Vec<IdName> {
        list.iter()
            .map(|(id, name)| IdName {
                id: *id,
                name: (*name).to_owned(),
            })
            .collect()
    }

    #[test]
    fn localized_builtins_accept_english_and_space_names() {
        let statuses = items(&[
            (1, "未対応"),
            (2, "処理中"),
            (3, "処理済み"),
            (4, "完了"),
            (100, "Triage"),
        ]);
        assert_eq!(lookup(&statuses, BUILTIN_STATUSES, "Closed"), Some(4));
        assert_eq!(lookup(&statuses, BUILTIN_STATUSES, "完了"), Some(4));
        assert_eq!(lookup(&statuses, BUILTIN_STATUSES, "triage"), Some(100));
        assert_eq!(lookup(&statuses, BUILTIN_STATUSES, "Done"), None);
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let prios = items(&[(2, "高"), (3, "中"), (4, "低")]);
        let err = resolve_all(
            "priority",
            "SEC",
            &prios,
            BUILTIN_PRIORITIES,
            &["Urgent".into()],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"Urgent\""), "{text}");
        assert!(
            text.contains("高") && text.contains("High") && text.contains("Low"),
            "{text}"
        );
    }
}
