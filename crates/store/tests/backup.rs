//! Export / import / check: exact round trips, all-or-nothing imports, and index corruption
//! found in both directions.

use std::io::Cursor;
use std::path::Path;

use chrono::DateTime;
use fb_store::{
    CreateIntent, EventOrigin, FindingFormat, ImportError, InboxEvent, IssueStatus, Mapping,
    OutboxItem, Store,
};

fn mapping(n: usize, issue: Option<&str>) -> Mapping {
    let t = DateTime::from_timestamp(1_735_689_600 + n as i64, 0).expect("time");
    Mapping {
        finding_key: format!("key-{n:03}"),
        finding_id: format!("id-{n:03}"),
        product_arn: (n.is_multiple_of(2))
            .then(|| "arn:aws:securityhub:us-east-1::product/aws/guardduty".into()),
        // OCSF mappings recorded before `metadata_uid` existed have none: keep both kinds.
        metadata_uid: (n % 4 == 1).then(|| format!("meta-{n:03}")),
        format: if n.is_multiple_of(2) {
            FindingFormat::Asff
        } else {
            FindingFormat::Ocsf
        },
        account: "111111111111".into(),
        region: "us-east-1".into(),
        rule: "guardduty".into(),
        title: format!("finding \"{n}\"\nwith é"),
        issue_key: issue.map(str::to_string),
        issue_id: issue.map(|_| n as u64),
        issue_status: IssueStatus::Open,
        severity: "HIGH".into(),
        record_state: "ACTIVE".into(),
        workflow_status: "NEW".into(),
        workflow_written: None,
        finding_updated_at: Some("2025-01-01T00:00:00Z".into()),
        seen_count: n as u64,
        created_at: t,
        updated_at: t,
    }
}

async fn populated() -> Store {
    let store = Store::open_temporary().expect("open");
    for n in 0..30 {
        let issue = format!("SEC-{}", n / 3);
        store
            .put_mapping(&mapping(
                n,
                (!n.is_multiple_of(5)).then_some(issue.as_str()),
            ))
            .expect("put");
    }
    let t = DateTime::from_timestamp(1_735_689_600, 0).expect("time");
    store
        .put_intent(&CreateIntent {
            finding_key: "key-000".into(),
            rule: "guardduty".into(),
            started_at: t,
            attempts: 1,
        })
        .await
        .expect("intent");
    for n in 0..5u32 {
        let origin = if n.is_multiple_of(2) {
            EventOrigin::Relay
        } else {
            EventOrigin::Backfill
        };
        store
            .accept(InboxEvent {
                received_at: t,
                origin,
                body: format!("{{\"n\":{n}}}"),
            })
            .await
            .expect("accept");
    }
    store
        .push_outbox(&OutboxItem::WriteBack {
            finding_key: "key-001".into(),
            workflow: "NOTIFIED".into(),
            note: "Backlog SEC-0".into(),
            attempts: 0,
            last_error: None,
            created_at: t,
        })
        .expect("outbox");
    store
        .put_fingerprint("111111111111", "us-east-1", "fb-x-conn", "abc")
        .expect("fp");
    store.set_cursor("activities", "77").expect("cursor");
    store.hmac_key().expect("key");
    store
}

fn export(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    store.export(&mut out).expect("export");
    out
}

fn all_mappings(store: &Store) -> Vec<Mapping> {
    store
        .mappings()
        .collect::<Result<_, _>>()
        .expect("mappings")
}

#[tokio::test]
async fn export_import_export_is_byte_identical() {
    let original = populated().await;
    let first = export(&original);
    let restored = Store::open_temporary().expect("open");
    let report = restored.import(&mut Cursor::new(&first)).expect("import");
    assert_eq!(
        (report.mappings, report.inbox, report.outbox, report.intents),
        (30, 5, 1, 1)
    );
    assert_eq!(export(&restored), first);
    assert_eq!(all_mappings(&restored), all_mappings(&original));
    assert_eq!(
        restored.hmac_key().expect("key"),
        original.hmac_key().expect("key")
    );
    // Indexes were rebuilt and counters set.
    assert!(restored.check().expect("check").is_ok());
    assert_eq!(
        restored.mappings_by_issue("SEC-2").expect("by issue").len(),
        3
    );
    assert_eq!(
        restored.mapping_by_finding_id("id-007").expect("by id"),
        Some(mapping(7, Some("SEC-2")))
    );
    assert_eq!(
        (
            restored.mapping_count(),
            restored.inbox_len(),
            restored.outbox_len()
        ),
        (30, 5, 1)
    );
    // Sequence numbers continue above the imported ones.
    let max = restored
        .inbox_pending(10)
        .expect("pending")
        .last()
        .expect("some")
        .0;
    let next = restored
        .push_outbox(&restored.outbox_pending(1).expect("p")[0].1)
        .expect("push");
    assert!(next > max);
}

