//! One error enum per operation family. Each carries its context (path, tree, key, line) in
//! fields and its cause as `#[source]`. Must not: include a record's body or any secret — keys
//! and line numbers only.

use std::path::PathBuf;

/// Opening (and, at open, migrating) a store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the store at {path} is in use (is the daemon running?) — stop it first")]
    Locked { path: PathBuf },
    #[error("cannot open the store at {path}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(
        "the store at {path} has schema version {found}, newer than this binary supports \
         ({supported}); run a findings-bridge release that supports version {found}, or restore \
         a backup made for version {supported}"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store at {path} has an unreadable schema version record")]
    BadVersion { path: PathBuf },
    #[error("cannot upgrade the store at {path}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: MigrateError,
    },
    #[error("cannot read the store at {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
}

/// Running schema migrations.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "no migration step from schema version {from} (this binary supports up to {supported})"
    )]
    NoStep { from: u32, supported: u32 },
    #[error("the store has schema version {found}, newer than this binary supports ({supported})")]
    TooNew { found: u32, supported: u32 },
    #[error("migration step {from} → {to} ({name}) failed")]
    Step {
        from: u32,
        to: u32,
        name: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("cannot record the schema version")]
    Stamp {
        #[source]
        source: StoreError,
    },
}

/// Any single read or write of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {op} failed")]
    Sled {
        op: &'static str,
        #[source]
        source: sled::Error,
    },
    #[error("record {key:?} in tree {tree} cannot be decoded")]
    Decode {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("record {key:?} for tree {tree} cannot be encoded")]
    Encode {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid record for tree {tree}: {reason}")]
    Invalid { tree: &'static str, reason: String },
    #[error("durable flush failed")]
    Flush {
        #[source]
        source: sled::Error,
    },
    #[error("the blocking flush task did not finish")]
    FlushTask {
        #[source]
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    pub(crate) fn sled(op: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Sled { op, source }
    }
}

/// `store export`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export")]
    Write {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the store")]
    Read {
        #[source]
        source: StoreError,
    },
}

/// `store import`: nothing is written unless the whole input is valid.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the store is not empty ({records} records); import only into a new, empty store")]
    NotEmpty { records: usize },
    #[error("cannot read the import input at line {line}")]
    ReadInput {
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: not a valid export record")]
    Parse {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: {reason}")]
    Invalid { line: usize, reason: String },
    #[error("the input is empty or does not start with a findings-bridge export header")]
    MissingHeader,
    #[error(
        "the export has schema version {found}, this binary writes {supported}: import it with \
         the matching release, then upgrade with `store migrate`"
    )]
    VersionMismatch { found: u32, supported: u32 },
    #[error("cannot write the imported records (the partial import was removed)")]
    Write {
        #[source]
        source: StoreError,
    },
}
