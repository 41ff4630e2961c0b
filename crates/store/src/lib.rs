//! `fb-store`: the embedded sled store: finding ↔ issue mappings, the inbox of accepted events,
//! the outbox, create intents, cursors, schema version, migrations, export/import.
//!
//! Layout (one sled tree each; values are serde_json, sequence keys big-endian `u64`):
//! `meta` (schema version, sequence reservation, HMAC key), `inbox`, `outbox`, `intents`,
//! `mappings` (finding key →), `idx_issue` (issue key NUL finding key → ∅), `idx_finding_id`
//! (finding id NUL finding key → ∅), `fingerprints` (account NUL region NUL connection →),
//! `cursors` (name → small value; also the reconciler's managed places, see [`ManagedPlaces`]).
//!
//! Must not: hold a secret (only HMAC fingerprints), or call a network. A store is opened by one
//! process at a time (sled's file lock); the CLI says so instead of waiting.

mod backup;
mod check;
mod commit;
mod error;
mod inbox;
mod mappings;
mod migrate;
mod outbox;
mod state;
mod types;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use backup::{ExportReport, ImportReport, RecordCounts};
pub use check::{CheckProblem, CheckReport};
pub use error::{ExportError, ImportError, MigrateError, OpenError, StoreError};
pub use migrate::MigrationReport;
pub use state::ManagedPlaces;
pub use types::{
    CreateIntent, EventOrigin, FindingFormat, InboxEvent, IssueStatus, Mapping, OutboxItem,
};

use commit::GroupCommit;
use migrate::Migration;

/// Tree names, in one place (export, check and migrations refer to them).
pub(crate) mod tree {
    pub const META: &str = "meta";
    pub const INBOX: &str = "inbox";
    pub const OUTBOX: &str = "outbox";
    pub const INTENTS: &str = "intents";
    pub const MAPPINGS: &str = "mappings";
    pub const IDX_ISSUE: &str = "idx_issue";
    pub const IDX_FINDING_ID: &str = "idx_finding_id";
    pub const FINGERPRINTS: &str = "fingerprints";
    pub const CURSORS: &str = "cursors";
}

/// `meta` keys.
pub(crate) mod meta {
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
    pub const SEQ_RESERVED: &[u8] = b"seq_reserved";
    pub const HMAC_KEY: &[u8] = b"hmac_key";
    /// Number of mappings, kept with each new mapping: counting a million at every start would
    /// read (and cache) the whole tree.
    pub const MAPPING_COUNT: &[u8] = b"mapping_count";
}

/// sled's page cache (its default is 1 GiB). Mappings are read one at a time, so a small cache
/// keeps a daemon holding a million mappings small (issue 3's memory target). sled's accounting
/// undercounts: measured RSS grows by several times this value once the cache is full.
const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

/// Sequence numbers are reserved in blocks so a restart never reuses one, without a write per id.
const SEQ_BLOCK: u64 = 1 << 20;

#[derive(Debug)]
pub(crate) struct Trees {
    pub meta: sled::Tree,
    pub inbox: sled::Tree,
    pub outbox: sled::Tree,
    pub intents: sled::Tree,
    pub mappings: sled::Tree,
    pub idx_issue: sled::Tree,
    pub idx_finding_id: sled::Tree,
    pub fingerprints: sled::Tree,
    pub cursors: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> sled::Result<Trees> {
        Ok(Trees {
            meta: db.open_tree(tree::META)?,
            inbox: db.open_tree(tree::INBOX)?,
            outbox: db.open_tree(tree::OUTBOX)?,
            intents: db.open_tree(tree::INTENTS)?,
            mappings: db.open_tree(tree::MAPPINGS)?,
            idx_issue: db.open_tree(tree::IDX_ISSUE)?,
            idx_finding_id: db.open_tree(tree::IDX_FINDING_ID)?,
            fingerprints: db.open_tree(tree::FINGERPRINTS)?,
            cursors: db.open_tree(tree::CURSORS)?,
        })
    }

