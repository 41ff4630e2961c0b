//! The client against an in-process backlog-sandbox: every method, name resolution, activities
//! and webhooks.

mod support;

use fb_backlog::models::activity_type;
use fb_backlog::{
    Activity, ActivityQuery, CallError, CreateError, IssueQuery, IssueSort, IssueUpdate,
    NamesToResolve, NewIssue, Order, ResolveError, ResolvedNames, WebhookSpec,
};
use support::{fast, Sbx};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn resolve(client: &fb_backlog::Client) -> ResolvedNames {
    let issue_types = strings(&["Task", "Bug"]);
    let priorities = strings(&["High", "Normal", "Low"]);
    let statuses = strings(&["Closed"]);
    let resolutions = strings(&["Fixed", "Won't Fix", "Duplication"]);
    client
        .resolve_names(NamesToResolve {
            project: "SEC",
            issue_types: &issue_types,
            priorities: &priorities,
            statuses: &statuses,
            resolutions: &resolutions,
        })
        .await
        .unwrap()
}

fn new_issue(names: &ResolvedNames, summary: &str, description: &str) -> NewIssue {
    NewIssue {
        project_id: names.project_id,
        summary: summary.into(),
        description: description.into(),
        issue_type_id: names.issue_type_ids["Task"],
        priority_id: names.priority_ids["High"],
    }
}

