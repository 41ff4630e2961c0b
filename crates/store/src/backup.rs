//! Export (JSON lines) and import into an empty store (the consistency check is `check.rs`).
//!
//! Export format, one JSON object per line, tagged by `record`: first a `header` (format name
//! and schema version), then `hmac_key`, `mapping`, `intent`, `inbox`, `outbox`, `fingerprint`,
//! `cursor` records in tree order. Indexes are not exported: import rebuilds them. The output is
//! deterministic (no timestamps of its own), so export → import → export is byte-identical.
//! The file holds the store's HMAC key (without it, restored fingerprints would all look like
//! drift): keep exports as private as the store itself.
//!
//! Must not: import into a store that holds anything, or write anything before the whole input
//! has been read and validated.

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::error::{ExportError, ImportError, StoreError};
use crate::mappings::{index_entries, validate};
use crate::state::fingerprint_key;
use crate::types::{CreateIntent, InboxEvent, Mapping, OutboxItem};
use crate::{decode, decode_seq, meta, tree, Store};

const FORMAT: &str = "findings-bridge-store";

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line {
    Header {
        format: String,
        schema_version: u32,
    },
    HmacKey {
        value: String,
    },
    Mapping {
        value: Box<Mapping>,
    },
    Intent {
        value: CreateIntent,
    },
    Inbox {
        seq: u64,
        value: InboxEvent,
    },
    Outbox {
        seq: u64,
        value: OutboxItem,
    },
    Fingerprint {
        account: String,
        region: String,
        connection: String,
        value: String,
    },
    Cursor {
        name: String,
        value: String,
    },
}

/// How many records of each kind an export wrote or an import read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordCounts {
    pub mappings: usize,
    pub intents: usize,
    pub inbox: usize,
    pub outbox: usize,
    pub fingerprints: usize,
    pub cursors: usize,
    pub hmac_key: bool,
}

pub type ExportReport = RecordCounts;
pub type ImportReport = RecordCounts;

impl fmt::Display for RecordCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} mappings, {} create intents, {} inbox events, {} outbox items, {} fingerprints, {} cursors",
            self.mappings, self.intents, self.inbox, self.outbox, self.fingerprints, self.cursors
        )
    }
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<(), ExportError> {
    let mut bytes = serde_json::to_vec(line).map_err(|e| ExportError::Write {
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    out.write_all(&bytes)
        .map_err(|source| ExportError::Write { source })
}

fn text(tree: &'static str, bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Invalid {
        tree,
        reason: "key is not UTF-8".into(),
    })
}

impl Store {
    /// Writes every record as JSON lines. Run it on a store nobody else is writing.
    pub fn export(&self, out: &mut dyn Write) -> Result<ExportReport, ExportError> {
        let t = &self.inner.trees;
        let read = |source| ExportError::Read { source };
        let scan = |op| {
            move |e| ExportError::Read {
                source: StoreError::sled(op)(e),
            }
        };
        let mut counts = RecordCounts::default();
        write_line(
            out,
            &Line::Header {
                format: FORMAT.into(),
                schema_version: self.schema_version(),
            },
        )?;
        if let Some(key) = t.meta.get(meta::HMAC_KEY).map_err(scan("read meta"))? {
            counts.hmac_key = true;
            write_line(
                out,
                &Line::HmacKey {
                    value: hex::encode(key),
                },
            )?;
        }
        for m in self.mappings() {
            counts.mappings += 1;
            write_line(
                out,
                &Line::Mapping {
                    value: Box::new(m.map_err(read)?),
                },
            )?;
        }
        for value in self.intents().map_err(read)? {
            counts.intents += 1;
            write_line(out, &Line::Intent { value })?;
        }
        for entry in t.inbox.iter() {
            let (k, v) = entry.map_err(scan("scan inbox"))?;
            counts.inbox += 1;
            let seq = decode_seq(tree::INBOX, &k).map_err(read)?;
            let value = decode(tree::INBOX, &k, &v).map_err(read)?;
            write_line(out, &Line::Inbox { seq, value })?;
        }
        for entry in t.outbox.iter() {
            let (k, v) = entry.map_err(scan("scan outbox"))?;
            counts.outbox += 1;
            let seq = decode_seq(tree::OUTBOX, &k).map_err(read)?;
            let value = decode(tree::OUTBOX, &k, &v).map_err(read)?;
            write_line(out, &Line::Outbox { seq, value })?;
        }
        for entry in t.fingerprints.iter() {
            let (k, v) = entry.map_err(scan("scan fingerprints"))?;
            counts.fingerprints += 1;
            let key = text(tree::FINGERPRINTS, &k).map_err(read)?;
            let parts: Vec<&str> = key.split('\u{0}').collect();
            let [account, region, connection] = parts[..] else {
                return Err(read(StoreError::Invalid {
                    tree: tree::FINGERPRINTS,
                    reason: format!("malformed key {key:?}"),
                }));
            };
            let value = decode(tree::FINGERPRINTS, &k, &v).map_err(read)?;
            write_line(
                out,
                &Line::Fingerprint {
                    account: account.into(),
                    region: region.into(),
                    connection: connection.into(),
                    value,
                },
            )?;
        }
        for entry in t.cursors.iter() {
            let (k, v) = entry.map_err(scan("scan cursors"))?;
            counts.cursors += 1;
            let name = text(tree::CURSORS, &k).map_err(read)?;
            let value = decode(tree::CURSORS, &k, &v).map_err(read)?;
            write_line(out, &Line::Cursor { name, value })?;
        }
        out.flush()
            .map_err(|source| ExportError::Write { source })?;
        Ok(counts)
    }

