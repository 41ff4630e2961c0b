//! Shared test support: an in-process `backlog-sandbox` on 127.0.0.1:0 and a client for it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fb_backlog::{CallObserver, CallOutcome, Client, ClientOptions, Secret};
use serde_json::Value;

pub const KEY: &str = "sekret-api-key-9f8e7d";

/// A sandbox served by a background task; stops when the test's runtime ends.
pub struct Sbx {
    pub base_url: String,
    http: reqwest::Client,
}

impl Sbx {
    pub async fn start(options: backlog_sandbox::Options) -> Sbx {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(backlog_sandbox::serve(listener, options));
        Sbx {
            base_url: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn default() -> Sbx {
        Self::start(backlog_sandbox::Options::new(KEY, "SEC")).await
    }

    pub async fn control_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/_sandbox{path}", self.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.json().await.unwrap()
    }

    pub async fn control_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_sandbox{path}", self.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// `(method, path, status)` of every API call so far.
    pub async fn requests(&self) -> Vec<(String, String, u16)> {
        let v = self.control_get("/requests").await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap().to_owned(),
                    r["path"].as_str().unwrap().to_owned(),
                    r["status"].as_u64().unwrap() as u16,
                )
            })
            .collect()
    }

    pub async fn issue_count(&self) -> usize {
        self.control_get("/issues").await.as_array().unwrap().len()
    }

    pub fn client(&self, options: ClientOptions) -> Client {
        Client::new(&self.base_url, Secret::new(KEY), options).unwrap()
    }

    pub fn observed_client(&self, options: ClientOptions) -> (Client, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        let client = Client::with_observer(
            &self.base_url,
            Secret::new(KEY),
            options,
            Some(rec.clone() as Arc<dyn CallObserver>),
        )
        .unwrap();
        (client, rec)
    }
}

/// Options with tiny delays so retries do not slow the tests down.
pub fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 3,
        max_rate_limit_waits: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        rate_limit_fallback: Duration::from_millis(50),
        rate_limit_margin: Duration::from_millis(20),
        rate_limit_max_wait: Duration::from_secs(3),
        min_remaining: 1,
    }
}

/// Records every observed `(operation, outcome)`.
#[derive(Debug, Default)]
pub struct Recorder(pub Mutex<Vec<(&'static str, CallOutcome)>>);

impl CallObserver for Recorder {
    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        self.0.lock().unwrap().push((operation, outcome));
    }
}

impl Recorder {
    pub fn count(&self, outcome: CallOutcome) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| *o == outcome)
            .count()
    }
}
