//! The `backlog-sandbox` binary as the end-to-end tests use it: started on a free port through
//! the harness, driven over HTTP, its control API, and its command-line rate limits.

use fb_e2e::sandbox::{Sandbox, SANDBOX_API_KEY};
use serde_json::json;

async fn create(sandbox: &Sandbox, summary: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!(
            "{}/api/v2/issues?apiKey={SANDBOX_API_KEY}",
            sandbox.base_url
        ))
        .form(&[
            ("projectId", "1001"),
            ("summary", summary),
            ("issueTypeId", "10011"),
            ("priorityId", "3"),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn binary_serves_the_api_and_the_control_endpoints() {
    let sandbox = Sandbox::start();
    assert_eq!(
        create(&sandbox, "first").await,
        reqwest::StatusCode::CREATED
    );

    let closed = sandbox.close("SEC-1", "Won't Fix").await;
    assert_eq!(closed["status"]["id"], 4);
    assert_eq!(closed["resolution"]["id"], 1);
    let reopened = sandbox.reopen("SEC-1").await;
    assert_eq!(reopened["status"]["id"], 1);

    let issues = sandbox.issues().await;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["issueKey"], "SEC-1");
    let types: Vec<i64> = sandbox
        .activities()
        .await
        .iter()
        .map(|a| a["type"].as_i64().unwrap())
        .collect();
    assert_eq!(types, [1, 2, 2]);

    sandbox.faults(json!({"error_5xx_next": 1})).await;
    assert_eq!(
        create(&sandbox, "fails").await,
        reqwest::StatusCode::INTERNAL_SERVER_ERROR
    );
    sandbox.drop_webhooks(true).await;

    let requests = sandbox.requests().await;
    let statuses: Vec<u64> = requests
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 500]);
    assert!(!serde_json::to_string(&requests)
        .unwrap()
        .contains(SANDBOX_API_KEY));
}

#[tokio::test]
async fn command_line_rate_limits_apply() {
    let sandbox = Sandbox::start_with(&["--rate-update", "1"]);
    assert_eq!(create(&sandbox, "one").await, reqwest::StatusCode::CREATED);
    assert_eq!(
        create(&sandbox, "two").await,
        reqwest::StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(sandbox.issues().await.len(), 1);
}