    /// Reads an export into this store, which must be empty. All or nothing: the whole input is
    /// parsed and validated first; a write failure removes what was written.
    pub fn import(&self, input: &mut dyn BufRead) -> Result<ImportReport, ImportError> {
        let records = self.record_count();
        if records > 0 {
            return Err(ImportError::NotEmpty { records });
        }
        let parsed = parse_input(input)?;
        let counts = parsed.counts.clone();
        if let Err(source) = self.write_import(parsed) {
            self.clear_after_failed_import();
            return Err(ImportError::Write { source });
        }
        tracing::info!(
            mappings = counts.mappings,
            inbox = counts.inbox,
            "store imported"
        );
        Ok(counts)
    }

    /// Records in the data trees plus an HMAC key (what makes a store "not empty").
    fn record_count(&self) -> usize {
        let t = &self.inner.trees;
        let data: usize = t.data().iter().map(|(_, tree)| tree.len()).sum();
        data + usize::from(t.meta.contains_key(meta::HMAC_KEY).unwrap_or(true))
    }

    fn write_import(&self, parsed: Parsed) -> Result<(), StoreError> {
        let t = &self.inner.trees;
        let batches = [
            (&t.mappings, parsed.mappings),
            (&t.idx_issue, parsed.idx_issue),
            (&t.idx_finding_id, parsed.idx_finding_id),
            (&t.intents, parsed.intents),
            (&t.inbox, parsed.inbox),
            (&t.outbox, parsed.outbox),
            (&t.fingerprints, parsed.fingerprints),
            (&t.cursors, parsed.cursors),
        ];
        for (tree, batch) in batches {
            tree.apply_batch(batch)
                .map_err(StoreError::sled("write imported records"))?;
        }
        if let Some(key) = parsed.hmac_key {
            t.meta
                .insert(meta::HMAC_KEY, key)
                .map_err(StoreError::sled("write imported HMAC key"))?;
        }
        let mappings = parsed.counts.mappings as u64;
        t.meta
            .insert(meta::MAPPING_COUNT, &mappings.to_be_bytes())
            .map_err(StoreError::sled("write mapping count"))?;
        if let Some(max) = parsed.max_seq {
            self.inner.seq.bump_past(&t.meta, max)?;
        }
        self.load_counters()?;
        self.inner
            .db
            .flush()
            .map_err(|source| StoreError::Flush { source })?;
        Ok(())
    }

    fn clear_after_failed_import(&self) {
        let t = &self.inner.trees;
        for (name, tree) in t.data() {
            if let Err(error) = tree.clear() {
                tracing::error!(tree = name, %error, "cannot remove a partial import");
            }
        }
        let _ = t.meta.remove(meta::HMAC_KEY);
        let _ = t.meta.remove(meta::MAPPING_COUNT);
        let _ = self.load_counters();
    }
}

/// A fully validated import, ready to write.
#[derive(Default)]
struct Parsed {
    counts: RecordCounts,
    hmac_key: Option<Vec<u8>>,
    mappings: sled::Batch,
    idx_issue: sled::Batch,
    idx_finding_id: sled::Batch,
    intents: sled::Batch,
    inbox: sled::Batch,
    outbox: sled::Batch,
    fingerprints: sled::Batch,
    cursors: sled::Batch,
    max_seq: Option<u64>,
}

