//! `store check`: every record decodes, and the indexes agree with the mappings both ways
//! (every mapping indexed; every index entry pointing at a mapping that says so).
//!
//! Must not: repair anything — it reports; restoring from an export rebuilds the indexes.

use std::fmt;

use serde::Serialize;

use crate::error::StoreError;
use crate::mappings::{index_entries, split_index_key};
use crate::types::{CreateIntent, InboxEvent, Mapping, OutboxItem};
use crate::{decode, decode_seq, meta, tree, Store};

/// One disagreement found by [`Store::check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    pub tree: &'static str,
    /// The offending key, printable (NUL separators shown as `\0`).
    pub key: String,
    pub problem: String,
}

impl fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.tree, self.key, self.problem)
    }
}

/// The result of [`Store::check`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub mappings: usize,
    pub index_entries: usize,
    pub other_records: usize,
    pub problems: Vec<CheckProblem>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, tree: &'static str, key: &[u8], problem: impl Into<String>) {
        self.problems.push(CheckProblem {
            tree,
            key: String::from_utf8_lossy(key).replace('\u{0}', "\\0"),
            problem: problem.into(),
        });
    }
}

impl Store {
    /// Verifies that every record decodes and that the indexes agree with the mappings, both
    /// ways (every mapping indexed; every index entry pointing at a mapping that says so).
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let t = &self.inner.trees;
        let mut report = CheckReport::default();
        for entry in t.mappings.iter() {
            let (k, v) = entry.map_err(StoreError::sled("scan mappings"))?;
            report.mappings += 1;
            let m: Mapping = match decode(tree::MAPPINGS, &k, &v) {
                Ok(m) => m,
                Err(e) => {
                    report.problem(tree::MAPPINGS, &k, format!("undecodable: {e}"));
                    continue;
                }
            };
            if m.finding_key.as_bytes() != &*k {
                report.problem(tree::MAPPINGS, &k, "stored under another finding key");
            }
            let (issue_entry, id_entry) = index_entries(&m);
            if let Some(entry) = issue_entry {
                if !t
                    .idx_issue
                    .contains_key(&entry)
                    .map_err(StoreError::sled("read index"))?
                {
                    report.problem(tree::MAPPINGS, &k, "missing from the issue-key index");
                }
            }
            if !t
                .idx_finding_id
                .contains_key(&id_entry)
                .map_err(StoreError::sled("read index"))?
            {
                report.problem(tree::MAPPINGS, &k, "missing from the finding-id index");
            }
        }
        self.check_index(&mut report, tree::IDX_ISSUE, &t.idx_issue, |m| {
            m.issue_key.clone()
        })?;
        self.check_index(&mut report, tree::IDX_FINDING_ID, &t.idx_finding_id, |m| {
            Some(m.finding_id.clone())
        })?;
        self.check_count(&mut report)?;
        self.check_records(&mut report)?;
        Ok(report)
    }

    fn check_index(
        &self,
        report: &mut CheckReport,
        name: &'static str,
        index: &sled::Tree,
        indexed: fn(&Mapping) -> Option<String>,
    ) -> Result<(), StoreError> {
        for entry in index.iter() {
            let (k, _) = entry.map_err(StoreError::sled("scan index"))?;
            report.index_entries += 1;
            let Some((value, finding_key)) = split_index_key(&k) else {
                report.problem(name, &k, "malformed index key (no separator)");
                continue;
            };
            let Some(bytes) = t_get(&self.inner.trees.mappings, finding_key)? else {
                report.problem(name, &k, "points at a mapping that does not exist");
                continue;
            };
            let Ok(m) = decode::<Mapping>(tree::MAPPINGS, finding_key, &bytes) else {
                continue; // reported with the mapping itself
            };
            if indexed(&m).as_deref().map(str::as_bytes) != Some(value) {
                report.problem(name, &k, "disagrees with the mapping it points at");
            }
        }
        Ok(())
    }

    /// The kept mapping count must match the records (it feeds status and metrics).
    fn check_count(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let kept = self
            .inner
            .trees
            .meta
            .get(meta::MAPPING_COUNT)
            .map_err(StoreError::sled("read meta"))?;
        let kept = match kept {
            Some(v) => decode_seq(tree::META, &v)?,
            None => return Ok(()), // counted at the next open
        };
        if kept != report.mappings as u64 {
            report.problem(
                tree::META,
                meta::MAPPING_COUNT,
                format!("says {kept} mappings, the tree holds {}", report.mappings),
            );
        }
        Ok(())
    }

    fn check_records(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let t = &self.inner.trees;
        for (name, tree) in [(tree::INBOX, &t.inbox), (tree::OUTBOX, &t.outbox)] {
            for entry in tree.iter() {
                let (k, v) = entry.map_err(StoreError::sled("scan"))?;
                report.other_records += 1;
                if let Err(e) = decode_seq(name, &k) {
                    report.problem(name, &k, e.to_string());
                }
                let decoded = if name == tree::INBOX {
                    decode::<InboxEvent>(name, &k, &v).map(drop)
                } else {
                    decode::<OutboxItem>(name, &k, &v).map(drop)
                };
                if let Err(e) = decoded {
                    report.problem(name, &k, format!("undecodable: {e}"));
                }
            }
        }
        for entry in t.intents.iter() {
            let (k, v) = entry.map_err(StoreError::sled("scan"))?;
            report.other_records += 1;
            if let Err(e) = decode::<CreateIntent>(tree::INTENTS, &k, &v) {
                report.problem(tree::INTENTS, &k, format!("undecodable: {e}"));
            }
        }
        for (name, tree) in [
            (tree::FINGERPRINTS, &t.fingerprints),
            (tree::CURSORS, &t.cursors),
        ] {
            for entry in tree.iter() {
                let (k, v) = entry.map_err(StoreError::sled("scan"))?;
                report.other_records += 1;
                if let Err(e) = decode::<String>(name, &k, &v) {
                    report.problem(name, &k, format!("undecodable: {e}"));
                }
            }
        }
        Ok(())
    }
}

fn t_get(tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
    tree.get(key).map_err(StoreError::sled("read mapping"))
}