    /// The trees holding data (not `meta`, whose keys are bookkeeping).
    pub(crate) fn data(&self) -> [(&'static str, &sled::Tree); 8] {
        [
            (tree::INBOX, &self.inbox),
            (tree::OUTBOX, &self.outbox),
            (tree::INTENTS, &self.intents),
            (tree::MAPPINGS, &self.mappings),
            (tree::IDX_ISSUE, &self.idx_issue),
            (tree::IDX_FINDING_ID, &self.idx_finding_id),
            (tree::FINGERPRINTS, &self.fingerprints),
            (tree::CURSORS, &self.cursors),
        ]
    }
}

/// Inbox/outbox sequence numbers: monotonic across restarts and imports.
#[derive(Debug)]
pub(crate) struct SeqGen {
    next: AtomicU64,
    reserved: Mutex<u64>,
}

impl SeqGen {
    pub(crate) fn allocate(&self, meta: &sled::Tree) -> Result<u64, StoreError> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if id >= *reserved {
            // Written before the record that uses `id`, so any flush making that record durable
            // makes the reservation durable too.
            let until = id + SEQ_BLOCK;
            meta.insert(meta::SEQ_RESERVED, &until.to_be_bytes())
                .map_err(StoreError::sled("reserve sequence numbers"))?;
            *reserved = until;
        }
        Ok(id)
    }

    /// After an import: continue above every imported sequence number.
    pub(crate) fn bump_past(&self, meta: &sled::Tree, seen: u64) -> Result<(), StoreError> {
        let floor = seen + 1;
        self.next.fetch_max(floor, Ordering::SeqCst);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if *reserved < floor {
            meta.insert(meta::SEQ_RESERVED, &floor.to_be_bytes())
                .map_err(StoreError::sled("reserve sequence numbers"))?;
            *reserved = floor;
        }
        Ok(())
    }
}

pub(crate) struct Inner {
    pub db: sled::Db,
    pub path: Option<PathBuf>,
    pub trees: Trees,
    pub seq: SeqGen,
    pub commit: GroupCommit,
    pub inbox_len: AtomicUsize,
    pub outbox_len: AtomicUsize,
    pub mapping_count: AtomicUsize,
    pub schema_version: AtomicU32,
    /// The newest version this store can be migrated to, with its steps (tests use their own).
    pub supported: u32,
    pub migrations: &'static [Migration],
}

/// The store. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

