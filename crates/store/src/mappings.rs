//! Finding ↔ issue mappings and their two indexes: issue key → finding keys (one issue may
//! carry several findings, e.g. after a manual merge) and finding id → finding key.
//!
//! Index entries are composite keys `<indexed value> NUL <finding key>` with empty values, so a
//! lookup is a prefix scan and a record plus its indexes change in one sled transaction.
//!
//! Must not: update a record without its indexes (`check` verifies they agree both ways).

use std::sync::atomic::Ordering;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::error::StoreError;
use crate::types::Mapping;
use crate::{decode, decode_seq, encode, meta, tree, Store};

const SEP: u8 = 0;

/// `<value> NUL <finding key>`.
pub(crate) fn index_key(value: &str, finding_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(value.len() + 1 + finding_key.len());
    key.extend_from_slice(value.as_bytes());
    key.push(SEP);
    key.extend_from_slice(finding_key.as_bytes());
    key
}

/// Splits an index key back into (value, finding key).
pub(crate) fn split_index_key(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = key.iter().position(|b| *b == SEP)?;
    Some((&key[..at], &key[at + 1..]))
}

fn prefix(value: &str) -> Vec<u8> {
    let mut p = value.as_bytes().to_vec();
    p.push(SEP);
    p
}

/// The index entries a mapping implies.
pub(crate) fn index_entries(m: &Mapping) -> (Option<Vec<u8>>, Vec<u8>) {
    (
        m.issue_key.as_deref().map(|k| index_key(k, &m.finding_key)),
        index_key(&m.finding_id, &m.finding_key),
    )
}

/// Keys are used inside composite index keys: refuse what would break them.
pub(crate) fn validate(m: &Mapping) -> Result<(), StoreError> {
    let bad = |reason: String| StoreError::Invalid {
        tree: tree::MAPPINGS,
        reason,
    };
    if m.finding_key.is_empty() {
        return Err(bad("empty finding key".into()));
    }
    if m.finding_id.is_empty() {
        return Err(bad(format!("empty finding id for {:?}", m.finding_key)));
    }
    let fields = [
        ("finding key", Some(m.finding_key.as_str())),
        ("finding id", Some(m.finding_id.as_str())),
        ("issue key", m.issue_key.as_deref()),
    ];
    for (what, value) in fields {
        if value.is_some_and(|v| v.as_bytes().contains(&SEP)) {
            return Err(bad(format!("{what} contains a NUL byte")));
        }
    }
    Ok(())
}

impl Store {
    /// The mapping for a finding key.
    pub fn mapping(&self, finding_key: &str) -> Result<Option<Mapping>, StoreError> {
        self.inner
            .trees
            .mappings
            .get(finding_key.as_bytes())
            .map_err(StoreError::sled("read mapping"))?
            .map(|v| decode(tree::MAPPINGS, finding_key.as_bytes(), &v))
            .transpose()
    }

    /// The mapping whose finding has this Id (ASFF `Id` / OCSF uid); the first by finding key
    /// if, unusually, two products share an Id.
    pub fn mapping_by_finding_id(&self, id: &str) -> Result<Option<Mapping>, StoreError> {
        let first = self
            .inner
            .trees
            .idx_finding_id
            .scan_prefix(prefix(id))
            .next()
            .transpose()
            .map_err(StoreError::sled("read finding id index"))?;
        match first.as_ref().and_then(|(k, _)| split_index_key(k)) {
            Some((_, finding_key)) => self.mapping(&String::from_utf8_lossy(finding_key)),
            None => Ok(None),
        }
    }

    /// Every mapping recorded against an issue key (e.g. `SEC-12`).
    pub fn mappings_by_issue(&self, issue_key: &str) -> Result<Vec<Mapping>, StoreError> {
        let mut found = Vec::new();
        for entry in self.inner.trees.idx_issue.scan_prefix(prefix(issue_key)) {
            let (k, _) = entry.map_err(StoreError::sled("read issue index"))?;
            let Some((_, finding_key)) = split_index_key(&k) else {
                continue;
            };
            if let Some(m) = self.mapping(&String::from_utf8_lossy(finding_key))? {
                found.push(m);
            }
        }
        Ok(found)
    }

