//! The renderings of one small plan, compared with the exact expected text.

mod common;

use common::*;
use fb_model::plan::Plan;
use fb_model::resources::{ObservedAccount, ObservedRegion, ObservedState};

/// ACC1/R1: `gd` drifted (state, a long pattern), `old` removed, `new` added; ACC1/R2 and ACC2
/// unreadable.
fn small_plan() -> Plan {
    let before = desired(vec![account(
        ACC1,
        vec![relay_region(ACC1, R1, &["gd", "old"])],
    )]);
    let mut observed = applied(&before);
    let rule = &mut region_mut(&mut observed, ACC1, R1).rules[0];
    rule.state = "DISABLED".into();
    rule.event_pattern = Some(r#"{"source":["aws.securityhub"]}"#.into());
    observed.accounts[0].regions.push(ObservedRegion {
        region: R2.into(),
        error: Some("ThrottlingException: rate exceeded".into()),
        ..ObservedRegion::default()
    });
    observed.accounts.push(ObservedAccount {
        account: ACC2.into(),
        role: None,
        regions: vec![],
        error: Some("AccessDenied: not authorized to perform sts:AssumeRole".into()),
    });
    let after = desired(vec![
        account(ACC1, vec![relay_region(ACC1, R1, &["gd", "new"])]),
        account(ACC2, vec![relay_region(ACC2, R1, &["gd"])]),
    ]);
    fb_planner::plan(&after, &observed)
}

#[test]
fn text_reads_like_terraform() {
    let expected = r#"account 111111111111
  region ap-northeast-1
    ! region 111111111111/ap-northeast-1: ThrottlingException: rate exceeded
  region us-east-1
    + connection fb-secops-new-conn
    + api_destination fb-secops-new-dest
    ~ rule fb-secops-gd
        event_pattern: {"source":["aws.securityhub"]} → {"source":["aws.securityhub"],"detail-type":["Security Hub …},"Severity":{"Label":["LOW","MEDIUM","HIGH","CRITICAL"]}}}}
        state: "DISABLED" → "ENABLED"
    + rule fb-secops-new
    + target fb-secops-new/bridge
    - target fb-secops-old/bridge
    - rule fb-secops-old
    - api_destination fb-secops-old-dest
    - connection fb-secops-old-conn
account 222222222222
  ! account 222222222222: AccessDenied: not authorized to perform sts:AssumeRole

Plan: 4 to create, 1 to change, 4 to destroy.
2 places could not be read; nothing is planned there.
"#;
    assert_eq!(fb_planner::render::text(&small_plan()), expected);
}

#[test]
fn text_of_an_empty_plan() {
    let d = two_by_two();
    let plan = fb_planner::plan(&d, &applied(&d));
    assert_eq!(
        fb_planner::render::text(&plan),
        "No changes. The resources read match the desired state.\n"
    );
}

#[test]
fn markdown_for_a_pull_request_comment() {
    let plan = small_plan();
    let md = fb_planner::render::markdown(&plan);
    let (head, details) = md.split_once("<details>").expect("a details block");
    let expected_head = r#"### findings-bridge `fb-secops` — Plan: 4 to create, 1 to change, 4 to destroy.

> [!WARNING]
> 2 places could not be read; nothing is planned there.
> - `111111111111/ap-northeast-1`: ThrottlingException: rate exceeded
> - `222222222222`: AccessDenied: not authorized to perform sts:AssumeRole

#### account `111111111111` · region `us-east-1`

| op | kind | name | changes |
|---|---|---|---|
| + create | connection | `fb-secops-new-conn` |  |
| + create | api_destination | `fb-secops-new-dest` |  |
| ~ update | rule | `fb-secops-gd` | `event_pattern`: `{"source":["aws.securityhub"]}` → `{"source":["aws.securityhub"],"detail-type":["Security Hub …},"Severity":{"Label":["LOW","MEDIUM","HIGH","CRITICAL"]}}}}`<br>`state`: `"DISABLED"` → `"ENABLED"` |
| + create | rule | `fb-secops-new` |  |
| + create | target | `fb-secops-new/bridge` |  |
| - delete | target | `fb-secops-old/bridge` |  |
| - delete | rule | `fb-secops-old` |  |
| - delete | api_destination | `fb-secops-old-dest` |  |
| - delete | connection | `fb-secops-old-conn` |  |

"#;
    assert_eq!(head, expected_head);
    let json = fb_planner::render::json(&plan);
    assert_eq!(
        details,
        format!("<details><summary>Plan as JSON</summary>\n\n```json\n{json}```\n\n</details>\n")
            .trim_start_matches("<details>")
    );
}

#[test]
fn json_round_trips_to_the_same_plan() {
    let plan = small_plan();
    let back: Plan = serde_json::from_str(&fb_planner::render::json(&plan)).expect("valid JSON");
    assert_eq!(back, plan);
}

#[test]
fn markdown_escapes_table_breakers() {
    let before = desired(vec![account(ACC1, vec![relay_region(ACC1, R1, &["gd"])])]);
    let mut observed = applied(&before);
    region_mut(&mut observed, ACC1, R1).rules[0].description = "a | b `c`".into();
    let md = fb_planner::render::markdown(&fb_planner::plan(&before, &observed));
    let row = md
        .lines()
        .find(|l| l.starts_with("| ~ update"))
        .expect("an update row");
    assert_eq!(
        row,
        r#"| ~ update | rule | `fb-secops-gd` | `description`: ``"a \| b `c`"`` → `"findings-bridge rule gd"` |"#
    );
}

#[test]
fn an_observed_state_with_no_changes_renders_the_same_everywhere() {
    let d = two_by_two();
    let observed: ObservedState = applied(&d);
    let plan = fb_planner::plan(&d, &observed);
    let md = fb_planner::render::markdown(&plan);
    assert!(md.starts_with("### findings-bridge `fb-secops` — No changes."));
    assert!(!md.contains("####"), "no tables when nothing changes: {md}");
}

#[test]
fn markdown_leaves_out_json_too_long_for_a_comment() {
    let accounts = (0..12)
        .map(|i| {
            let id = format!("{:012}", 100_000_000_000u64 + i);
            account(&id, vec![relay_region(&id, R1, &["gd", "inspector"])])
        })
        .collect();
    let plan = fb_planner::plan(&desired(accounts), &ObservedState::default());
    let json_len = fb_planner::render::json(&plan).chars().count();
    assert!(json_len > fb_planner::render::MAX_JSON_CHARS, "{json_len}");
    let md = fb_planner::render::markdown(&plan);
    assert!(!md.contains("```json"));
    assert!(md.contains(&format!(
        "The JSON ({json_len} characters) is too long for a comment: run `findings-bridge plan --format json`."
    )));
    assert!(md.chars().count() < 65_536, "fits in a GitHub comment");
}
