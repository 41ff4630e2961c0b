//! The sandbox is as strict as the Backlog documentation: apiKey, form bodies, required and
//! undocumented parameters, error bodies, 201 + Location, rate-limit headers and 429 code 13.
//! Raw HTTP on purpose (not the fb-backlog client), so the wire format itself is checked.

use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "k-123";

struct Sbx {
    base: String,
    http: reqwest::Client,
}

async fn start(options: backlog_sandbox::Options) -> Sbx {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(backlog_sandbox::serve(listener, options));
    Sbx {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

async fn default() -> Sbx {
    start(backlog_sandbox::Options::new(KEY, "SEC")).await
}

const FORM: &str = "application/x-www-form-urlencoded";
const CREATE: &str = "projectId=1001&summary=s&issueTypeId=10011&priorityId=3";

impl Sbx {
    fn api(&self, path_and_query: &str) -> String {
        format!("{}/api/v2{path_and_query}", self.base)
    }

    async fn send(
        &self,
        r: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = r.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, pq: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(self.http.get(self.api(pq))).await
    }

    async fn form(
        &self,
        method: reqwest::Method,
        pq: &str,
        body: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = self
            .http
            .request(method, self.api(pq))
            .header("content-type", FORM)
            .body(body.to_owned());
        self.send(r).await
    }
}

fn error_code(body: &Value) -> i64 {
    body["errors"][0]["code"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn api_key_is_required_and_checked() {
    let sbx = default().await;
    for pq in [
        "/priorities",
        "/priorities?apiKey=wrong",
        "/priorities?apiKey=",
    ] {
        let (status, _, body) = sbx.get(pq).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{pq}");
        assert_eq!(error_code(&body), 11, "{body}");
        assert_eq!(body["errors"][0]["message"], "Authentication failure.");
    }
    let (status, _, body) = sbx.get(&format!("/priorities?apiKey={KEY}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([{"id":2,"name":"High","displayOrder":0},{"id":3,"name":"Normal","displayOrder":1},{"id":4,"name":"Low","displayOrder":2}])
    );
}

#[tokio::test]
async fn create_needs_every_required_parameter() {
    let sbx = default().await;
    for missing in ["projectId", "summary", "issueTypeId", "priorityId"] {
        let body: Vec<&str> = CREATE
            .split('&')
            .filter(|p| !p.starts_with(missing))
            .collect();
        let (status, _, err) = sbx
            .form(
                reqwest::Method::POST,
                &format!("/issues?apiKey={KEY}"),
                &body.join("&"),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
        assert_eq!(error_code(&err), 7);
        assert!(
            err["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(missing),
            "{err}"
        );
        assert_eq!(err["errors"][0]["moreInfo"], "");
    }
}

#[tokio::test]
async fn undocumented_parameters_are_rejected() {
    let sbx = default().await;
    let (status, _, err) = sbx
        .form(
            reqwest::Method::POST,
            &format!("/issues?apiKey={KEY}"),
            &format!("{CREATE}&severity=high"),
        )
        .await;
    assert_eq!((status, error_code(&err)), (StatusCode::BAD_REQUEST, 7));
    let (status, _, err) = sbx
        .get(&format!("/issues?apiKey={KEY}&statusIds[]=1"))
        .await;
    assert_eq!(
        (status, error_code(&err)),
        (StatusCode::BAD_REQUEST, 7),
        "{err}"
    );
    let (status, _, _) = sbx.get(&format!("/issues?apiKey={KEY}&count=101")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Array names with a literal or an encoded `[]` are both fine.
    let (status, _, _) = sbx
        .get(&format!(
            "/issues?apiKey={KEY}&statusId[]=1&statusId%5B%5D=2&sort=updated&order=desc"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sbx.http
            .get(sbx.api("/issues"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::UNAUTHORIZED
    );
    // apiKey in the body instead of the query is an undocumented body parameter.
    let (status, _, _) = sbx
        .form(
            reqwest::Method::POST,
            "/issues",
            &format!("{CREATE}&apiKey={KEY}"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn writes_take_form_bodies_except_json_on_create() {
    let sbx = default().await;
    let (status, headers, issue) = sbx
        .form(
            reqwest::Method::POST,
            &format!("/issues?apiKey={KEY}"),
            CREATE,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(issue["issueKey"], "SEC-1");
    let location = headers["location"].to_str().unwrap();
    assert!(location.ends_with("/view/SEC-1"), "{location}");

    // JSON on create: accepted (mirrors the seed's direct mode).
    let json_create = sbx
        .http
        .post(sbx.api(&format!("/issues?apiKey={KEY}")))
        .json(
            &json!({"projectId": 1001, "summary": "direct", "issueTypeId": 10011, "priorityId": 2}),
        );
    let (status, _, issue) = sbx.send(json_create).await;
    assert_eq!(
        (status, issue["issueKey"].as_str()),
        (StatusCode::CREATED, Some("SEC-2"))
    );

    // JSON anywhere else: 400.
    let patch = sbx
        .http
        .patch(sbx.api(&format!("/issues/SEC-1?apiKey={KEY}")))
        .json(&json!({"statusId": 4}));
    let (status, _, err) = sbx.send(patch).await;
    assert_eq!((status, error_code(&err)), (StatusCode::BAD_REQUEST, 7));

    // ... and JSON on create too when the switch is off.
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.accept_json_create = false;
    let strict = start(options).await;
    let r = strict
        .http
        .post(strict.api(&format!("/issues?apiKey={KEY}")))
        .json(&json!({"projectId": 1001}));
    assert_eq!(strict.send(r).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_issue_is_404_code_6() {
    let sbx = default().await;
    let (status, _, err) = sbx.get(&format!("/issues/SEC-77?apiKey={KEY}")).await;
    assert_eq!((status, error_code(&err)), (StatusCode::NOT_FOUND, 6));
}

#[tokio::test]
async fn rate_limit_headers_per_bucket_and_429_code_13() {
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.limits.read = 2;
    let sbx = start(options).await;
    let (_, h, _) = sbx.get(&format!("/priorities?apiKey={KEY}")).await;
    assert_eq!(
        (&h["x-ratelimit-limit"], &h["x-ratelimit-remaining"]),
        (&"2".parse().unwrap(), &"1".parse().unwrap())
    );
    // The search bucket is separate.
    let (_, h, _) = sbx
        .get(&format!("/issues?apiKey={KEY}&sort=updated&order=desc"))
        .await;
    assert_eq!(h["x-ratelimit-limit"], "150");
    sbx.get(&format!("/resolutions?apiKey={KEY}")).await;
    let (status, h, err) = sbx
        .get(&format!("/projects/SEC/statuses?apiKey={KEY}"))
        .await;
    assert_eq!(
        (status, error_code(&err)),
        (StatusCode::TOO_MANY_REQUESTS, 13)
    );
    assert_eq!(h["x-ratelimit-remaining"], "0");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!(reset > chrono::Utc::now().timestamp() - 1);
}

#[tokio::test]
async fn activities_record_changes_with_string_ids_and_page_by_id() {
    let sbx = default().await;
    sbx.form(
        reqwest::Method::POST,
        &format!("/issues?apiKey={KEY}"),
        CREATE,
    )
    .await;
    let (status, _, _) = sbx
        .form(
            reqwest::Method::PATCH,
            &format!("/issues/SEC-1?apiKey={KEY}"),
            "statusId=4&resolutionId=0&comment=done",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    sbx.form(
        reqwest::Method::POST,
        &format!("/issues/SEC-1/comments?apiKey={KEY}"),
        "content=hello",
    )
    .await;
    let (_, _, acts) = sbx
        .get(&format!("/projects/SEC/activities?apiKey={KEY}&order=asc"))
        .await;
    let types: Vec<i64> = acts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_i64().unwrap())
        .collect();
    assert_eq!(types, [1, 2, 3]);
    let update = &acts[1];
    assert_eq!(
        update["content"]["changes"][0],
        json!({"field": "status", "new_value": "4", "old_value": "1", "type": "standard"})
    );
    assert_eq!(update["content"]["comment"]["content"], "done");
    assert_eq!(update["project"]["projectKey"], "SEC");
    // Default order is desc; maxId bounds; count limits.
    let (_, _, desc) = sbx
        .get(&format!("/projects/SEC/activities?apiKey={KEY}&count=1"))
        .await;
    assert_eq!(desc[0]["type"], 3);
    let (_, _, upto) = sbx
        .get(&format!("/projects/SEC/activities?apiKey={KEY}&maxId=1"))
        .await;
    assert_eq!(upto.as_array().unwrap().len(), 1);
    let (_, _, only2) = sbx
        .get(&format!(
            "/projects/SEC/activities?apiKey={KEY}&activityTypeId[]=2"
        ))
        .await;
    assert_eq!(only2.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn control_close_acts_as_a_human_and_request_log_has_no_key() {
    let sbx = default().await;
    sbx.form(
        reqwest::Method::POST,
        &format!("/issues?apiKey={KEY}"),
        CREATE,
    )
    .await;
    let r = sbx
        .http
        .post(format!("{}/_sandbox/issues/SEC-1/close", sbx.base))
        .json(&json!({"resolution": "Won't Fix", "user": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let issue: Value = r.json().await.unwrap();
    assert_eq!(
        (
            issue["status"]["id"].as_i64(),
            issue["resolution"]["id"].as_i64()
        ),
        (Some(4), Some(1))
    );
    assert_eq!(issue["updatedUser"]["userId"], "bob");
    let r = sbx
        .http
        .post(format!("{}/_sandbox/issues/SEC-1/close", sbx.base))
        .json(&json!({"resolution": "Nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = sbx
        .http
        .post(format!("{}/_sandbox/issues/SEC-1/reopen", sbx.base))
        .json(&json!({"user": "bob"}))
        .send()
        .await
        .unwrap();
    let issue: Value = r.json().await.unwrap();
    assert_eq!(
        (issue["status"]["id"].as_i64(), &issue["resolution"]),
        (Some(1), &Value::Null)
    );

    let log: Value = sbx
        .http
        .get(format!("{}/_sandbox/requests", sbx.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log,
        json!([{"method": "POST", "path": "/api/v2/issues", "bucket": "update", "status": 201}])
    );
    let issues: Value = sbx
        .http
        .get(format!("{}/_sandbox/issues", sbx.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(issues[0]["comments"], json!([]));
}

#[tokio::test]
async fn keyword_search_can_lag_behind_creates() {
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.keyword_delay_ms = 60_000;
    let sbx = start(options).await;
    sbx.form(
        reqwest::Method::POST,
        &format!("/issues?apiKey={KEY}"),
        CREATE,
    )
    .await;
    let (_, _, by_keyword) = sbx
        .get(&format!(
            "/issues?apiKey={KEY}&keyword=s&sort=updated&order=desc"
        ))
        .await;
    assert_eq!(by_keyword, json!([]), "not indexed yet");
    let (_, _, all) = sbx
        .get(&format!("/issues?apiKey={KEY}&sort=updated&order=desc"))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn seed_direct_mode_body_with_string_ids_creates_an_issue() {
    // The seed's input template: every value a string, apiKey in the endpoint URL.
    let sbx = default().await;
    let body = json!({"projectId": "1001", "summary": "Recon:EC2/PortProbeUnprotectedPort found at AWS account 111111111111",
                      "description": "t<br /><br />Description:<br />d", "issueTypeId": "10011", "priorityId": "3"});
    let r = sbx
        .http
        .post(sbx.api(&format!("/issues?apiKey={KEY}")))
        .header("content-type", "application/json; charset=utf-8")
        .header("dummy-key", "dummy-value")
        .body(body.to_string());
    let (status, _, issue) = sbx.send(r).await;
    assert_eq!(status, StatusCode::CREATED, "{issue}");
    assert_eq!(issue["priority"]["id"], 3);
    assert_eq!(issue["description"], "t<br /><br />Description:<br />d");
}