#[tokio::test]
async fn create_get_list_update_comment_round_trip() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;

    let created = client
        .create_issue(&new_issue(
            &names,
            "GuardDuty finding",
            "marker fb:key-1\nmore",
        ))
        .await
        .unwrap();
    assert_eq!(created.issue_key, "SEC-1");
    assert_eq!((created.status.id, created.priority.id), (1, 2));
    client
        .create_issue(&new_issue(&names, "Another", "marker fb:key-2"))
        .await
        .unwrap();

    let got = client.get_issue("SEC-1").await.unwrap().unwrap();
    assert_eq!(got.id, created.id);
    let by_id = client
        .get_issue(&created.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.issue_key, "SEC-1");
    assert_eq!(client.get_issue("SEC-999").await.unwrap(), None);

    let found = client
        .list_issues(&IssueQuery {
            project_ids: vec![names.project_id],
            keyword: Some("fb:key-2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|i| i.issue_key.as_str())
            .collect::<Vec<_>>(),
        ["SEC-2"]
    );

    let closed = client
        .update_issue(
            "SEC-1",
            &IssueUpdate {
                status_id: Some(names.status_ids["Closed"]),
                resolution_id: Some(names.resolution_ids["Fixed"]),
                comment: Some("closing".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status.id, 4);
    assert_eq!(closed.resolution.map(|r| r.id), Some(0));

    let comment = client
        .add_comment("SEC-2", "severity raised")
        .await
        .unwrap();
    assert_eq!(comment.content, "severity raised");

    let open_only = client
        .list_issues(&IssueQuery {
            status_ids: vec![1],
            sort: IssueSort::Created,
            order: Order::Asc,
            count: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        open_only
            .iter()
            .map(|i| i.issue_key.as_str())
            .collect::<Vec<_>>(),
        ["SEC-2"]
    );

    // The documented encoding: every write was accepted (no 400 from the strict sandbox).
    let statuses: Vec<u16> = sbx
        .requests()
        .await
        .into_iter()
        .map(|(_, _, s)| s)
        .collect();
    assert!(
        statuses.iter().all(|s| [200, 201, 404].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_sending() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let err = client
        .list_issues(&IssueQuery {
            count: Some(101),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::InvalidInput { .. }), "{err}");
    let err = client
        .update_issue("SEC-1", &IssueUpdate::default())
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::InvalidInput { .. }), "{err}");
    assert!(sbx.requests().await.is_empty());
}

#[tokio::test]
async fn rejected_create_is_a_definite_failure_with_backlog_errors() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;
    let mut bad = new_issue(&names, "x", "");
    bad.issue_type_id = 424242;
    let err = client.create_issue(&bad).await.unwrap_err();
    let CreateError::Failed(CallError::Rejected { status, errors, .. }) = &err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert_eq!(*status, 400);
    assert!(errors.has_code(7), "{errors}");
    assert_eq!(sbx.issue_count().await, 0);
}

#[tokio::test]
async fn wrong_name_names_it_and_lists_the_valid_ones() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let issue_types = strings(&["Incident"]);
    let err = client
        .resolve_names(NamesToResolve {
            project: "SEC",
            issue_types: &issue_types,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let ResolveError::UnknownName {
        kind, name, valid, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*kind, name.as_str()), ("issue type", "Incident"));
    assert_eq!(valid, &strings(&["Task", "Bug"]));
    assert!(err.to_string().contains("Task, Bug"), "{err}");

    let err = client
        .resolve_names(NamesToResolve {
            project: "NOPE",
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ResolveError::Call {
                source: CallError::NotFound { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn english_names_resolve_in_a_japanese_space() {
    let mut options = backlog_sandbox::Options::new(support::KEY, "SEC");
    options.japanese_names = true;
    let sbx = Sbx::start(options).await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;
    assert_eq!(names.priority_ids["High"], 2);
    assert_eq!(names.status_ids["Closed"], 4);
    assert_eq!(names.resolution_ids["Won't Fix"], 1);
    let priorities = strings(&["高"]);
    let statuses = strings(&["完了"]);
    let native = client
        .resolve_names(NamesToResolve {
            project: "SEC",
            priorities: &priorities,
            statuses: &statuses,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (native.priority_ids["高"], native.status_ids["完了"]),
        (2, 4)
    );
}

#[tokio::test]
async fn activities_page_with_min_id_and_tell_human_closes_from_ours() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;
    let me = client.myself().await.unwrap();
    client
        .create_issue(&new_issue(&names, "a", ""))
        .await
        .unwrap();
    client.add_comment("SEC-1", "note").await.unwrap();
    sbx.control_post(
        "/issues/SEC-1/close",
        serde_json::json!({"resolution": "Won't Fix", "user": "alice"}),
    )
    .await;

    let query = ActivityQuery {
        type_ids: vec![
            activity_type::ISSUE_UPDATED,
            activity_type::ISSUE_DELETED,
            activity_type::ISSUES_BULK_UPDATED,
        ],
        order: Order::Asc,
        ..Default::default()
    };
    let updates = client.project_activities("SEC", &query).await.unwrap();
    assert_eq!(updates.len(), 1);
    let close = &updates[0];
    assert_eq!(close.issue_keys(), ["SEC-1"]);
    assert_eq!(close.status_change(), Some((Some(1), 4)));
    assert_ne!(
        close.created_user.as_ref().map(|u| u.id),
        Some(me.id),
        "a human closed it"
    );

    let all = client
        .project_activities(
            "SEC",
            &ActivityQuery {
                order: Order::Asc,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<i64> = all.iter().map(|a| a.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(all.iter().map(|a| a.type_id).collect::<Vec<_>>(), [1, 3, 2]);
    let after_first = client
        .project_activities(
            "SEC",
            &ActivityQuery {
                min_id: Some(ids[1]),
                order: Order::Asc,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(after_first.iter().all(|a| a.id >= ids[1]));
    assert_eq!(after_first.last().map(|a| a.id), Some(ids[2]));
}

#[tokio::test]
async fn webhooks_crud_and_delivery_of_a_human_close() {
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let receiver = axum::Router::new().route(
        "/hook/{token}",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let ua = headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send((ua, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;
    let spec = WebhookSpec {
        name: "findings-bridge".into(),
        description: "closure sync".into(),
        hook_url: format!("http://{hook_addr}/hook/tok"),
        all_event: false,
        activity_type_ids: vec![2, 4, 14],
    };
    let created = client.create_webhook("SEC", &spec).await.unwrap();
    assert_eq!(created.activity_type_ids, [2, 4, 14]);
    let listed = client.webhooks("SEC").await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&created));
    let renamed = WebhookSpec {
        name: "fb".into(),
        ..spec.clone()
    };
    let updated = client
        .update_webhook("SEC", created.id, &renamed)
        .await
        .unwrap();
    assert_eq!((updated.id, updated.name.as_str()), (created.id, "fb"));

    // Type 1 (create) is not subscribed; the human close (type 2) is.
    client
        .create_issue(&new_issue(&names, "a", ""))
        .await
        .unwrap();
    sbx.control_post(
        "/issues/SEC-1/close",
        serde_json::json!({"resolution": "Fixed"}),
    )
    .await;
    let (ua, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook delivery")
        .expect("channel open");
    assert_eq!(ua, "Backlog Webhook");
    let activity: Activity = serde_json::from_str(&body).unwrap();
    assert_eq!(activity.type_id, 2);
    assert_eq!(activity.issue_keys(), ["SEC-1"]);
    assert_eq!(activity.status_change(), Some((Some(1), 4)));

    let deleted = client.delete_webhook("SEC", created.id).await.unwrap();
    assert_eq!(deleted.id, created.id);
    assert!(client.webhooks("SEC").await.unwrap().is_empty());
}

#[tokio::test]
async fn rate_limit_endpoint_reports_buckets() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let limits = client.rate_limit().await.unwrap();
    assert_eq!(
        (limits.read.limit, limits.update.limit, limits.search.limit),
        (600, 150, 150)
    );
    assert!(limits.read.remaining < 600, "the call itself counts");
}

#[tokio::test]
async fn bulk_update_activity_names_every_issue() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    let names = resolve(&client).await;
    for n in 0..3 {
        client
            .create_issue(&new_issue(&names, &format!("i{n}"), ""))
            .await
            .unwrap();
    }
    sbx.control_post(
        "/bulk_update",
        serde_json::json!({"keys": ["SEC-1", "SEC-3"], "status": 4, "resolution": "Fixed"}),
    )
    .await;
    let query = ActivityQuery {
        type_ids: vec![activity_type::ISSUES_BULK_UPDATED],
        ..Default::default()
    };
    let bulk = client.project_activities("SEC", &query).await.unwrap();
    assert_eq!(bulk.len(), 1);
    assert_eq!(bulk[0].issue_keys(), ["SEC-1", "SEC-3"]);
    assert_eq!(bulk[0].status_change(), Some((None, 4)));
    let third = client.get_issue("SEC-3").await.unwrap().unwrap();
    assert_eq!(
        (third.status.id, third.resolution.map(|r| r.id)),
        (4, Some(0))
    );
}

#[test]
fn issue_urls_come_from_the_space_url_in_either_form() {
    let key = fb_backlog::Secret::new("k");
    for base in [
        "https://x.backlog.jp",
        "https://x.backlog.jp/",
        "https://x.backlog.jp/api/v2",
    ] {
        let client =
            fb_backlog::Client::new(base, key.clone(), fb_backlog::ClientOptions::default())
                .unwrap();
        assert_eq!(client.api_root(), "https://x.backlog.jp/api/v2");
        assert_eq!(
            client.issue_url("SEC-12"),
            "https://x.backlog.jp/view/SEC-12"
        );
    }
    let err =
        fb_backlog::Client::new("ftp://x", key, fb_backlog::ClientOptions::default()).unwrap_err();
    assert!(
        matches!(err, fb_backlog::BuildError::BadBaseUrl { .. }),
        "{err}"
    );
}