// The daemon shares one store between tasks and threads: keep that a compile-time promise.
const _: fn() = || {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Store>();
};

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.schema_version())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The schema version this binary writes.
    pub const SCHEMA_VERSION: u32 = migrate::SCHEMA_VERSION;

    /// Creates or opens the store at `path`, migrating an older schema. Refuses a newer schema
    /// and a store another process holds.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Self::open_db(path, true, Self::SCHEMA_VERSION, migrate::MIGRATIONS)
    }

    /// Opens without running migrations (for `store migrate`, which reports what it does).
    pub fn open_without_migrating(path: &Path) -> Result<Store, OpenError> {
        Self::open_db(path, false, Self::SCHEMA_VERSION, migrate::MIGRATIONS)
    }

    /// A store in a temporary directory removed on drop, for tests.
    pub fn open_temporary() -> Result<Store, OpenError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|source| OpenError::Sled {
                path: PathBuf::from("(temporary)"),
                source,
            })?;
        Self::from_db(db, None, true, Self::SCHEMA_VERSION, migrate::MIGRATIONS)
    }

    pub(crate) fn open_db(
        path: &Path,
        run_migrations: bool,
        supported: u32,
        migrations: &'static [Migration],
    ) -> Result<Store, OpenError> {
        let db = open_sled(path)?;
        Self::from_db(
            db,
            Some(path.to_path_buf()),
            run_migrations,
            supported,
            migrations,
        )
    }

    fn from_db(
        db: sled::Db,
        path: Option<PathBuf>,
        run_migrations: bool,
        supported: u32,
        migrations: &'static [Migration],
    ) -> Result<Store, OpenError> {
        let shown = path.clone().unwrap_or_else(|| PathBuf::from("(temporary)"));
        let trees = Trees::open(&db).map_err(|source| OpenError::Sled {
            path: shown.clone(),
            source,
        })?;
        let version = migrate::read_or_stamp_version(&trees, supported, &shown)?;
        if version > supported {
            return Err(OpenError::TooNew {
                path: shown,
                found: version,
                supported,
            });
        }
        let store = Store {
            inner: Arc::new(Inner {
                db,
                path,
                trees,
                seq: SeqGen {
                    next: AtomicU64::new(0),
                    reserved: Mutex::new(0),
                },
                commit: GroupCommit::default(),
                inbox_len: AtomicUsize::new(0),
                outbox_len: AtomicUsize::new(0),
                mapping_count: AtomicUsize::new(0),
                schema_version: AtomicU32::new(version),
                supported,
                migrations,
            }),
        };
        if run_migrations && version < supported {
            store.migrate().map_err(|source| OpenError::Migrate {
                path: shown.clone(),
                source,
            })?;
        }
        store.load_counters().map_err(|source| OpenError::Read {
            path: shown.clone(),
            source,
        })?;
        tracing::info!(
            path = %shown.display(),
            schema_version = store.schema_version(),
            mappings = store.mapping_count(),
            inbox = store.inbox_len(),
            outbox = store.outbox_len(),
            "store open"
        );
        Ok(store)
    }

    /// Counts and the sequence floor, read once at open (sled's `len` walks the tree).
    fn load_counters(&self) -> Result<(), StoreError> {
        let t = &self.inner.trees;
        self.inner.inbox_len.store(t.inbox.len(), Ordering::SeqCst);
        self.inner
            .outbox_len
            .store(t.outbox.len(), Ordering::SeqCst);
        let mappings = match t
            .meta
            .get(meta::MAPPING_COUNT)
            .map_err(StoreError::sled("read meta"))?
        {
            Some(v) => decode_seq(tree::META, &v)?,
            None => {
                // A store written before the count was kept, or a raw fixture: count once.
                let counted = t.mappings.len() as u64;
                t.meta
                    .insert(meta::MAPPING_COUNT, &counted.to_be_bytes())
                    .map_err(StoreError::sled("write mapping count"))?;
                counted
            }
        };
        self.inner.mapping_count.store(
            usize::try_from(mappings).unwrap_or(usize::MAX),
            Ordering::SeqCst,
        );
        let reserved = match t
            .meta
            .get(meta::SEQ_RESERVED)
            .map_err(StoreError::sled("read meta"))?
        {
            Some(v) => decode_seq(tree::META, &v)?,
            None => 0,
        };
        let mut next = reserved;
        for tree in [&t.inbox, &t.outbox] {
            if let Some((k, _)) = tree
                .last()
                .map_err(StoreError::sled("read last sequence"))?
            {
                next = next.max(decode_seq(tree::INBOX, &k)? + 1);
            }
        }
        self.inner.seq.next.store(next, Ordering::SeqCst);
        *self
            .inner
            .seq
            .reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = reserved;
        Ok(())
    }

    /// The raw sled database at `path`, with the same lock handling as [`Store::open`]: for
    /// tests and repair tools that must read or write records below the typed API (e.g. build a
    /// store in an older layout, or corrupt an index on purpose).
    #[doc(hidden)]
    pub fn open_raw(path: &Path) -> Result<sled::Db, OpenError> {
        open_sled(path)
    }

    /// The schema version of the open store (lower than [`Store::SCHEMA_VERSION`] only when
    /// opened with [`Store::open_without_migrating`]).
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version.load(Ordering::SeqCst)
    }

    /// Where the store lives (`None` for a temporary store).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Makes everything written so far durable, sharing the flush with concurrent writers.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.commit.wait_durable(&self.inner.db).await
    }

    /// How many group-commit flushes have completed (metrics; shows batching in tests).
    pub fn flush_count(&self) -> u64 {
        self.inner.commit.flushes()
    }

    /// Bytes the store occupies on disk (sled's estimate).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner
            .db
            .size_on_disk()
            .map_err(StoreError::sled("size on disk"))
    }
}

/// How long a held lock is retried before it is reported. sled's IO threads keep the lock file
/// open for a moment after the last `Store` of a process is dropped, so an immediate reopen in
/// the same process (tests, a restart of the pipeline) must not mistake that for a daemon.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

fn open_sled(path: &Path) -> Result<sled::Db, OpenError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|source| open_error(path, source));
        match opened {
            Err(OpenError::Locked { .. }) if started.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// sled reports a held lock as an `Io` error of kind `Other` whose message says so.
fn open_error(path: &Path, source: sled::Error) -> OpenError {
    if let sled::Error::Io(io) = &source {
        if io.to_string().contains("could not acquire lock")
            || io.kind() == std::io::ErrorKind::WouldBlock
        {
            return OpenError::Locked {
                path: path.to_path_buf(),
            };
        }
    }
    OpenError::Sled {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn encode<T: serde::Serialize>(
    tree: &'static str,
    key: &str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        tree,
        key: key.to_string(),
        source,
    })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

pub(crate) fn decode_seq(tree: &'static str, key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Invalid {
        tree,
        reason: format!("sequence key of {} bytes, expected 8", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}