#[tokio::test]
async fn import_into_a_non_empty_store_is_refused_and_changes_nothing() {
    let source = export(&populated().await);
    let target = Store::open_temporary().expect("open");
    target
        .put_mapping(&mapping(500, Some("OPS-1")))
        .expect("put");
    let before = export(&target);
    let err = target
        .import(&mut Cursor::new(&source))
        .expect_err("refused");
    assert!(
        matches!(err, ImportError::NotEmpty { records } if records > 0),
        "{err:?}"
    );
    assert_eq!(export(&target), before);
}

fn with_line(source: &[u8], number: usize, replacement: &str) -> Vec<u8> {
    let text = String::from_utf8(source.to_vec()).expect("utf-8");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[number - 1] = replacement;
    (lines.join("\n") + "\n").into_bytes()
}

async fn assert_refused_and_empty(input: Vec<u8>) -> ImportError {
    let target = Store::open_temporary().expect("open");
    let empty = export(&target);
    let err = target.import(&mut Cursor::new(input)).expect_err("refused");
    assert_eq!(export(&target), empty, "nothing imported");
    assert_eq!((target.mapping_count(), target.inbox_len()), (0, 0));
    err
}

#[tokio::test]
async fn a_malformed_line_is_refused_with_its_number_and_nothing_is_imported() {
    let source = export(&populated().await);
    let err = assert_refused_and_empty(with_line(&source, 20, "{\"record\":\"mapping\",")).await;
    assert!(
        matches!(err, ImportError::Parse { line: 20, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("line 20:"), "{err}");
}

#[tokio::test]
async fn invalid_records_are_refused_with_their_line() {
    let source = export(&populated().await);
    let text = String::from_utf8(source.clone()).expect("utf-8");
    let third = text.lines().nth(2).expect("a mapping line").to_string();
    // A duplicated mapping (line 4 repeats line 3).
    let err = assert_refused_and_empty(with_line(&source, 4, &third)).await;
    assert!(
        matches!(err, ImportError::Invalid { line: 4, .. }),
        "{err:?}"
    );
    // A bad HMAC key.
    let err = assert_refused_and_empty(with_line(
        &source,
        2,
        r#"{"record":"hmac_key","value":"zz"}"#,
    ))
    .await;
    assert!(
        matches!(err, ImportError::Invalid { line: 2, .. }),
        "{err:?}"
    );
    // Another schema version.
    let header = r#"{"record":"header","format":"findings-bridge-store","schema_version":7}"#;
    let err = assert_refused_and_empty(with_line(&source, 1, header)).await;
    assert!(
        matches!(
            err,
            ImportError::VersionMismatch {
                found: 7,
                supported: 1
            }
        ),
        "{err:?}"
    );
    // No header at all.
    let err = assert_refused_and_empty(with_line(&source, 1, "")).await;
    assert!(matches!(err, ImportError::MissingHeader), "{err:?}");
}

fn raw_tree(dir: &Path, name: &str, edit: impl FnOnce(&sled::Tree)) {
    let db = Store::open_raw(dir).expect("raw open");
    edit(&db.open_tree(name).expect("tree"));
    db.flush().expect("flush");
}

#[test]
fn check_finds_bad_index_entries_missing_entries_and_a_wrong_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        store.put_mapping(&mapping(1, Some("SEC-1"))).expect("put");
        store.put_mapping(&mapping(2, Some("SEC-2"))).expect("put");
        assert!(store.check().expect("check").is_ok());
    }
    raw_tree(dir.path(), "idx_issue", |t| {
        t.insert(b"SEC-9\0ghost", &[]).expect("dangling entry");
        t.insert(b"SEC-7\0key-001", &[])
            .expect("entry that disagrees");
    });
    raw_tree(dir.path(), "meta", |t| {
        let kept = t
            .get("mapping_count")
            .expect("read")
            .expect("kept with each mapping");
        assert_eq!(&*kept, &2u64.to_be_bytes(), "the count survives a reopen");
        t.insert("mapping_count", &5u64.to_be_bytes())
            .expect("wrong count");
    });
    raw_tree(dir.path(), "idx_finding_id", |t| {
        t.remove(b"id-002\0key-002").expect("drop an entry");
    });
    let store = Store::open(dir.path()).expect("reopen");
    let report = store.check().expect("check");
    let mut found: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            r#"idx_issue "SEC-7\\0key-001": disagrees with the mapping it points at"#.to_string(),
            r#"idx_issue "SEC-9\\0ghost": points at a mapping that does not exist"#.to_string(),
            r#"mappings "key-002": missing from the finding-id index"#.to_string(),
            r#"meta "mapping_count": says 5 mappings, the tree holds 2"#.to_string(),
        ]
    );
}
