//! A log capture through a scenario that uses every secret: events with the right and a wrong
//! ingest key, the webhook with its token (and a wrong one), and the real Backlog client — key
//! in every URL's query — filing an issue in the in-process sandbox. Everything is logged at
//! TRACE (our crates and every dependency); none of the three secret values may appear.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fb_daemon::adapters::RealBackend;
use support::{asff_event, config_yaml, Secrets, TestDaemon};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_line() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(capture.clone())
        .init();
    // AWS is unreachable on purpose: write-backs fail (and are logged) without leaving the host.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "us-east-1");

    let secrets = Secrets::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox_url = format!("http://{}", listener.local_addr().unwrap());
    let options = backlog_sandbox::Options::new(secrets.backlog_key.clone(), "SEC");
    tokio::spawn(backlog_sandbox::serve(listener, options));

    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store");
    let config_path = dir.path().join("findings-bridge.yaml");
    std::fs::write(
        &config_path,
        config_yaml(&secrets, &sandbox_url, &store_path),
    )
    .unwrap();
    let backend = RealBackend {
        backlog_options: fb_backlog::ClientOptions {
            timeout: Duration::from_secs(5),
            ..fb_backlog::ClientOptions::default()
        },
        pipeline_settings: fb_sync::PipelineSettings::default(),
    };
    let d = TestDaemon::start_in(
        dir,
        config_path,
        store_path,
        secrets.clone(),
        Arc::new(backend),
        true,
    )
    .await;
    d.until("ready (Backlog names resolved with the key)", || async {
        d.get_text("/readyz").await.0 == 200
    })
    .await;

    // One 429 on the way: the client waits for the reset and retries (counted below).
    let faults = d
        .http
        .post(format!("{sandbox_url}/_sandbox/faults"))
        .json(&serde_json::json!({"rate_limit_next": 1}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());
    let event = asff_event(1, "GuardDuty").to_string();
    assert_eq!(
        d.post_event(Some(&secrets.ingest_key), event.clone())
            .await
            .0,
        202
    );
    assert_eq!(d.post_event(Some("wrong-key-value"), event).await.0, 401);
    for token in [secrets.webhook_token.as_str(), "wrong-token"] {
        d.http
            .post(d.url(&format!("/v1/backlog/webhook/{token}")))
            .body("{}")
            .send()
            .await
            .unwrap();
    }
    let client = d.http.clone();
    let issues_url = format!("{sandbox_url}/_sandbox/issues");
    d.until("the sandbox holds the issue", || async {
        let issues: serde_json::Value = client
            .get(&issues_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        issues.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    d.until("the issue is counted", || async {
        d.status().await.counters.issues_created == 1
    })
    .await;
    let (_, metrics) = d.get_text("/metrics").await;
    assert!(
        metrics.contains(
            r#"findings_bridge_backlog_calls_total{operation="create_issue",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"findings_bridge_rate_limit_waits_total{service="backlog"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"outcome="rate_limited"} 1"#),
        "{metrics}"
    );
    d.stop().await.0.unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 20,
        "the capture saw the scenario:\n{logs}"
    );
    assert!(logs.contains("event accepted"), "{logs}");
    assert!(logs.contains("Backlog names resolved"), "{logs}");
    assert!(logs.contains("webhook hint received"), "{logs}");
    for (name, value) in [
        ("ingest key", &secrets.ingest_key),
        ("webhook token", &secrets.webhook_token),
        ("Backlog API key", &secrets.backlog_key),
    ] {
        let hits: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(value.as_str()))
            .collect();
        assert!(
            hits.is_empty(),
            "the {name} appears in the logs:\n{}",
            hits.join("\n")
        );
    }
}
