//! End to end, operating the daemon: the real binary with moto and backlog-sandbox.
//! `findings-bridge status` for a person (exit 0 healthy, 1 refused config / unreachable),
//! JSON logs, a config change taken with SIGHUP that triggers a reconcile (resources appear in
//! moto's EventBridge), a broken change refused while the old config keeps running, SIGTERM →
//! exit 0.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use fb_e2e::daemon::Daemon;
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::sandbox::Sandbox;
use fb_e2e::scenario::{
    self, config_head, daemon_env, Poll, Secrets, ACCOUNT, NEVER, REGION, ROLE,
};
use serde_json::Value;

fn config_text(backlog_url: &str, store: &Path, rate: u32) -> String {
    let head = config_head("ops", "FB_E2E", backlog_url);
    format!(
        r#"{head}
relay:
  public_url: http://127.0.0.1:8080
  api_key: env:FB_E2E_INGEST_KEY
rules:
  - name: guardduty
    match:
      product_names: [GuardDuty]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    rate_limit_per_second: {rate}
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>"
server:
  listen: "127.0.0.1:0"
store:
  path: {store}
schedules:
  reconcile: "{NEVER}"
  closure_sync: "{NEVER}"
  backfill: "{NEVER}"
"#,
        store = store.display()
    )
}

fn status_command(url: &str) -> Output {
    Command::new(fb_e2e::bin_path("findings-bridge"))
        .args(["status", "--url", url])
        .output()
        .expect("run findings-bridge status")
}

async fn status_json(daemon: &Daemon) -> Value {
    scenario::status(&reqwest::Client::new(), daemon).await
}

/// Polls the daemon's status until `check` holds.
async fn until(daemon: &Daemon, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let poll = Poll {
        within: Duration::from_secs(90),
        every: Duration::from_millis(200),
    };
    scenario::until_status(&reqwest::Client::new(), daemon, poll, what, check).await
}

#[test]
fn status_json_logs_sighup_reload_with_reconcile_and_sigterm() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        let sandbox = Sandbox::start();
        moto.create_execution_role(ACCOUNT, ROLE).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let config = dir.path().join("findings-bridge.yaml");
        std::fs::write(&config, config_text(&sandbox.base_url, &store, 2)).unwrap();
        let secrets = Secrets {
            backlog_key: &sandbox.api_key,
            ingest_key: "ops-ingest-key-55x",
            webhook_token: None,
        };
        let env = daemon_env(&moto, "FB_E2E", secrets, Some("info"));
        let mut daemon = Daemon::spawn_with(&config, &env, &["--log-format", "json"]).unwrap();
        daemon.wait_ready(Duration::from_secs(60)).unwrap();
        until(&daemon, "the start-up backfill and reconcile ran", |s| {
            s["jobs"]["backfill"]["runs"] == 1 && s["jobs"]["reconcile"]["runs"] == 1
        })
        .await;

        // A person's view; healthy → exit 0.
        let out = status_command(&daemon.base_url);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(": ready"), "{text}");
        assert!(text.contains("healthy"), "{text}");
        assert!(text.contains("backfill"), "{text}");

        // JSON logs: every line is one JSON object with a level.
        let log = daemon.log();
        assert!(log.lines().count() >= 3, "{log}");
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(v["level"].is_string(), "{line}");
        }

        // A good change + SIGHUP: swapped in, and a reconcile corrects the resources (the
        // start-up reconcile created them with the old rate limit).
        let before = status_json(&daemon).await["config"]["hash"].clone();
        std::fs::write(&config, config_text(&sandbox.base_url, &store, 3)).unwrap();
        daemon.signal("HUP").unwrap();
        let status = until(&daemon, "the reload's reconcile ran", |s| {
            s["config"]["hash"] != before && s["jobs"]["reconcile"]["runs"] == 2
        })
        .await;
        let places = status["reconcile"].as_array().unwrap();
        assert_eq!(places.len(), 1, "{status:#}");
        assert_eq!(places[0]["account"], ACCOUNT);
        assert_eq!(
            places[0]["result"],
            "applied",
            "{status:#}\n{}",
            daemon.log()
        );
        assert!(places[0]["drift"].as_u64().unwrap() > 0);
        let rules = moto
            .eventbridge(ACCOUNT, REGION)
            .await
            .unwrap()
            .list_rules()
            .name_prefix("fb-ops-")
            .send()
            .await
            .unwrap();
        assert!(!rules.rules().is_empty(), "the reconcile created the rule");
        let metrics = reqwest::get(format!("{}/metrics", daemon.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains(&format!(
            r#"findings_bridge_drift{{account="{ACCOUNT}",region="{REGION}"}}"#
        )));

        // A broken change: refused, shown, the old config keeps running; status exits 1.
        let good = status["config"]["hash"].clone();
        std::fs::write(&config, "version: 2\nname: ops\n").unwrap();
        daemon.signal("HUP").unwrap();
        until(&daemon, "the broken change is refused", |s| {
            s["last_config_error"].is_object()
        })
        .await;
        let status = status_json(&daemon).await;
        assert_eq!(status["config"]["hash"], good);
        let out = status_command(&daemon.base_url);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("refused configuration change"), "{text}");

        // SIGTERM: clean exit 0; then status cannot reach it → exit 1.
        let exit = daemon.terminate(Duration::from_secs(25)).unwrap();
        assert!(exit.success(), "{exit:?}\n{}", daemon.log());
        let out = status_command(&daemon.base_url);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be reached"));
    });
}
