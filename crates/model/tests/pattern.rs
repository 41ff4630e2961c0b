//! `fb_model::pattern::matches`: EventBridge pattern semantics, including fields inside arrays
//! of objects (where moto's matcher fails), on the real ASFF fixtures.

use fb_model::pattern::matches;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/aws/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

/// The seed blog's rule pattern, verbatim.
fn seed_pattern() -> Value {
    json!({
        "detail-type": ["Security Hub Findings - Imported"],
        "source": ["aws.securityhub"],
        "detail": { "findings": {
            "ProductName": ["GuardDuty"],
            "RecordState": ["ACTIVE"],
            "Workflow": { "Status": ["NEW"] },
            "Severity": { "Label": ["LOW", "MEDIUM", "HIGH", "CRITICAL"] }
        }}
    })
}

fn guardduty_asff_event() -> Value {
    let mut finding = fixture("guardduty-finding-in-securityhub-asff-awsdocs.json");
    finding["ProductName"] = json!("GuardDuty");
    json!({
        "version": "0", "id": "1", "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": "193043430472", "region": "us-east-1",
        "time": "2020-09-30T12:14:00Z", "resources": [], "detail": {"findings": [finding]},
    })
}

#[test]
fn seed_pattern_matches_a_new_guardduty_finding_inside_the_findings_array() {
    assert!(matches(&seed_pattern(), &guardduty_asff_event()));
}

