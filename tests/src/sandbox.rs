//! `backlog-sandbox` as a child process on a free 127.0.0.1 port, killed on drop, plus helpers
//! for its `/_sandbox/` control API (issues, close / reopen as a human, faults, request log).
//!
//! Must not: talk to anything but the sandbox it started. Helpers panic with context: they are
//! test scaffolding, and a failure there is a broken test environment.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The API key every harness sandbox accepts.
pub const SANDBOX_API_KEY: &str = "sandbox-test-key-0123456789";
/// The project key of every harness sandbox.
pub const SANDBOX_PROJECT: &str = "SEC";

/// A running `backlog-sandbox`; killed when dropped.
#[derive(Debug)]
pub struct Sandbox {
    /// `http://127.0.0.1:PORT` (the client appends `/api/v2`).
    pub base_url: String,
    pub api_key: String,
    http: reqwest::Client,
    child: Child,
    /// Held open: the sandbox exits when it closes, even if this process is killed.
    _stdin: Option<ChildStdin>,
}

impl Sandbox {
    /// Starts the sandbox with the default options; panics when it cannot.
    pub fn start() -> Sandbox {
        Self::try_start(&[]).expect("start backlog-sandbox")
    }

    /// Starts the sandbox with extra command-line flags (e.g. `--rate-update 5`).
    pub fn start_with(extra_args: &[&str]) -> Sandbox {
        Self::try_start(extra_args).expect("start backlog-sandbox")
    }

    /// Spawns `backlog-sandbox`, reads its `listening on` line and waits until it answers.
    pub fn try_start(extra_args: &[&str]) -> anyhow::Result<Sandbox> {
        let bin = crate::bin_path("backlog-sandbox");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--api-key", SANDBOX_API_KEY])
            .args([
                "--project",
                SANDBOX_PROJECT,
                "--print-port",
                "--exit-with-stdin",
            ])
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!("cannot start {} (cargo build --bins first)", bin.display())
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the sandbox's first line")?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("backlog-sandbox did not start: first line was {line:?}");
        };
        let sandbox = Sandbox {
            base_url: format!("http://{addr}"),
            api_key: SANDBOX_API_KEY.to_owned(),
            http: reqwest::Client::new(),
            child,
            _stdin: stdin,
        };
        sandbox.wait_ready(addr)?;
        Ok(sandbox)
    }

    /// The listener is bound before the line is printed; still, confirm a TCP connect works.
    fn wait_ready(&self, addr: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("backlog-sandbox at {addr} does not accept connections");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn control(&self, path: &str) -> String {
        format!("{}/_sandbox{path}", self.base_url)
    }

    async fn get_json(&self, path: &str) -> Value {
        let url = self.control(path);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: body: {e}"))
    }

    async fn post_json(&self, path: &str, body: Value) -> Value {
        let url = self.control(path);
        let r = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {url}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Every issue (Backlog's issue JSON plus `comments`).
    pub async fn issues(&self) -> Vec<Value> {
        match self.get_json("/issues").await {
            Value::Array(a) => a,
            other => panic!("/_sandbox/issues is not an array: {other}"),
        }
    }

    /// Every activity, ascending by id.
    pub async fn activities(&self) -> Vec<Value> {
        match self.get_json("/activities").await {
            Value::Array(a) => a,
            other => panic!("/_sandbox/activities is not an array: {other}"),
        }
    }

    /// Closes `key` as the human user `alice` with `resolution` ("Fixed", "Won't Fix", …).
    pub async fn close(&self, key: &str, resolution: &str) -> Value {
        self.post_json(
            &format!("/issues/{key}/close"),
            json!({"resolution": resolution, "user": "alice"}),
        )
        .await
    }

    /// Reopens `key` as the human user `alice`.
    pub async fn reopen(&self, key: &str) -> Value {
        self.post_json(&format!("/issues/{key}/reopen"), json!({"user": "alice"}))
            .await
    }

    /// Sets the fault counters, e.g. `{"rate_limit_next": 3}` or
    /// `{"slow_after_create_next": 1, "slow_ms": 6000}`.
    pub async fn faults(&self, faults: Value) -> Value {
        self.post_json("/faults", faults).await
    }

    /// Drops (true) or delivers (false) webhook calls from now on.
    pub async fn drop_webhooks(&self, drop: bool) -> Value {
        self.post_json("/webhooks/drop", json!({"drop": drop}))
            .await
    }

    /// The API call log: `[{method, path, bucket, status}]`, apiKey never included.
    pub async fn requests(&self) -> Vec<Value> {
        match self.get_json("/requests").await {
            Value::Array(a) => a,
            other => panic!("/_sandbox/requests is not an array: {other}"),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
