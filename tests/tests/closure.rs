//! End to end, closure sync (Backlog → Security Hub): the real `findings-bridge` binary, moto
//! (Security Hub, STS) and backlog-sandbox, whose `/_sandbox/` control API closes and reopens
//! issues as a human user and delivers (or drops) webhooks like Backlog.
//!
//! One scenario, three daemon runs on the same store (each a restart: the activity cursor must
//! carry over):
//! 1. webhooks dropped, polling every 2 s: 5 issues closed Fixed, 3 Won't Fix → RESOLVED /
//!    SUPPRESSED with notes naming the issue, by polling alone;
//! 2. no periodic poll (only the one at start), webhooks delivered: 2 closed Fixed one by one,
//!    3 in one bulk update (type 14), 2 Won't Fix → the rest of the 10 RESOLVED / 5 SUPPRESSED;
//!    then 3 reopened → NOTIFIED;
//! 3. polling every second, Security Hub's echo events of our own write-backs delivered back:
//!    over several polls nothing is written to Backlog (only the activities read, one call per
//!    poll) or to Security Hub (no new Imported event).
//!
//! Along the way `backlog webhook install` creates the webhook, leaves it alone when it agrees,
//! updates it in place when the daemon's address changes, and `show` masks the token.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, RecordState, Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use fb_e2e::daemon::Daemon;
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::sandbox::Sandbox;
use fb_e2e::scenario::{
    self, batch_import, closure_config_text, daemon_env, Detector, Poll, Secrets, ACCOUNT, NEVER,
    PRODUCT_ARN, REGION, ROLE, UNTHROTTLED,
};
use serde_json::{json, Value};

const INGEST_KEY: &str = "e2e-closure-ingest-key-4Rt8";
const TOKEN: &str = "e2e-closure-webhook-token-2Vn6";
const FINDINGS: usize = 20;

const DETECTOR: Detector = Detector {
    name: "closure",
    id_prefix: "c",
    digits: 4,
};

/// Imports the findings with Workflow NOTIFIED, so the start-up backfill (NEW findings) finds
/// nothing and every issue comes from a delivered event.
async fn import_findings(moto: &Moto) {
    batch_import(
        moto,
        DETECTOR.sdk_findings(FINDINGS, WorkflowStatus::Notified),
    )
    .await;
}

fn config_text(backlog_url: &str, store: &Path, closure_sync: &str) -> String {
    closure_config_text("e2e", "FB_E2E", backlog_url, store, closure_sync)
}

