//! Rate limits, retries, ambiguous creates and key redaction, against an in-process sandbox
//! with injected faults.

mod support;

use std::time::Duration;

use fb_backlog::{
    CallError, CallOutcome, Client, ClientOptions, CreateError, NewIssue, Secret, TransportKind,
};
use serde_json::json;
use support::{fast, Sbx, KEY};

fn issue(summary: &str) -> NewIssue {
    // Sandbox project SEC: id 1001, issue type Task 10011; priority Normal 3.
    NewIssue {
        project_id: 1001,
        summary: summary.into(),
        description: format!("marker {summary}"),
        issue_type_id: 10011,
        priority_id: 3,
    }
}

/// Display (with the source chain) and Debug of an error, for leak checks.
fn all_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{err} | {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn injected_429_waits_for_the_reset_then_succeeds() {
    let sbx = Sbx::default().await;
    let (client, rec) = sbx.observed_client(fast());
    sbx.control_post("/faults", json!({"rate_limit_next": 2}))
        .await;
    let project = client.get_project("SEC").await.unwrap();
    assert_eq!(project.project_key, "SEC");
    let statuses: Vec<u16> = sbx.requests().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert_eq!(rec.count(CallOutcome::RateLimited), 2);
    assert_eq!(rec.count(CallOutcome::Success), 1);
}

#[tokio::test]
async fn persistent_429_gives_up_with_a_typed_error() {
    let sbx = Sbx::default().await;
    let client = sbx.client(ClientOptions {
        max_rate_limit_waits: 1,
        ..fast()
    });
    sbx.control_post("/faults", json!({"rate_limit_next": 5}))
        .await;
    let err = client.priorities().await.unwrap_err();
    assert!(
        matches!(err, CallError::RateLimited { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.api_errors().unwrap().has_code(13), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn exhausted_bucket_is_waited_out_before_sending() {
    // update bucket: 2 calls per 1 s window. The client sees `remaining` fall to 1 and waits for
    // the reset instead of provoking a 429.
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.limits.update = 2;
    options.window_secs = 1;
    let sbx = Sbx::start(options).await;
    let (client, rec) = sbx.observed_client(fast());
    for n in 0..4 {
        client
            .create_issue(&issue(&format!("paced-{n}")))
            .await
            .unwrap();
    }
    let statuses: Vec<u16> = sbx.requests().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [201, 201, 201, 201], "no 429 was provoked");
    assert!(rec.count(CallOutcome::Paced) >= 1);
    assert_eq!(sbx.issue_count().await, 4);
}

#[tokio::test]
async fn real_429_from_a_bucket_another_client_used_up_is_waited_out() {
    // The limit is per user: another process with the same key used the read bucket up, so
    // this client runs into 429 code 13 with X-RateLimit-Reset, waits until then and succeeds.
    let mut options = backlog_sandbox::Options::new(KEY, "SEC");
    options.limits.read = 1;
    options.window_secs = 1;
    let sbx = Sbx::start(options).await;
    sbx.client(fast()).priorities().await.unwrap();
    let (client, rec) = sbx.observed_client(fast());
    client.resolutions().await.unwrap();
    assert_eq!(rec.count(CallOutcome::RateLimited), 1);
    assert_eq!(rec.count(CallOutcome::Success), 1);
    let statuses: Vec<u16> = sbx.requests().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [200, 429, 200]);
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_and_updates() {
    let sbx = Sbx::default().await;
    let (client, rec) = sbx.observed_client(fast());
    client.create_issue(&issue("x")).await.unwrap();
    sbx.control_post("/faults", json!({"error_5xx_next": 2}))
        .await;
    assert!(client.get_issue("SEC-1").await.unwrap().is_some());
    sbx.control_post("/faults", json!({"error_5xx_next": 1}))
        .await;
    client.add_comment("SEC-1", "retried").await.unwrap();
    assert_eq!(rec.count(CallOutcome::ServerError), 3);
    let statuses: Vec<u16> = sbx.requests().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [201, 500, 500, 200, 500, 201]);
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let sbx = Sbx::default().await;
    let client = sbx.client(ClientOptions {
        max_retries: 2,
        ..fast()
    });
    sbx.control_post("/faults", json!({"error_5xx_next": 10}))
        .await;
    let err = client.statuses("SEC").await.unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Server {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sbx.requests().await.len(), 3);
}

#[tokio::test]
async fn create_answered_5xx_is_ambiguous_and_not_retried() {
    let sbx = Sbx::default().await;
    let client = sbx.client(fast());
    sbx.control_post("/faults", json!({"error_5xx_next": 1}))
        .await;
    let err = client.create_issue(&issue("a")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            CreateError::Ambiguous {
                cause: CallError::Server { status: 500, .. }
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        sbx.requests().await.len(),
        1,
        "a create is never retried blindly"
    );
}

#[tokio::test]
async fn slow_answer_after_create_is_ambiguous_and_the_issue_exists() {
    let sbx = Sbx::default().await;
    let client = sbx.client(ClientOptions {
        timeout: Duration::from_millis(300),
        ..fast()
    });
    sbx.control_post(
        "/faults",
        json!({"slow_after_create_next": 1, "slow_ms": 3000}),
    )
    .await;
    let err = client.create_issue(&issue("slow")).await.unwrap_err();
    let CreateError::Ambiguous {
        cause: CallError::Transport { kind, attempts, .. },
    } = &err
    else {
        panic!("expected an ambiguous time-out, got {err:?}");
    };
    assert_eq!((*kind, *attempts), (TransportKind::Timeout, 1));
    assert_eq!(sbx.issue_count().await, 1, "Backlog did create it");
    assert!(!all_text(&err).contains(KEY));
}

#[tokio::test]
async fn refused_connection_is_retried_then_reported_without_the_key() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(
        &format!("http://127.0.0.1:{port}"),
        Secret::new(KEY),
        fast(),
    )
    .unwrap();
    let err = client.get_issue("SEC-1").await.unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Transport {
                kind: TransportKind::Connect,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    let text = all_text(&err);
    assert!(!text.contains(KEY), "{text}");

    // A create that could not even connect reached nobody: a definite failure, not ambiguous.
    let err = client.create_issue(&issue("never")).await.unwrap_err();
    assert!(
        matches!(err, CreateError::Failed(CallError::Transport { .. })),
        "{err:?}"
    );
    assert!(!all_text(&err).contains(KEY));
}

#[tokio::test]
async fn the_key_is_absent_from_every_error_and_debug_output() {
    let sbx = Sbx::default().await;
    let good = sbx.client(fast());
    assert!(!format!("{good:?}").contains(KEY), "{good:?}");

    // Wrong key: 401 code 11, typed as an auth failure; neither key appears.
    let wrong = Client::new(&sbx.base_url, Secret::new("wrong-key-123"), fast()).unwrap();
    let err = wrong.myself().await.unwrap_err();
    assert!(err.is_auth_failure(), "{err:?}");
    let text = all_text(&err);
    assert!(
        !text.contains("wrong-key-123") && !text.contains(KEY),
        "{text}"
    );

    // Not found, rejected, server error, time-out.
    let mut errors: Vec<Box<dyn std::error::Error>> = Vec::new();
    errors.push(Box::new(good.get_project("NOPE").await.unwrap_err()));
    let mut bad = issue("b");
    bad.priority_id = 99;
    errors.push(Box::new(good.create_issue(&bad).await.unwrap_err()));
    sbx.control_post("/faults", json!({"error_5xx_next": 10}))
        .await;
    errors.push(Box::new(good.priorities().await.unwrap_err()));
    sbx.control_post(
        "/faults",
        json!({"error_5xx_next": 0, "slow_after_create_next": 1, "slow_ms": 2000}),
    )
    .await;
    let impatient = Client::new(
        &sbx.base_url,
        Secret::new(KEY),
        ClientOptions {
            timeout: Duration::from_millis(200),
            ..fast()
        },
    )
    .unwrap();
    errors.push(Box::new(
        impatient.create_issue(&issue("t")).await.unwrap_err(),
    ));
    for err in &errors {
        let text = all_text(err.as_ref());
        assert!(!text.contains(KEY), "{text}");
    }
    // The sandbox's request log never holds the key either.
    let log = sbx.control_get("/requests").await.to_string();
    assert!(!log.contains(KEY) && !log.contains("apiKey"), "{log}");
}

/// A `MakeWriter` collecting everything logged, for the leak check below.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn nothing_logged_at_any_level_contains_the_key() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sbx = Sbx::default().await;
    let client = sbx.client(ClientOptions {
        timeout: Duration::from_millis(300),
        ..fast()
    });
    client.get_project("SEC").await.unwrap();
    sbx.control_post(
        "/faults",
        json!({"rate_limit_next": 1, "error_5xx_next": 1}),
    )
    .await;
    client.priorities().await.unwrap();
    client.get_project("SEC").await.unwrap();
    sbx.control_post(
        "/faults",
        json!({"slow_after_create_next": 1, "slow_ms": 1000}),
    )
    .await;
    client.create_issue(&issue("slow")).await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("backlog call"),
        "the client logged its calls: {text}"
    );
    assert!(text.contains("rate limited"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test]
async fn rate_limit_waits_do_not_use_up_the_server_error_retries() {
    let sbx = Sbx::default().await;
    let client = sbx.client(ClientOptions {
        max_retries: 1,
        ..fast()
    });
    sbx.control_post(
        "/faults",
        json!({"rate_limit_next": 2, "error_5xx_next": 1}),
    )
    .await;
    // Faults apply in order per request: 429, 429, then 500, then success.
    client.priorities().await.unwrap();
    let statuses: Vec<u16> = sbx.requests().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [429, 429, 500, 200]);
}

#[tokio::test]
async fn redirects_are_not_followed_so_the_key_stays_home() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let elsewhere = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    });
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(other, elsewhere).await });
    let redirector = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::FOUND,
            [("location", format!("http://{other_addr}/steal"))],
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirector).await });

    let client = Client::new(&format!("http://{addr}"), Secret::new(KEY), fast()).unwrap();
    let err = client.myself().await.unwrap_err();
    assert!(
        matches!(err, CallError::Rejected { status: 302, .. }),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