fn parse_input(input: &mut dyn BufRead) -> Result<Parsed, ImportError> {
    let mut parsed = Parsed::default();
    let mut seen: HashSet<(&'static str, Vec<u8>)> = HashSet::new();
    let mut header = false;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|source| ImportError::ReadInput {
            line: number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Line = serde_json::from_str(&line).map_err(|source| ImportError::Parse {
            line: number,
            source,
        })?;
        let invalid = |reason: String| ImportError::Invalid {
            line: number,
            reason,
        };
        if !header {
            let Line::Header {
                format,
                schema_version,
            } = record
            else {
                return Err(ImportError::MissingHeader);
            };
            if format != FORMAT {
                return Err(invalid(format!("unknown export format {format:?}")));
            }
            if schema_version != Store::SCHEMA_VERSION {
                return Err(ImportError::VersionMismatch {
                    found: schema_version,
                    supported: Store::SCHEMA_VERSION,
                });
            }
            header = true;
            continue;
        }
        let (kind, key) = add_record(&mut parsed, record).map_err(invalid)?;
        if !seen.insert((kind, key)) {
            return Err(invalid(format!("a second {kind} record with the same key")));
        }
    }
    if !header {
        return Err(ImportError::MissingHeader);
    }
    Ok(parsed)
}

/// Adds one record to the batches; returns its (kind, key) for the duplicate check.
fn add_record(p: &mut Parsed, record: Line) -> Result<(&'static str, Vec<u8>), String> {
    let json = |v: &dyn erased::Encode| v.encode().map_err(|e| e.to_string());
    let mut seq = |s: u64| p.max_seq = Some(p.max_seq.map_or(s, |m| m.max(s)));
    Ok(match record {
        Line::Header { .. } => return Err("a second header".into()),
        Line::HmacKey { value } => {
            let key = hex::decode(&value).map_err(|_| "hmac_key is not hex".to_string())?;
            if key.len() != 32 {
                return Err(format!("hmac_key has {} bytes, expected 32", key.len()));
            }
            p.hmac_key = Some(key);
            p.counts.hmac_key = true;
            ("hmac_key", Vec::new())
        }
        Line::Mapping { value } => {
            validate(&value).map_err(|e| e.to_string())?;
            let key = value.finding_key.clone().into_bytes();
            let (issue_entry, id_entry) = index_entries(&value);
            if let Some(entry) = issue_entry {
                p.idx_issue.insert(entry, &[]);
            }
            p.idx_finding_id.insert(id_entry, &[]);
            p.mappings.insert(key.clone(), json(&value)?);
            p.counts.mappings += 1;
            ("mapping", key)
        }
        Line::Intent { value } => {
            if value.finding_key.is_empty() {
                return Err("create intent with an empty finding key".into());
            }
            let key = value.finding_key.clone().into_bytes();
            p.intents.insert(key.clone(), json(&value)?);
            p.counts.intents += 1;
            ("intent", key)
        }
        Line::Inbox { seq: s, value } => {
            seq(s);
            p.inbox.insert(&s.to_be_bytes(), json(&value)?);
            p.counts.inbox += 1;
            ("sequence number", s.to_be_bytes().to_vec())
        }
        Line::Outbox { seq: s, value } => {
            seq(s);
            p.outbox.insert(&s.to_be_bytes(), json(&value)?);
            p.counts.outbox += 1;
            ("sequence number", s.to_be_bytes().to_vec())
        }
        Line::Fingerprint {
            account,
            region,
            connection,
            value,
        } => {
            if [&account, &region, &connection]
                .iter()
                .any(|s| s.contains('\u{0}'))
            {
                return Err("fingerprint key contains a NUL byte".into());
            }
            let key = fingerprint_key(&account, &region, &connection);
            p.fingerprints.insert(key.clone(), json(&value)?);
            p.counts.fingerprints += 1;
            ("fingerprint", key)
        }
        Line::Cursor { name, value } => {
            let key = name.into_bytes();
            p.cursors.insert(key.clone(), json(&value)?);
            p.counts.cursors += 1;
            ("cursor", key)
        }
    })
}

/// Object-safe JSON encoding, so `add_record` encodes every record type with one helper.
mod erased {
    pub trait Encode {
        fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}
