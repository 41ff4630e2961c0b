//! docs/configuration.md cannot fall behind the code: its key tables list exactly the key paths
//! of the desired-state schema (`fb_model::schema::json_schema()`, itself kept equal to the
//! loader's `KNOWN_KEYS`), say "yes" under *required* exactly for the keys the schema requires,
//! and show every schema default under *default*.
//!
//! Must not: judge the prose; only the table rows whose first cell is a backticked key path.

use std::collections::BTreeMap;

use fb_e2e::workspace_root;
use serde_json::Value;

/// What the schema says about one key.
#[derive(Debug)]
struct SchemaKey {
    required: bool,
    default: Option<Value>,
}

/// Follows a local `$ref` into `$defs`.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => &root["$defs"][r.strip_prefix("#/$defs/").expect("local refs only")],
        None => node,
    }
}

/// Every property path (`accounts.organization.include_ous`, `rules[].issue.summary`).
fn schema_keys(root: &Value, node: &Value, path: &str, out: &mut BTreeMap<String, SchemaKey>) {
    let node = resolve(root, node);
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (key, child) in props {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            out.insert(
                child_path.clone(),
                SchemaKey {
                    required: required.contains(&key.as_str()),
                    // A default may sit beside a `$ref` or in the referenced definition.
                    default: child
                        .get("default")
                        .or_else(|| resolve(root, child).get("default"))
                        .cloned(),
                },
            );
            schema_keys(root, child, &child_path, out);
        }
    }
    if let Some(items) = node.get("items") {
        schema_keys(root, items, &format!("{path}[]"), out);
    }
}

/// A documented key: its row's cells, by column name.
type Row = BTreeMap<String, String>;

/// Rows of every table whose header starts with `key`, keyed by the backticked path.
fn documented_keys(markdown: &str) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    let mut header: Option<Vec<String>> = None;
    for line in markdown.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let cells: Vec<String> = split_row(line);
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')))
        {
            continue;
        }
        match &header {
            None => header = Some(cells),
            Some(h) if h.first().map(String::as_str) == Some("key") => {
                let key = cells[0].trim_matches('`').to_owned();
                let row: Row = h.iter().cloned().zip(cells).collect();
                assert!(
                    out.insert(key.clone(), row).is_none(),
                    "{key} documented twice"
                );
            }
            Some(_) => {}
        }
    }
    out
}

/// Cells of a markdown table row; `\|` inside a cell is a literal bar.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The scalar texts a default must show (a list shows each element).
fn default_texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(default_texts).collect(),
        other => vec![other.to_string()],
    }
}

#[test]
fn the_reference_documents_every_key_of_the_schema_and_nothing_else() {
    let root = fb_model::schema::json_schema();
    let mut schema = BTreeMap::new();
    schema_keys(&root, &root, "", &mut schema);
    assert!(schema.len() > 40, "{} keys", schema.len());

    let doc_path = workspace_root().join("docs/configuration.md");
    let markdown = std::fs::read_to_string(&doc_path).expect("docs/configuration.md");
    let documented = documented_keys(&markdown);

    let missing: Vec<&String> = schema
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    let unknown: Vec<&String> = documented
        .keys()
        .filter(|k| !schema.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/configuration.md lacks {missing:?} and documents keys the schema does not have: {unknown:?}"
    );

    for (key, facts) in &schema {
        let row = &documented[key];
        let required = row.get("required").expect("a required column");
        assert_eq!(
            required == "yes",
            facts.required,
            "{key}: the schema says required = {}, the doc says `{required}`",
            facts.required
        );
        if let Some(default) = &facts.default {
            let cell = row.get("default").expect("a default column");
            for text in default_texts(default) {
                assert!(
                    cell.contains(&text),
                    "{key}: the default {default} is not shown in `{cell}`"
                );
            }
        }
        let what = row.get("what it does").map(String::as_str).unwrap_or("");
        assert!(what.len() > 10, "{key}: say what it does");
    }
}

#[test]
fn the_table_reader_finds_rows_and_escaped_bars() {
    let markdown = "| key | required | default | what it does |\n|---|---|---|---|\n\
                    | `a.b` | yes | — | one \\| two |\n\n| other | x |\n|---|---|\n| `c` | y |\n";
    let rows = documented_keys(markdown);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["a.b"]);
    assert_eq!(rows["a.b"]["what it does"], "one | two");
    assert_eq!(rows["a.b"]["required"], "yes");
}
