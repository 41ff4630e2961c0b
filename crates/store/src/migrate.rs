//! Schema versions and the steps between them.
//!
//! The schema version lives in the `meta` tree (`schema_version`, a JSON number). A new store is
//! stamped with the newest version; an older one is upgraded one step at a time (`from → to`),
//! each step followed by a new stamp and a flush, so an interrupted upgrade resumes at the step
//! that did not finish — steps must therefore be safe to run again. `migrations/NNNN-*.md`
//! explains each version; `migrations/fixtures/` holds a store of every released version for
//! the upgrade tests.
//!
//! Must not: downgrade. A store newer than the binary is refused before anything is written.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::error::{MigrateError, OpenError, StoreError};
use crate::{meta, Store, Trees};

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One upgrade step.
#[derive(Debug)]
pub(crate) struct Migration {
    pub from: u32,
    pub to: u32,
    pub name: &'static str,
    pub run: fn(&Trees) -> Result<(), StoreError>,
}

/// Released steps, in order. v1 is the first schema, so there are none yet; the mechanism is
/// exercised by the test-only tables below.
pub(crate) static MIGRATIONS: &[Migration] = &[];

/// What `migrate` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
    /// `"1 → 2: <name>"` for each step applied, in order.
    pub steps: Vec<String>,
}

/// The stored version; a brand-new (empty) store is stamped with `newest`.
pub(crate) fn read_or_stamp_version(
    trees: &Trees,
    newest: u32,
    path: &Path,
) -> Result<u32, OpenError> {
    let read_err = |source| OpenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let stored = trees
        .meta
        .get(meta::SCHEMA_VERSION)
        .map_err(|e| read_err(StoreError::sled("read schema version")(e)))?;
    if let Some(bytes) = stored {
        return serde_json::from_slice::<u32>(&bytes).map_err(|_| OpenError::BadVersion {
            path: path.to_path_buf(),
        });
    }
    // No version: only a store that holds nothing may be stamped; data without a version is
    // something we did not write.
    if trees.data().iter().any(|(_, t)| !t.is_empty()) {
        return Err(OpenError::BadVersion {
            path: path.to_path_buf(),
        });
    }
    write_version(trees, newest).map_err(read_err)?;
    Ok(newest)
}

pub(crate) fn write_version(trees: &Trees, version: u32) -> Result<(), StoreError> {
    trees
        .meta
        .insert(meta::SCHEMA_VERSION, version.to_string().as_bytes())
        .map_err(StoreError::sled("write schema version"))?;
    Ok(())
}

