//! The committed JSON Schema is exactly the one the code builds.
//!
//! After changing the file format: `FB_UPDATE_SCHEMA=1 cargo test -p fb-model --test schema`
//! rewrites `schema/findings-bridge.schema.json`; review and commit it.

use std::path::PathBuf;

use fb_model::schema::{json_schema, json_schema_text, SCHEMA_FILE};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SCHEMA_FILE)
}

#[test]
fn committed_schema_equals_the_generated_one() {
    let path = committed_path();
    let generated = json_schema_text();
    if std::env::var_os("FB_UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with FB_UPDATE_SCHEMA=1)", path.display()));
    assert!(
        committed == generated,
        "{} is stale: run FB_UPDATE_SCHEMA=1 cargo test -p fb-model --test schema",
        path.display()
    );
    let parsed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(parsed, json_schema());
    assert_eq!(
        parsed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}
