//! The typed models parse the real Backlog shapes in `tests/fixtures/` (see its SOURCES.md).

use fb_backlog::models::activity_type;
use fb_backlog::{Activity, ApiErrorItem, Comment, IdName, Issue, Project, RateLimits, Webhook};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn issue_and_issue_list() {
    let issue: Issue = parse("issue.get-issue.backlog4j.json");
    assert_eq!(issue.issue_key, "TEST_PRJ1406182757086-4");
    assert_eq!(issue.status.id, 1);
    assert_eq!(issue.priority.id, 3);
    assert_eq!(issue.resolution, None);
    assert_eq!(issue.updated_user.as_ref().map(|u| u.id), Some(1073936936));
    assert_eq!(
        issue.updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2014-07-30T09:34:05+00:00")
    );

    let list: Vec<Issue> = parse("issue-list.get-issues.backlog4j.json");
    let keys: Vec<&str> = list.iter().map(|i| i.issue_key.as_str()).collect();
    assert_eq!(keys, ["TST_PRJ5-2", "TST_PRJ5-1"]);
}

#[test]
fn status_change_activity_has_string_ids() {
    let a: Activity = parse("activity.type2-status-change.kenzo0107.json");
    assert_eq!(a.type_id, activity_type::ISSUE_UPDATED);
    assert_eq!(a.issue_keys(), ["SUB-121"]);
    assert_eq!(a.status_change(), Some((Some(1), 4)));
    assert_eq!(a.created_user.map(|u| u.id), Some(1));
}

#[test]
fn created_and_commented_activities() {
    let created: Activity = parse("activity.type1-issue-created.backlog4j.json");
    assert_eq!(created.type_id, activity_type::ISSUE_CREATED);
    assert_eq!(created.issue_keys(), ["TEST_PRJ1407208757143-1"]);
    assert_eq!(created.status_change(), None);
    let commented: Activity = parse("activity.type3-issue-commented.backlog4j.json");
    assert_eq!(commented.type_id, activity_type::ISSUE_COMMENTED);
    assert!(commented.content.comment.is_some());
}

#[test]
fn webhook_payloads_types_2_4_14_17() {
    let updated: Activity = parse("webhook-payload.type2-issue-updated.idobata.json");
    assert_eq!(updated.issue_keys(), ["TEST-100"]);
    assert_eq!(
        updated.status_change(),
        None,
        "a priority change is not a status change"
    );
    assert_eq!(updated.content.changes[0].field, "priority");

    let deleted: Activity = parse("webhook-payload.type4-issue-deleted.idobata.json");
    assert_eq!(deleted.type_id, activity_type::ISSUE_DELETED);
    assert_eq!(deleted.issue_keys(), ["TEST-100"]);
    assert_eq!(
        deleted
            .created_user
            .as_ref()
            .and_then(|u| u.user_id.clone()),
        None
    );

    let bulk: Activity = parse("webhook-payload.type14-issues-multi-updated.idobata.json");
    assert_eq!(bulk.type_id, activity_type::ISSUES_BULK_UPDATED);
    assert_eq!(bulk.issue_keys(), ["TEST-100", "TEST-101"]);
    assert_eq!(bulk.content.tx_id, Some(200));
    assert_eq!(bulk.content.changes[0].new_value, "高");

    // Other activity types still parse (their content is not an issue's).
    let notify: Activity = parse("webhook-payload.type17-notify-added.idobata.json");
    assert_eq!(notify.type_id, 17);
}

#[test]
fn webhooks_comment_project() {
    let w: Webhook = parse("webhook.get-webhook.backlog4j.json");
    assert_eq!(
        (w.all_event, w.activity_type_ids.as_slice()),
        (false, &[1, 2, 3, 4, 5][..])
    );
    let list: Vec<Webhook> = parse("webhooks.list.backlog4j.json");
    assert!(!list.is_empty());
    let c: Comment = parse("comment.backlog4j.json");
    assert_eq!((c.id, c.content.as_str()), (1102837675, "こめ"));
    let p: Project = parse("project.backlog4j.json");
    assert_eq!(
        (p.project_key.as_str(), p.text_formatting_rule.as_str()),
        ("TST_PRJ", "backlog")
    );
}

#[test]
fn rate_limit_error_body_and_builtins() {
    let v: serde_json::Value = parse("rate-limit.get-rate-limit.kenzo0107.json");
    let limits: RateLimits = serde_json::from_value(v["rateLimit"].clone()).unwrap();
    assert_eq!(
        (limits.read.limit, limits.update.limit, limits.search.reset),
        (600, 150, 1603881873)
    );

    let v: serde_json::Value = parse("error-body.errors-array.backlog4j.json");
    let errors: Vec<ApiErrorItem> = serde_json::from_value(v["errors"].clone()).unwrap();
    assert_eq!(errors.iter().map(|e| e.code).collect::<Vec<_>>(), [6, 7]);

    let statuses: Vec<IdName> = parse("statuses.default-four.backlog4j.json");
    assert_eq!(
        fb_backlog::lookup(&statuses, fb_backlog::BUILTIN_STATUSES, "Closed"),
        Some(4)
    );
    let prios: Vec<IdName> = parse("priorities.backlog4j.json");
    assert_eq!(
        fb_backlog::lookup(&prios, fb_backlog::BUILTIN_PRIORITIES, "High"),
        Some(2)
    );
    let res: Vec<IdName> = parse("resolutions.backlog4j.json");
    assert_eq!(
        fb_backlog::lookup(&res, fb_backlog::BUILTIN_RESOLUTIONS, "Duplication"),
        Some(3)
    );
    assert_eq!(
        fb_backlog::lookup(&res, fb_backlog::BUILTIN_RESOLUTIONS, "重複"),
        Some(3)
    );
}
