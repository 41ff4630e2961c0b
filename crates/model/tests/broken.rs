//! A file with many different problems: every one is reported in one run, with its key path,
//! line, column and offending value, and a literal secret never appears in the output.

use fb_model::config::{parse_str, ConfigError, HIDDEN_VALUE};

/// (path, line, column, value, a word of the message).
type Expected = (
    &'static str,
    usize,
    usize,
    Option<&'static str>,
    &'static str,
);

const EXPECTED: &[Expected] = &[
    ("version", 1, 10, Some("2"), "unsupported version"),
    ("name", 2, 7, Some("Sec_Ops"), "lowercase"),
    ("colour", 3, 1, None, "unknown key"),
    ("accounts", 5, 3, None, "role or role_arn"),
    ("accounts.ids[0]", 5, 9, Some("12345"), "12 digits"),
    (
        "accounts.regions[1]",
        8,
        29,
        Some("mars-north-1"),
        "unknown AWS region",
    ),
    (
        "backlog.base_url",
        13,
        13,
        Some("http://example.backlog.jp"),
        "https",
    ),
    ("backlog.api_key", 14, 12, Some(HIDDEN_VALUE), "reference"),
    (
        "backlog.priority.SEVERE",
        17,
        66,
        Some("SEVERE"),
        "unknown severity label",
    ),
    ("rules[0].delivery", 20, 15, Some("relay"), "relay: section"),
    (
        "rules[0].rate_limit_per_second",
        26,
        28,
        Some("0"),
        "from 1 to 300",
    ),
    (
        "rules[0].issue.summary",
        28,
        16,
        Some("<Acount>"),
        "unknown template variable",
    ),
    (
        "rules[1].name",
        30,
        11,
        Some("guardduty"),
        "duplicate rule name",
    ),
    ("rules[1].issue.colour", 36, 7, None, "unknown key"),
    (
        "schedules.reconcile",
        38,
        14,
        Some("*/10 * * * *"),
        "6 fields",
    ),
];

#[test]
fn every_problem_is_reported_with_path_line_and_value() {
    let text = include_str!("fixtures/broken.yaml");
    let errors = parse_str(text, "broken.yaml").expect_err("the file is broken");
    let found: Vec<&ConfigError> = errors.errors.iter().collect();
    for (path, line, column, value, word) in EXPECTED {
        let hit = found.iter().find(|e| e.path == *path);
        let Some(e) = hit else {
            panic!("no error at {path}; got:\n{errors}");
        };
        assert_eq!((e.line, e.column), (*line, *column), "position of {path}");
        assert_eq!(e.value.as_deref(), *value, "value at {path}");
        assert!(
            e.message.contains(word),
            "{path}: {:?} lacks {word:?}",
            e.message
        );
    }
    assert_eq!(
        found.len(),
        EXPECTED.len(),
        "unexpected extra errors:\n{errors}"
    );
}

#[test]
fn output_is_one_line_per_problem_and_hides_the_literal_secret() {
    let text = include_str!("fixtures/broken.yaml");
    let shown = parse_str(text, "broken.yaml").unwrap_err().to_string();
    assert_eq!(shown.lines().count(), EXPECTED.len());
    assert!(
        shown.lines().all(|l| l.starts_with("broken.yaml:")),
        "{shown}"
    );
    assert!(shown.contains(r#"broken.yaml:30:11: rules[1].name: duplicate rule name "guardduty""#));
    assert!(
        !shown.contains("abcdef0123456789"),
        "secret leaked:\n{shown}"
    );
    assert!(shown.contains("backlog.api_key: a secret must be a reference"));
}
