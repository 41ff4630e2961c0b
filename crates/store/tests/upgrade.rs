//! Stores written by earlier releases open with this one; newer or foreign stores are refused.
//!
//! The v1 store is built from `migrations/fixtures/v1.jsonl` by writing each record directly in
//! v1's raw sled layout (`migrations/0001-initial.md`), not through today's import code, so the
//! test pins the on-disk format a v1 binary actually left behind.

use std::path::{Path, PathBuf};

use fb_store::{OpenError, Store};
use serde_json::Value;

fn fixture(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../migrations/fixtures/v{version}.jsonl"))
}

fn nul_joined(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

/// Writes the export's records the way the v1 binary stores them.
fn write_raw_v1_store(dir: &Path, jsonl: &str) {
    let db = Store::open_raw(dir).expect("raw open");
    let tree = |name: &str| db.open_tree(name).expect("tree");
    let json = |v: &Value| serde_json::to_vec(v).expect("json");
    let mut max_seq = 0;
    for line in jsonl.lines() {
        let r: Value = serde_json::from_str(line).expect("fixture line");
        let value = &r["value"];
        let s = |v: &Value| v.as_str().expect("string").to_string();
        match r["record"].as_str().expect("record") {
            "header" => {
                let v = r["schema_version"].as_u64().expect("version").to_string();
                tree("meta")
                    .insert("schema_version", v.as_bytes())
                    .expect("write");
            }
            "hmac_key" => {
                let key = hex::decode(s(value)).expect("hex");
                tree("meta").insert("hmac_key", key).expect("write");
            }
            "mapping" => {
                let key = s(&value["finding_key"]);
                tree("mappings")
                    .insert(key.as_bytes(), json(value))
                    .expect("write");
                if let Some(issue) = value["issue_key"].as_str() {
                    tree("idx_issue")
                        .insert(nul_joined(&[issue, &key]), &[])
                        .expect("write");
                }
                let id = s(&value["finding_id"]);
                tree("idx_finding_id")
                    .insert(nul_joined(&[&id, &key]), &[])
                    .expect("write");
            }
            "intent" => {
                let key = s(&value["finding_key"]);
                tree("intents")
                    .insert(key.as_bytes(), json(value))
                    .expect("write");
            }
            kind @ ("inbox" | "outbox") => {
                let seq = r["seq"].as_u64().expect("seq");
                max_seq = max_seq.max(seq);
                tree(kind)
                    .insert(seq.to_be_bytes(), json(value))
                    .expect("write");
            }
            "fingerprint" => {
                let key = nul_joined(&[&s(&r["account"]), &s(&r["region"]), &s(&r["connection"])]);
                tree("fingerprints")
                    .insert(key, json(value))
                    .expect("write");
            }
            "cursor" => {
                tree("cursors")
                    .insert(s(&r["name"]).as_bytes(), json(value))
                    .expect("write");
            }
            other => panic!("unknown record {other}"),
        }
    }
    let reserved: u64 = max_seq + (1 << 20);
    tree("meta")
        .insert("seq_reserved", &reserved.to_be_bytes())
        .expect("write");
    db.flush().expect("flush");
}

#[tokio::test]
async fn a_v1_store_opens_with_every_record_and_index_intact() {
    let text = std::fs::read_to_string(fixture(1)).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    write_raw_v1_store(dir.path(), &text);

    let store = Store::open(dir.path()).expect("open the v1 store");
    assert_eq!(store.schema_version(), Store::SCHEMA_VERSION);
    assert!(store.check().expect("check").is_ok());
    assert_eq!(store.mapping_count(), 4);
    assert_eq!(
        store.mappings_by_issue("SEC-12").expect("by issue").len(),
        2
    );
    let closed = store.mappings_by_issue("SEC-13").expect("by issue");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].issue_status, fb_store::IssueStatus::Closed);
    let ocsf = "ocsf-8c1e2f3a-0000-4d6e-9f7a-1b2c3d4e5f60";
    let m = store
        .mapping_by_finding_id(ocsf)
        .expect("by id")
        .expect("present");
    assert_eq!(
        (m.format, m.issue_key),
        (fb_store::FindingFormat::Ocsf, None)
    );
    assert_eq!(
        store
            .intent(ocsf)
            .expect("intent")
            .expect("present")
            .attempts,
        2
    );
    assert_eq!(store.inbox_len(), 2);
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(
        store
            .cursor("closure_sync.activities.SEC")
            .expect("cursor")
            .as_deref(),
        Some("123456")
    );
    assert!(store
        .fingerprint("222222222222", "ap-northeast-1", "fb-secops-guardduty")
        .expect("fingerprint")
        .is_some());
    assert_eq!(
        store.hmac_key().expect("key"),
        (0u8..32).collect::<Vec<_>>()
    );

    // Byte-identical export: every field of every record survived.
    let mut out = Vec::new();
    store.export(&mut out).expect("export");
    assert_eq!(String::from_utf8(out).expect("utf-8"), text);

    // New sequence numbers continue above the old ones.
    let before: Vec<u64> = store
        .inbox_pending(10)
        .expect("pending")
        .iter()
        .map(|(s, _)| *s)
        .collect();
    let event = store.inbox_pending(1).expect("pending")[0].1.clone();
    let seq = store.accept(event).await.expect("accept");
    assert!(before.iter().all(|s| *s < seq), "{seq} after {before:?}");
}

#[test]
fn a_store_from_a_newer_release_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("create"));
    {
        let db = Store::open_raw(dir.path()).expect("raw open");
        db.open_tree("meta")
            .expect("meta")
            .insert("schema_version", "99")
            .expect("stamp");
        db.flush().expect("flush");
    }
    let err = Store::open(dir.path()).expect_err("refused");
    assert!(
        matches!(
            err,
            OpenError::TooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("schema version 99") && message.contains("supports (1)"),
        "{message}"
    );
    assert!(matches!(
        Store::open_without_migrating(dir.path()),
        Err(OpenError::TooNew { found: 99, .. })
    ));
    let db = Store::open_raw(dir.path()).expect("raw open");
    let stamp = db
        .open_tree("meta")
        .expect("meta")
        .get("schema_version")
        .expect("read");
    assert_eq!(stamp.as_deref(), Some(&b"99"[..]), "the stamp is untouched");
}

#[test]
fn a_store_in_use_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _daemon = Store::open(dir.path()).expect("first open");
    let err = Store::open(dir.path()).expect_err("second open");
    assert!(matches!(err, OpenError::Locked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the store at {} is in use (is the daemon running?) — stop it first",
            dir.path().display()
        )
    );
}

#[test]
fn data_without_a_schema_version_is_not_adopted() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Store::open_raw(dir.path()).expect("raw open");
        db.open_tree("mappings")
            .expect("tree")
            .insert("k", "{}")
            .expect("write");
        db.flush().expect("flush");
    }
    let err = Store::open(dir.path()).expect_err("refused");
    assert!(matches!(err, OpenError::BadVersion { .. }), "{err:?}");
}