    /// Inserts or replaces a mapping and its index entries, atomically.
    pub fn put_mapping(&self, m: &Mapping) -> Result<(), StoreError> {
        validate(m)?;
        let t = &self.inner.trees;
        let bytes = encode(tree::MAPPINGS, &m.finding_key, m)?;
        let (issue_entry, id_entry) = index_entries(m);
        let outcome = (&t.mappings, &t.idx_issue, &t.idx_finding_id, &t.meta).transaction(
            |(maps, by_issue, by_id, meta_tree)| {
                let old = maps.insert(m.finding_key.as_bytes(), bytes.as_slice())?;
                if let Some(old) = &old {
                    let old: Mapping = decode(tree::MAPPINGS, m.finding_key.as_bytes(), old)
                        .map_err(ConflictableTransactionError::Abort)?;
                    let (old_issue, old_id) = index_entries(&old);
                    if let Some(k) = old_issue {
                        by_issue.remove(k)?;
                    }
                    by_id.remove(old_id)?;
                }
                if let Some(k) = &issue_entry {
                    by_issue.insert(k.as_slice(), &[])?;
                }
                by_id.insert(id_entry.as_slice(), &[])?;
                if old.is_none() {
                    let count = match meta_tree.get(meta::MAPPING_COUNT)? {
                        Some(v) => decode_seq(tree::META, &v)
                            .map_err(ConflictableTransactionError::Abort)?,
                        None => 0,
                    };
                    meta_tree.insert(meta::MAPPING_COUNT, &(count + 1).to_be_bytes())?;
                }
                Ok(old.is_none())
            },
        );
        let created = outcome.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(source) => StoreError::Sled {
                op: "write mapping",
                source,
            },
        })?;
        if created {
            self.inner.mapping_count.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Every mapping, in finding-key order.
    pub fn mappings(&self) -> impl Iterator<Item = Result<Mapping, StoreError>> + '_ {
        self.inner.trees.mappings.iter().map(|entry| {
            let (k, v) = entry.map_err(StoreError::sled("scan mappings"))?;
            decode(tree::MAPPINGS, &k, &v)
        })
    }

    pub fn mapping_count(&self) -> usize {
        self.inner.mapping_count.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::types::{FindingFormat, IssueStatus};

    pub(crate) fn sample(key: &str, issue: Option<&str>) -> Mapping {
        let t = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        Mapping {
            finding_key: key.to_string(),
            finding_id: format!("id-{key}"),
            product_arn: Some("arn:aws:securityhub:ap-northeast-1::product/aws/guardduty".into()),
            metadata_uid: None,
            format: FindingFormat::Asff,
            account: "111111111111".into(),
            region: "ap-northeast-1".into(),
            rule: "guardduty".into(),
            title: format!("title {key}"),
            issue_key: issue.map(str::to_string),
            issue_id: issue.map(|_| 42),
            issue_status: IssueStatus::Open,
            severity: "HIGH".into(),
            record_state: "ACTIVE".into(),
            workflow_status: "NEW".into(),
            workflow_written: None,
            finding_updated_at: None,
            seen_count: 1,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn lookups_by_key_id_and_issue_follow_updates() {
        let store = Store::open_temporary().expect("open");
        store.put_mapping(&sample("a", None)).expect("put a");
        store
            .put_mapping(&sample("b", Some("SEC-1")))
            .expect("put b");
        assert_eq!(store.mapping_count(), 2);
        assert!(store.mappings_by_issue("SEC-1").unwrap().len() == 1);

        // a gets an issue, b moves to another one: the old index entries go away.
        store
            .put_mapping(&sample("a", Some("SEC-1")))
            .expect("update a");
        store
            .put_mapping(&sample("b", Some("SEC-2")))
            .expect("update b");
        assert_eq!(store.mapping_count(), 2, "updates do not count twice");
        let on_1: Vec<_> = store.mappings_by_issue("SEC-1").unwrap();
        assert_eq!(on_1, vec![sample("a", Some("SEC-1"))]);
        assert_eq!(
            store.mappings_by_issue("SEC-2").unwrap(),
            vec![sample("b", Some("SEC-2"))]
        );
        // a prefix of another issue key does not match it
        assert!(store.mappings_by_issue("SEC-").unwrap().is_empty());
        assert_eq!(
            store.mapping_by_finding_id("id-b").unwrap(),
            Some(sample("b", Some("SEC-2")))
        );
        assert_eq!(store.mapping_by_finding_id("id-").unwrap(), None);
        assert_eq!(store.mapping("c").unwrap(), None);
        let all: Vec<_> = store.mappings().collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 2);
        assert!(store.check().unwrap().is_ok());
    }

    /// Racing updates of one mapping (each moving it to another issue) leave exactly one
    /// record, indexed under whichever issue won — never under two.
    #[test]
    fn concurrent_updates_keep_record_and_indexes_in_step() {
        let store = Store::open_temporary().expect("open");
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = store.clone();
                s.spawn(move || {
                    for n in 0..25 {
                        let issue = format!("SEC-{}", t * 100 + n);
                        store
                            .put_mapping(&sample("shared", Some(&issue)))
                            .expect("put");
                    }
                });
            }
        });
        assert_eq!(store.mapping_count(), 1);
        let report = store.check().expect("check");
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(
            report.index_entries, 2,
            "one issue entry, one finding-id entry"
        );
        let winner = store.mapping("shared").unwrap().unwrap().issue_key.unwrap();
        assert_eq!(store.mappings_by_issue(&winner).unwrap().len(), 1);
    }

    #[test]
    fn keys_that_would_break_the_indexes_are_refused() {
        let store = Store::open_temporary().expect("open");
        let mut m = sample("a", Some("SEC-1"));
        m.issue_key = Some("SEC\u{0}1".into());
        assert!(matches!(
            store.put_mapping(&m),
            Err(StoreError::Invalid { .. })
        ));
        assert!(store.put_mapping(&sample("", None)).is_err());
        assert_eq!(store.mapping_count(), 0);
        assert!(store.mappings_by_issue("SEC").unwrap().is_empty());
    }
}