impl Store {
    /// Applies every pending step up to this binary's version (nothing when current).
    pub fn migrate(&self) -> Result<MigrationReport, MigrateError> {
        let inner = &self.inner;
        let from = self.schema_version();
        if from > inner.supported {
            return Err(MigrateError::TooNew {
                found: from,
                supported: inner.supported,
            });
        }
        let mut version = from;
        let mut steps = Vec::new();
        while version < inner.supported {
            let step = inner
                .migrations
                .iter()
                .find(|m| m.from == version && m.to > version && m.to <= inner.supported)
                .ok_or(MigrateError::NoStep {
                    from: version,
                    supported: inner.supported,
                })?;
            tracing::info!(
                from = step.from,
                to = step.to,
                step = step.name,
                "migrating store"
            );
            let failed = |source| MigrateError::Step {
                from: step.from,
                to: step.to,
                name: step.name,
                source,
            };
            (step.run)(&inner.trees).map_err(failed)?;
            write_version(&inner.trees, step.to)
                .map_err(|source| MigrateError::Stamp { source })?;
            inner.db.flush().map_err(|e| MigrateError::Stamp {
                source: StoreError::Flush { source: e },
            })?;
            inner.schema_version.store(step.to, Ordering::SeqCst);
            steps.push(format!("{} → {}: {}", step.from, step.to, step.name));
            version = step.to;
        }
        if !steps.is_empty() {
            self.load_counters()
                .map_err(|source| MigrateError::Stamp { source })?;
        }
        Ok(MigrationReport {
            from,
            to: version,
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The upgrade mechanism, with test-only schema versions (v1 is the only released one).
    use super::*;
    use crate::{decode, encode, tree, Mapping};

    /// Test v2: every mapping's title gets a prefix (a rewrite of existing records).
    static UP_TO_2: &[Migration] = &[Migration {
        from: 1,
        to: 2,
        name: "test: prefix titles",
        run: prefix_titles,
    }];

    /// A gap: there is no step out of v2.
    static UP_TO_3_BROKEN: &[Migration] = &[Migration {
        from: 1,
        to: 2,
        name: "test: prefix titles",
        run: prefix_titles,
    }];

    fn prefix_titles(trees: &Trees) -> Result<(), StoreError> {
        for entry in trees.mappings.iter() {
            let (k, v) = entry.map_err(StoreError::sled("scan"))?;
            let mut m: Mapping = decode(tree::MAPPINGS, &k, &v)?;
            if !m.title.starts_with("v2:") {
                m.title = format!("v2:{}", m.title);
            }
            let bytes = encode(tree::MAPPINGS, &m.finding_key, &m)?;
            trees
                .mappings
                .insert(k, bytes)
                .map_err(StoreError::sled("rewrite"))?;
        }
        Ok(())
    }

    fn v1_store_with_a_mapping(dir: &Path) {
        let store = Store::open_db(dir, true, 1, MIGRATIONS).expect("open v1");
        assert_eq!(store.schema_version(), 1);
        store
            .put_mapping(&crate::mappings::tests::sample("k1", Some("SEC-1")))
            .expect("put");
    }

    #[test]
    fn an_older_store_is_migrated_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        v1_store_with_a_mapping(dir.path());
        let store = Store::open_db(dir.path(), true, 2, UP_TO_2).expect("open v2");
        assert_eq!(store.schema_version(), 2);
        let m = store.mapping("k1").expect("read").expect("present");
        assert!(m.title.starts_with("v2:"), "step ran: {}", m.title);
        assert_eq!(store.mapping_count(), 1);
        drop(store);
        // The stamp is durable: a v2 binary reopening does not run the step again.
        let again = Store::open_db(dir.path(), true, 2, UP_TO_2).expect("reopen");
        assert_eq!(again.schema_version(), 2);
        assert!(!again
            .mapping("k1")
            .unwrap()
            .unwrap()
            .title
            .starts_with("v2:v2:"));
    }

    #[test]
    fn migrate_reports_its_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        v1_store_with_a_mapping(dir.path());
        let store = Store::open_db(dir.path(), false, 2, UP_TO_2).expect("open");
        assert_eq!(store.schema_version(), 1, "not migrated yet");
        let report = store.migrate().expect("migrate");
        assert_eq!(report.from, 1);
        assert_eq!(report.to, 2);
        assert_eq!(report.steps, vec!["1 → 2: test: prefix titles".to_string()]);
        assert!(store.migrate().expect("again").steps.is_empty());
    }

    #[test]
    fn a_newer_store_is_refused_and_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        v1_store_with_a_mapping(dir.path());
        drop(Store::open_db(dir.path(), true, 2, UP_TO_2).expect("upgrade to v2"));
        let err = Store::open_db(dir.path(), true, 1, MIGRATIONS).expect_err("v1 binary refuses");
        assert!(
            matches!(
                err,
                OpenError::TooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let store = Store::open_db(dir.path(), true, 2, UP_TO_2).expect("v2 still opens");
        assert_eq!(store.mapping("k1").unwrap().unwrap().title, "v2:title k1");
    }

    #[test]
    fn a_missing_step_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        v1_store_with_a_mapping(dir.path());
        let err = Store::open_db(dir.path(), true, 3, UP_TO_3_BROKEN).expect_err("no 2 → 3");
        let OpenError::Migrate { source, .. } = err else {
            panic!("expected a migrate error, got {err:?}");
        };
        assert!(matches!(
            source,
            MigrateError::NoStep {
                from: 2,
                supported: 3
            }
        ));
    }
}