struct World {
    moto: Moto,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    http: reqwest::Client,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start().unwrap();
        let sandbox = Sandbox::start_with(&UNTHROTTLED);
        moto.create_execution_role(ACCOUNT, ROLE).await.unwrap();
        import_findings(&moto).await;
        let secrets = Secrets {
            backlog_key: &sandbox.api_key,
            ingest_key: INGEST_KEY,
            webhook_token: Some(TOKEN),
        };
        let env = daemon_env(&moto, "FB_E2E", secrets, Some("info"));
        World {
            moto,
            sandbox,
            dir: tempfile::tempdir().unwrap(),
            env,
            http: reqwest::Client::new(),
        }
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("findings-bridge.yaml")
    }

    /// Writes the config with this `closure_sync` schedule and starts the daemon.
    fn start(&self, closure_sync: &str) -> Daemon {
        self.write_config(closure_sync, false);
        Daemon::start(&self.config_path(), &self.env).unwrap()
    }

    /// Writes the config (its one rule relay, or `direct` like the seed's).
    fn write_config(&self, closure_sync: &str, direct: bool) {
        let mut text = config_text(
            &self.sandbox.base_url,
            &self.dir.path().join("store"),
            closure_sync,
        );
        if direct {
            text = text
                .replace(
                    "  - name: guardduty\n    match:",
                    "  - name: guardduty\n    delivery: direct\n    match:",
                )
                .replace(
                    "      description: \"<Title>\\n\\nSeverity: <Severity>\"\n",
                    "      description: \"<Title>\\n\\nSeverity: <Severity>\"\n      priority: Normal\n",
                );
            assert!(text.contains("delivery: direct") && text.contains("priority: Normal"));
        }
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// `findings-bridge backlog webhook ARGS…`: (success, stdout + stderr).
    fn webhook_cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(fb_e2e::bin_path("findings-bridge"))
            .args(["backlog", "webhook"])
            .args(args)
            .arg("-c")
            .arg(self.config_path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The project's webhooks as the Backlog API lists them.
    async fn webhooks(&self) -> Vec<Value> {
        self.http
            .get(format!(
                "{}/api/v2/projects/SEC/webhooks",
                self.sandbox.base_url
            ))
            .query(&[("apiKey", self.sandbox.api_key.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn deliver(&self, daemon: &Daemon, body: String) {
        let r = self
            .http
            .post(format!("{}/v1/events", daemon.base_url))
            .header("x-api-key", INGEST_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }

    async fn status(&self, daemon: &Daemon) -> Value {
        scenario::status(&self.http, daemon).await
    }

    /// Finding id → its one issue key (panics on a second issue for a finding).
    async fn issue_keys(&self) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::new();
        for issue in self.sandbox.issues().await {
            let description = issue["description"].as_str().unwrap_or_default();
            let key = issue["issueKey"].as_str().unwrap_or_default().to_owned();
            let marker = fb_model::template::find_marker(description)
                .unwrap_or_else(|| panic!("issue {key} has no marker"))
                .to_owned();
            if let Some(other) = keys.insert(marker.clone(), key.clone()) {
                panic!("{marker} has two issues: {other} and {key}");
            }
        }
        keys
    }

    async fn finding(&self, n: usize) -> Value {
        self.moto
            .finding(ACCOUNT, REGION, &DETECTOR.finding_id(n))
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits until each `(n, workflow, note part)` holds in Security Hub.
    async fn expect_workflows(&self, daemon: &Daemon, wanted: &[(usize, &str, String)]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut problem = None;
            for (n, workflow, part) in wanted {
                let f = self.finding(*n).await;
                let note = f["Note"]["Text"].as_str().unwrap_or_default();
                if f["Workflow"]["Status"] != *workflow || !note.contains(part.as_str()) {
                    problem = Some(format!(
                        "finding {n}: workflow {} note {note:?}, wanted {workflow} with {part:?}",
                        f["Workflow"]["Status"]
                    ));
                    break;
                }
            }
            let Some(problem) = problem else { return };
            assert!(
                Instant::now() < deadline,
                "{problem}\ndaemon log:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until `check(status)` holds.
    async fn until_status(&self, daemon: &Daemon, what: &str, check: impl Fn(&Value) -> bool) {
        let poll = Poll {
            within: Duration::from_secs(60),
            every: Duration::from_millis(200),
        };
        scenario::until_status(&self.http, daemon, poll, what, check).await;
    }
}

fn closure_runs(status: &Value) -> u64 {
    status["jobs"]["closure_sync"]["runs"].as_u64().unwrap_or(0)
}

fn idle(status: &Value) -> bool {
    status["queues"]["inbox"] == 0 && status["queues"]["outbox"] == 0
}

#[test]
fn closes_and_reopens_reach_security_hub_by_polling_and_by_webhook_then_nothing_more_is_written() {
    block_on(|| async {
        let w = World::new().await;

        // --- Run 1: findings → issues; webhooks dropped, polling every 2 s.
        let mut daemon = w.start("*/2 * * * * *");
        for n in 0..FINDINGS {
            let body = DETECTOR.event(n, &format!("closure-event-{n}")).to_string();
            w.deliver(&daemon, body).await;
        }
        w.until_status(&daemon, "every finding filed", |s| {
            idle(s) && s["counters"]["issues_created"] == FINDINGS
        })
        .await;
        let keys = w.issue_keys().await;
        assert_eq!(keys.len(), FINDINGS);
        let key = |n: usize| keys[&DETECTOR.finding_id(n)].clone();
        let notified: Vec<_> = (0..FINDINGS)
            .map(|n| (n, "NOTIFIED", format!("Backlog {}", key(n))))
            .collect();
        w.expect_workflows(&daemon, &notified).await;

        let (ok, out) = w.webhook_cli(&["install", "--url", &daemon.base_url]);
        assert!(ok && out.contains("created"), "{out}");
        let (ok, out) = w.webhook_cli(&["install", "--url", &daemon.base_url]);
        assert!(ok && out.contains("up to date"), "{out}");
        let (ok, out) = w.webhook_cli(&["show"]);
        assert!(
            ok && out.contains("****") && out.contains("matches"),
            "{out}"
        );
        assert!(!out.contains(TOKEN), "the token is masked: {out}");
        let hooks = w.webhooks().await;
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        assert_eq!(hooks[0]["activityTypeIds"], json!([2, 4, 14]));

        w.sandbox.drop_webhooks(true).await;
        for n in 0..5 {
            w.sandbox.close(&key(n), "Fixed").await;
        }
        for n in 5..8 {
            w.sandbox.close(&key(n), "Won't Fix").await;
        }
        let mut closed: Vec<(usize, &str, String)> = Vec::new();
        closed.extend((0..5).map(|n| (n, "RESOLVED", format!("Backlog {} closed by", key(n)))));
        closed.extend((5..8).map(|n| (n, "SUPPRESSED", format!("Backlog {} closed by", key(n)))));
        w.expect_workflows(&daemon, &closed).await;
        let note = w.finding(5).await["Note"]["Text"].clone();
        assert!(note.as_str().unwrap().contains("Won't Fix"), "{note}");
        assert!(daemon.terminate(Duration::from_secs(30)).unwrap().success());

        // --- Run 2: no periodic poll; webhooks delivered (the address changed: install updates).
        let mut daemon = w.start(NEVER);
        w.until_status(&daemon, "the start-up poll", |s| closure_runs(s) >= 1)
            .await;
        let (ok, out) = w.webhook_cli(&["install", "--url", &daemon.base_url]);
        assert!(ok && out.contains("updated"), "{out}");
        assert_eq!(w.webhooks().await.len(), 1);
        w.sandbox.drop_webhooks(false).await;
        for n in 8..10 {
            w.sandbox.close(&key(n), "Fixed").await;
        }
        let bulk: Vec<String> = (10..13).map(key).collect();
        let r = w
            .http
            .post(format!("{}/_sandbox/bulk_update", w.sandbox.base_url))
            .json(&json!({"keys": bulk, "status": 4, "resolution": "Fixed", "user": "alice"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        for n in 13..15 {
            w.sandbox.close(&key(n), "Won't Fix").await;
        }
        closed.extend((8..13).map(|n| (n, "RESOLVED", format!("Backlog {} closed by", key(n)))));
        closed.extend((13..15).map(|n| (n, "SUPPRESSED", format!("Backlog {} closed by", key(n)))));
        w.expect_workflows(&daemon, &closed).await;
        let resolved = closed.iter().filter(|c| c.1 == "RESOLVED").count();
        let suppressed = closed.iter().filter(|c| c.1 == "SUPPRESSED").count();
        assert_eq!((resolved, suppressed), (10, 5));
        assert_eq!(
            closure_runs(&w.status(&daemon).await),
            1,
            "run 2 acted on webhooks, not on scheduled polls"
        );

        for n in [0, 5, 10] {
            w.sandbox.reopen(&key(n)).await;
        }
        let reopened: Vec<_> = [0, 5, 10]
            .into_iter()
            .map(|n| (n, "NOTIFIED", format!("Backlog {} reopened", key(n))))
            .collect();
        w.expect_workflows(&daemon, &reopened).await;
        // The untouched ones are as they were.
        let untouched: Vec<_> = (15..FINDINGS)
            .map(|n| (n, "NOTIFIED", format!("Backlog {}", key(n))))
            .collect();
        w.expect_workflows(&daemon, &untouched).await;
        assert!(daemon.terminate(Duration::from_secs(30)).unwrap().success());

        // --- Run 3: polling every second, our own echoes delivered back: nothing is written.
        let daemon = w.start("* * * * * *");
        w.until_status(&daemon, "a first poll, queues empty", |s| {
            closure_runs(s) >= 1 && idle(s)
        })
        .await;
        for event in w.moto.imported_events(ACCOUNT, REGION).await.unwrap() {
            w.deliver(&daemon, event.to_string()).await;
        }
        w.until_status(&daemon, "echoes handled", idle).await;
        let requests_before = w.sandbox.requests().await.len();
        let events_before = w.moto.imported_events(ACCOUNT, REGION).await.unwrap().len();
        let runs_before = closure_runs(&w.status(&daemon).await);
        w.until_status(&daemon, "four more polls", |s| {
            closure_runs(s) >= runs_before + 4
        })
        .await;
        let runs = closure_runs(&w.status(&daemon).await) - runs_before;
        let requests = w.sandbox.requests().await;
        let quiet = &requests[requests_before..];
        assert!(!quiet.is_empty(), "the polls read the activities");
        for r in quiet {
            assert_eq!(r["method"], "GET", "a write to Backlog while quiet: {r}");
            let path = r["path"].as_str().unwrap_or_default();
            assert!(
                path.ends_with("/activities"),
                "only activities are read: {r}"
            );
        }
        // One activities call per poll (the call of a poll still running may be included).
        assert!(
            quiet.len() as u64 <= runs + 1,
            "{} calls for {runs} polls",
            quiet.len()
        );
        assert_eq!(
            w.moto.imported_events(ACCOUNT, REGION).await.unwrap().len(),
            events_before,
            "no Security Hub write while quiet"
        );
        let status = w.status(&daemon).await;
        assert_eq!(
            status["counters"]["issues_created"], 0,
            "no issue filed again"
        );
        assert_eq!(w.issue_keys().await.len(), FINDINGS);
        assert_eq!(w.webhooks().await.len(), 1);
    });
}

// --- Direct delivery (the seed's setup): issues EventBridge filed straight into Backlog.

const DIRECT: usize = 5;
/// Findings posted twice (EventBridge retried after a time-out that Backlog had accepted).
const TWICE: [usize; 2] = [0, 1];

/// The real sample, turned into finding `n` of our account and region.
fn direct_finding(n: usize) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/closure/guardduty-finding-in-securityhub-asff-awsdocs.json"
    );
    let mut f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f["Id"] = json!(format!(
        "arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/d4b040365221be2b54a6264dc9a4bc64/finding/46ba0ac2845071e23ccdeb2ae03bfd{n:02}"
    ));
    f["AwsAccountId"] = json!(ACCOUNT);
    f["ProductArn"] = json!(PRODUCT_ARN);
    f["ProductName"] = json!("GuardDuty");
    f["Region"] = json!(REGION);
    f["Workflow"] = json!({"Status": "NEW"});
    f["RecordState"] = json!("ACTIVE");
    f
}

async fn import_direct(moto: &Moto) {
    let hub = moto.securityhub(ACCOUNT, REGION).await.unwrap();
    let text = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_owned();
    let all: Vec<AwsSecurityFinding> = (0..DIRECT)
        .map(|n| {
            let f = direct_finding(n);
            AwsSecurityFinding::builder()
                .schema_version("2018-10-08")
                .id(text(&f, "Id"))
                .product_arn(PRODUCT_ARN)
                .product_name("GuardDuty")
                .generator_id(text(&f, "GeneratorId"))
                .aws_account_id(ACCOUNT)
                .region(REGION)
                .types(f["Types"][0].as_str().unwrap_or_default())
                .created_at(text(&f, "CreatedAt"))
                .updated_at(text(&f, "UpdatedAt"))
                .severity(
                    Severity::builder()
                        .label(SeverityLabel::Medium)
                        .normalized(40)
                        .build(),
                )
                .title(text(&f, "Title"))
                .description(text(&f, "Description"))
                .resources(
                    Resource::builder()
                        .r#type(f["Resources"][0]["Type"].as_str().unwrap_or_default())
                        .id(f["Resources"][0]["Id"].as_str().unwrap_or_default())
                        .build(),
                )
                .record_state(RecordState::Active)
                .workflow(Workflow::builder().status(WorkflowStatus::New).build())
                .build()
        })
        .collect();
    let out = hub
        .batch_import_findings()
        .set_findings(Some(all))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_count(), Some(0), "{out:?}");
}

impl World {
    async fn api_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/api/v2{path}", self.sandbox.base_url))
            .query(&[("apiKey", self.sandbox.api_key.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The ids the compiled template needs, as `apply` resolves them.
    async fn issue_ids(&self) -> fb_model::template::IssueIds {
        let id_of = |list: &Value, name: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == name)
                .and_then(|i| i["id"].as_u64())
                .unwrap_or_else(|| panic!("no {name} in {list}"))
        };
        let project = self.api_get("/projects/SEC").await;
        fb_model::template::IssueIds {
            project_id: project["id"].as_u64().unwrap(),
            issue_type_id: id_of(&self.api_get("/projects/SEC/issueTypes").await, "Task"),
            priority_id: id_of(&self.api_get("/priorities").await, "Normal"),
        }
    }

    /// What EventBridge does in direct mode: fill the input transformer from the event and
    /// POST the body to Backlog with the connection's API key.
    async fn post_direct(&self, transformer: &fb_model::template::Transformer, event: &Value) {
        let mut body = transformer.template.clone();
        for (name, path) in &transformer.paths {
            let value = fb_model::template::lookup_path(event, path).unwrap_or_default();
            // EventBridge does not escape values; the sample's are plain text, and escaping
            // here keeps the body valid JSON whatever the sample says.
            let quoted = Value::String(value).to_string();
            body = body.replace(&format!("<{name}>"), &quoted[1..quoted.len() - 1]);
        }
        let r = self
            .http
            .post(format!("{}/api/v2/issues", self.sandbox.base_url))
            .query(&[("apiKey", self.sandbox.api_key.as_str())])
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    /// Finding Id → its issues (key, open, resolution id, comments).
    async fn issues_by_marker(&self) -> BTreeMap<String, Vec<(String, bool, Value, String)>> {
        let mut by: BTreeMap<String, Vec<(String, bool, Value, String)>> = BTreeMap::new();
        for issue in self.sandbox.issues().await {
            let description = issue["description"].as_str().unwrap_or_default();
            let Some(marker) = fb_model::template::find_marker(description) else {
                continue;
            };
            by.entry(marker.trim().to_owned()).or_default().push((
                issue["issueKey"].as_str().unwrap_or_default().to_owned(),
                issue["status"]["id"] != 4,
                issue["resolution"]["id"].clone(),
                issue["comments"].to_string(),
            ));
        }
        by
    }
}

#[test]
fn direct_delivery_issues_are_adopted_notified_and_duplicates_closed() {
    block_on(|| async {
        let w = World::new().await;
        import_direct(&w.moto).await;
        w.write_config("* * * * * *", true);
        let config = fb_model::config::load(w.config_path()).unwrap();
        let transformer =
            fb_model::template::compile_transformer(&config.rules[0], &w.issue_ids().await);
        for n in 0..DIRECT {
            let event = fb_model::finding::asff_event(
                direct_finding(n),
                &format!("direct-event-{n}"),
                "2026-01-01T00:00:00Z",
            );
            w.post_direct(&transformer, &event).await;
            if TWICE.contains(&n) {
                w.post_direct(&transformer, &event).await;
            }
        }
        assert_eq!(w.sandbox.issues().await.len(), DIRECT + TWICE.len());

        let daemon = Daemon::start(&w.config_path(), &w.env).unwrap();
        let id = |n: usize| direct_finding(n)["Id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        let originals = loop {
            let by = w.issues_by_marker().await;
            let mut problem = None;
            let mut originals = BTreeMap::new();
            for n in 0..DIRECT {
                let issues = by.get(&id(n)).cloned().unwrap_or_default();
                let open: Vec<_> = issues.iter().filter(|i| i.1).collect();
                if open.len() != 1 {
                    problem = Some(format!("finding {n}: open issues {issues:?}"));
                    break;
                }
                let original = open[0].0.clone();
                for closed in issues.iter().filter(|i| !i.1) {
                    if closed.2 != 3 || !closed.3.contains(&original) {
                        problem = Some(format!("finding {n}: duplicate {closed:?}"));
                    }
                }
                let f = w
                    .moto
                    .finding(ACCOUNT, REGION, &id(n))
                    .await
                    .unwrap()
                    .unwrap();
                let note = f["Note"]["Text"].as_str().unwrap_or_default();
                if f["Workflow"]["Status"] != "NOTIFIED"
                    || !note.contains(&format!("Backlog {original}"))
                {
                    problem = Some(format!("finding {n}: {} {note:?}", f["Workflow"]));
                }
                originals.insert(n, original);
            }
            match problem {
                None => break originals,
                Some(p) => {
                    assert!(
                        Instant::now() < deadline,
                        "{p}\ndaemon log:\n{}",
                        daemon.log()
                    );
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        };
        let by = w.issues_by_marker().await;
        for n in TWICE {
            assert_eq!(by[&id(n)].len(), 2, "the duplicate is closed, not deleted");
        }
        assert_eq!(
            w.sandbox.issues().await.len(),
            DIRECT + TWICE.len(),
            "nothing filed"
        );

        // From now on an adopted issue follows closure sync like a relay one.
        w.sandbox.close(&originals[&2], "Fixed").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let f = w
                .moto
                .finding(ACCOUNT, REGION, &id(2))
                .await
                .unwrap()
                .unwrap();
            let note = f["Note"]["Text"].as_str().unwrap_or_default().to_owned();
            if f["Workflow"]["Status"] == "RESOLVED" && note.contains(&originals[&2]) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{note}\ndaemon log:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

// --- Security Hub → Backlog lifecycle with closure sync running: no ping-pong.

impl World {
    /// Forwards the Imported events emitted since `seen` to the daemon, as EventBridge would
    /// (the managed rule lets lifecycle changes of tracked findings through); returns the new
    /// count.
    async fn forward_events(&self, daemon: &Daemon, seen: usize) -> usize {
        let events = self.moto.imported_events(ACCOUNT, REGION).await.unwrap();
        for event in &events[seen..] {
            self.deliver(daemon, event.to_string()).await;
        }
        events.len()
    }

    async fn issue(&self, key: &str) -> Value {
        self.sandbox
            .issues()
            .await
            .into_iter()
            .find(|i| i["issueKey"] == key)
            .unwrap_or_else(|| panic!("no issue {key}"))
    }

    /// Waits until `check` holds for issue `key`.
    async fn until_issue(
        &self,
        daemon: &Daemon,
        key: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let issue = self.issue(key).await;
            if check(&issue) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{key}: {what}: {issue}\ndaemon log:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[test]
fn archived_findings_close_their_issues_and_returning_ones_reopen_them_without_ping_pong() {
    block_on(|| async {
        let w = World::new().await;
        let daemon = w.start("* * * * * *");
        const TRACKED: usize = 5;
        for n in 0..TRACKED {
            let body = DETECTOR
                .event(n, &format!("lifecycle-event-{n}"))
                .to_string();
            w.deliver(&daemon, body).await;
        }
        w.until_status(&daemon, "every finding filed", |s| {
            idle(s) && s["counters"]["issues_created"] == TRACKED
        })
        .await;
        let keys = w.issue_keys().await;
        let key = |n: usize| keys[&DETECTOR.finding_id(n)].clone();
        let notified: Vec<_> = (0..TRACKED)
            .map(|n| (n, "NOTIFIED", format!("Backlog {}", key(n))))
            .collect();
        w.expect_workflows(&daemon, &notified).await;
        let mut seen = w.forward_events(&daemon, 0).await;

        // The provider archives 3 (a new UpdatedAt): comment + issue closed (close_issue_on defaults to archived).
        let archived = (0..3)
            .map(|n| {
                DETECTOR.sdk_finding(
                    n,
                    "2026-01-02T00:00:00.000Z",
                    RecordState::Archived,
                    WorkflowStatus::New,
                )
            })
            .collect();
        batch_import(&w.moto, archived).await;
        seen = w.forward_events(&daemon, seen).await;
        for n in 0..3 {
            w.until_issue(&daemon, &key(n), "closed with a comment", |i| {
                i["status"]["id"] == 4 && i["comments"].to_string().contains("archived")
            })
            .await;
        }

        // 2 come back: Security Hub resets them to NEW; the same issues reopen, NOTIFIED again.
        let active = (0..2)
            .map(|n| {
                DETECTOR.sdk_finding(
                    n,
                    "2026-01-03T00:00:00.000Z",
                    RecordState::Active,
                    WorkflowStatus::New,
                )
            })
            .collect();
        batch_import(&w.moto, active).await;
        seen = w.forward_events(&daemon, seen).await;
        for n in 0..2 {
            w.until_issue(&daemon, &key(n), "reopened", |i| i["status"]["id"] == 1)
                .await;
        }
        let back: Vec<_> = (0..2)
            .map(|n| (n, "NOTIFIED", format!("Backlog {}", key(n))))
            .collect();
        w.expect_workflows(&daemon, &back).await;
        assert_eq!(w.issue_keys().await.len(), TRACKED, "no second issue");

        // Our own closes and reopens are echoes for closure sync: finding 2 (archived, its
        // issue closed by us) is not resolved; echoes of our write-backs change nothing.
        w.until_status(&daemon, "queues empty", idle).await;
        seen = w.forward_events(&daemon, seen).await;
        w.until_status(&daemon, "echoes handled", idle).await;
        let requests_before = w.sandbox.requests().await.len();
        let runs_before = closure_runs(&w.status(&daemon).await);
        w.until_status(&daemon, "four more polls", |s| {
            closure_runs(s) >= runs_before + 4
        })
        .await;
        let requests = w.sandbox.requests().await;
        for r in &requests[requests_before..] {
            assert_eq!(r["method"], "GET", "a write to Backlog while quiet: {r}");
        }
        assert_eq!(
            w.moto.imported_events(ACCOUNT, REGION).await.unwrap().len(),
            seen,
            "no Security Hub write while quiet"
        );
        assert_eq!(w.finding(2).await["Workflow"]["Status"], "NOTIFIED");
        assert_eq!(w.finding(2).await["RecordState"], "ARCHIVED");
    });
}

#[test]
fn lifecycle_changes_whose_events_were_lost_are_found_by_rechecking_security_hub() {
    block_on(|| async {
        let w = World::new().await;
        w.write_config(NEVER, false);
        let text = std::fs::read_to_string(w.config_path()).unwrap();
        let text = text.replace(
            &format!("backfill: \"{NEVER}\""),
            "backfill: \"*/2 * * * * *\"",
        );
        std::fs::write(w.config_path(), text).unwrap();
        let daemon = Daemon::start(&w.config_path(), &w.env).unwrap();
        for n in 0..3 {
            let body = DETECTOR.event(n, &format!("recheck-event-{n}")).to_string();
            w.deliver(&daemon, body).await;
        }
        w.until_status(&daemon, "every finding filed", |s| {
            idle(s) && s["counters"]["issues_created"] == 3
        })
        .await;
        let keys = w.issue_keys().await;
        let first = keys[&DETECTOR.finding_id(0)].clone();
        w.expect_workflows(&daemon, &[(0, "NOTIFIED", format!("Backlog {first}"))])
            .await;

        // Archived by its provider; the Imported event never reaches the daemon.
        let archived = DETECTOR.sdk_finding(
            0,
            "2026-01-02T00:00:00.000Z",
            RecordState::Archived,
            WorkflowStatus::New,
        );
        batch_import(&w.moto, vec![archived]).await;
        w.until_issue(&daemon, &first, "closed with a comment", |i| {
            i["status"]["id"] == 4 && i["comments"].to_string().contains("archived")
        })
        .await;

        // Back (Security Hub resets it to NEW); again no event delivered.
        let back = DETECTOR.sdk_finding(
            0,
            "2026-01-03T00:00:00.000Z",
            RecordState::Active,
            WorkflowStatus::New,
        );
        batch_import(&w.moto, vec![back]).await;
        w.until_issue(&daemon, &first, "reopened", |i| i["status"]["id"] == 1)
            .await;
        w.expect_workflows(&daemon, &[(0, "NOTIFIED", format!("Backlog {first}"))])
            .await;
        assert_eq!(w.issue_keys().await.len(), 3, "no second issue");
    });
}