#[test]
fn seed_pattern_rejects_our_notified_echo_and_other_products() {
    let mut echo = guardduty_asff_event();
    echo["detail"]["findings"][0]["Workflow"]["Status"] = json!("NOTIFIED");
    assert!(!matches(&seed_pattern(), &echo));

    let control = fixture("securityhub-findings-imported-asff-control-afsbp-ec2.7.json");
    assert!(
        !matches(&seed_pattern(), &control),
        "ProductName is absent, severity INFORMATIONAL"
    );

    let mut archived = guardduty_asff_event();
    archived["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
    assert!(!matches(&seed_pattern(), &archived));

    let ocsf = fixture("securityhub-findings-imported-v2-ocsf-guardduty-sumologic.json");
    assert!(!matches(&seed_pattern(), &ocsf), "other detail-type");
}

#[test]
fn control_finding_matches_a_compliance_pattern() {
    let control = fixture("securityhub-findings-imported-asff-control-afsbp-ec2.7.json");
    let pattern = json!({
        "source": ["aws.securityhub"],
        "detail": {"findings": {
            "Compliance": {"Status": ["FAILED", "WARNING"]},
            "GeneratorId": [{"prefix": "aws-foundational-security-best-practices/"}],
            "ProductFields": {"ControlId": [{"wildcard": "EC2.*"}]},
            "Severity": {"Normalized": [{"numeric": [">=", 0, "<", 40]}]}
        }}
    });
    assert!(matches(&pattern, &control));
}

#[test]
fn fields_inside_one_array_element_must_match_together() {
    let event = json!({"detail": {"findings": [
        {"ProductName": "GuardDuty", "RecordState": "ARCHIVED"},
        {"ProductName": "Inspector", "RecordState": "ACTIVE"}
    ]}});
    let pattern = |p: &str, r: &str| json!({"detail": {"findings": {"ProductName": [p], "RecordState": [r]}}});
    assert!(matches(&pattern("GuardDuty", "ARCHIVED"), &event));
    assert!(matches(&pattern("Inspector", "ACTIVE"), &event));
    assert!(!matches(&pattern("GuardDuty", "ACTIVE"), &event));
}

#[test]
fn value_lists_are_or_and_arrays_of_scalars_match_any_element() {
    let event = json!({"detail": {"Types": ["a/b", "c/d"], "n": 5}});
    assert!(matches(&json!({"detail": {"Types": ["x", "c/d"]}}), &event));
    assert!(!matches(&json!({"detail": {"Types": ["x", "y"]}}), &event));
    assert!(matches(&json!({"detail": {"n": [5]}}), &event));
    assert!(matches(&json!({"detail": {"n": [5.0]}}), &event));
    assert!(
        !matches(&json!({"detail": {"n": ["5"]}}), &event),
        "types differ"
    );
}

#[test]
fn prefix_suffix_and_ignore_case() {
    let event = json!({"f": "Security Hub Findings - Imported"});
    assert!(matches(&json!({"f": [{"prefix": "Security Hub"}]}), &event));
    assert!(!matches(
        &json!({"f": [{"prefix": "security hub"}]}),
        &event
    ));
    assert!(matches(
        &json!({"f": [{"prefix": {"equals-ignore-case": "security hub"}}]}),
        &event
    ));
    assert!(matches(&json!({"f": [{"suffix": "Imported"}]}), &event));
    assert!(matches(
        &json!({"f": [{"suffix": {"equals-ignore-case": "IMPORTED"}}]}),
        &event
    ));
    assert!(matches(
        &json!({"f": [{"equals-ignore-case": "security HUB findings - imported"}]}),
        &event
    ));
    assert!(!matches(
        &json!({"f": [{"equals-ignore-case": "security hub"}]}),
        &event
    ));
}

#[test]
fn anything_but_in_all_its_forms() {
    let event = json!({"s": "NOTIFIED", "n": 3});
    assert!(matches(&json!({"s": [{"anything-but": "NEW"}]}), &event));
    assert!(!matches(
        &json!({"s": [{"anything-but": "NOTIFIED"}]}),
        &event
    ));
    assert!(!matches(
        &json!({"s": [{"anything-but": ["NEW", "NOTIFIED"]}]}),
        &event
    ));
    assert!(matches(&json!({"n": [{"anything-but": [1, 2]}]}), &event));
    assert!(!matches(
        &json!({"s": [{"anything-but": {"prefix": "NOT"}}]}),
        &event
    ));
    assert!(matches(
        &json!({"s": [{"anything-but": {"prefix": "RES"}}]}),
        &event
    ));
    assert!(!matches(
        &json!({"s": [{"anything-but": {"suffix": "FIED"}}]}),
        &event
    ));
    assert!(!matches(
        &json!({"s": [{"anything-but": {"equals-ignore-case": ["notified"]}}]}),
        &event
    ));
    assert!(
        !matches(&json!({"missing": [{"anything-but": "x"}]}), &event),
        "needs a value"
    );
}

#[test]
fn exists_true_and_false() {
    let event = json!({"detail": {"findings": [{"Note": {"Text": "x"}}]}});
    assert!(matches(
        &json!({"detail": {"findings": {"Note": {"Text": [{"exists": true}]}}}}),
        &event
    ));
    assert!(!matches(
        &json!({"detail": {"findings": {"Note": {"Text": [{"exists": false}]}}}}),
        &event
    ));
    assert!(matches(
        &json!({"detail": {"findings": {"Compliance": {"Status": [{"exists": false}]}}}}),
        &event
    ));
    assert!(!matches(
        &json!({"detail": {"findings": {"Compliance": {"Status": [{"exists": true}]}}}}),
        &event
    ));
}

#[test]
fn numeric_ranges() {
    let event = json!({"sev": 7.5});
    assert!(matches(
        &json!({"sev": [{"numeric": [">=", 7, "<", 9]}]}),
        &event
    ));
    assert!(!matches(&json!({"sev": [{"numeric": [">", 7.5]}]}), &event));
    assert!(matches(&json!({"sev": [{"numeric": ["=", 7.5]}]}), &event));
    assert!(matches(&json!({"sev": [{"numeric": ["<=", 7.5]}]}), &event));
    assert!(
        !matches(&json!({"sev": [{"numeric": [">", "x"]}]}), &event),
        "malformed"
    );
    assert!(
        !matches(&json!({"s": [{"numeric": [">", 1]}]}), &json!({"s": "5"})),
        "strings are not numbers"
    );
}

#[test]
fn wildcard_matches_runs_of_characters() {
    let event = json!({"t": "Recon:EC2/PortProbeUnprotectedPort"});
    assert!(matches(
        &json!({"t": [{"wildcard": "Recon:*/Port*"}]}),
        &event
    ));
    assert!(!matches(
        &json!({"t": [{"wildcard": "Backdoor:*"}]}),
        &event
    ));
}

#[test]
fn malformed_patterns_match_nothing_and_empty_pattern_matches_all() {
    let event = guardduty_asff_event();
    assert!(matches(&json!({}), &event));
    assert!(
        !matches(&json!({"source": "aws.securityhub"}), &event),
        "a leaf must be a list"
    );
    assert!(!matches(&json!({"source": [{"no-such-op": 1}]}), &event));
    assert!(!matches(&json!(["aws.securityhub"]), &event));
}
