//! Multi-page reads against the sandbox, with `minId` inclusive and exclusive (UNVERIFIED in
//! real Backlog, so the client must give the same answer either way).

mod support;

use fb_backlog::{IssueQuery, IssueSort, NewIssue, Order};
use support::{fast, Sbx, KEY};

const ISSUES: i64 = 230;

async fn sandbox_with_issues(min_id_inclusive: bool) -> (Sbx, fb_backlog::Client) {
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.min_id_inclusive = min_id_inclusive;
    options.limits.update = 10_000;
    let sbx = Sbx::start(options).await;
    let client = sbx.client(fast());
    for n in 0..ISSUES {
        let issue = NewIssue {
            project_id: 1001,
            summary: format!("issue {n}"),
            description: String::new(),
            issue_type_id: 10011,
            priority_id: 3,
        };
        client.create_issue(&issue).await.unwrap();
    }
    (sbx, client)
}

#[tokio::test]
async fn activities_after_a_cursor_are_the_same_whatever_min_id_means() {
    for inclusive in [true, false] {
        let (_sbx, client) = sandbox_with_issues(inclusive).await;
        let all = client
            .activities_after("SEC", &[1], None, 10)
            .await
            .unwrap();
        assert!(!all.truncated);
        let ids: Vec<i64> = all.items.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            (1..=ISSUES).collect::<Vec<_>>(),
            "inclusive={inclusive}"
        );

        let after = client
            .activities_after("SEC", &[1], Some(100), 10)
            .await
            .unwrap();
        let ids: Vec<i64> = after.items.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            (101..=ISSUES).collect::<Vec<_>>(),
            "inclusive={inclusive}"
        );

        let one_page = client
            .activities_after("SEC", &[], Some(0), 1)
            .await
            .unwrap();
        assert!(one_page.truncated);
        assert_eq!(one_page.items.len(), 100);

        let nothing_new = client
            .activities_after("SEC", &[1], Some(ISSUES), 10)
            .await
            .unwrap();
        assert_eq!((nothing_new.items.len(), nothing_new.truncated), (0, false));
    }
}

#[tokio::test]
async fn every_issue_of_a_query_across_pages() {
    let (sbx, client) = sandbox_with_issues(true).await;
    let before = sbx.requests().await.len();
    let query = IssueQuery {
        sort: IssueSort::Created,
        order: Order::Asc,
        count: Some(50),
        ..Default::default()
    };
    let pages = client.list_issues_paged(&query, 10).await.unwrap();
    assert!(!pages.truncated);
    let keys: Vec<String> = pages.items.iter().map(|i| i.issue_key.clone()).collect();
    assert_eq!(
        keys,
        (1..=ISSUES).map(|n| format!("SEC-{n}")).collect::<Vec<_>>()
    );
    assert_eq!(
        sbx.requests().await.len() - before,
        5,
        "230 issues in pages of 50"
    );

    let capped = client.list_issues_paged(&query, 2).await.unwrap();
    assert_eq!((capped.items.len(), capped.truncated), (100, true));
}
