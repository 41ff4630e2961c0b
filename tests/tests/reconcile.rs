//! End to end: the real `findings-bridge plan` / `apply` against moto (issue 2, "How it is
//! tested"): three accounts × two regions through assume-role; apply → no-op plan; drift made
//! by hand is found and corrected; a secret rotation is re-pushed; a rule removed from the file
//! is deleted; unmanaged resources survive; an unassumable account is reported while the
//! others are applied; apply refuses without a terminal; a bad file changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use aws_sdk_eventbridge::types::{ConnectionAuthorizationType, InputTransformer, Target};
use fb_e2e::moto::{block_on, Moto};

const ROLE: &str = "FindingsBridgeExecution";
const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["ap-northeast-1", "us-east-1"];
const NAME: &str = "e2e";
const RELAY_URL: &str = "https://bridge.example.test";

/// A rule block of the desired-state file (relay delivery), shaped like examples/demo.yaml.
fn relay_rule(name: &str, product: &str, rate: u32) -> String {
    format!(
        r#"  - name: {name}
    match:
      product_names: [{product}]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
      record_states: [ACTIVE]
      workflow_statuses: [NEW]
    rate_limit_per_second: {rate}
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\n<Description>\n\nSeverity: <Severity>\n<SourceUrl>"
"#
    )
}

/// A direct-delivery rule (the seed's setup): EventBridge posts to Backlog itself, one rule
/// per priority the severities map to.
fn direct_rule(name: &str) -> String {
    format!(
        r#"  - name: {name}
    delivery: direct
    match:
      product_names: [GuardDuty]
      severity_labels: [LOW, MEDIUM, HIGH, CRITICAL]
    issue:
      summary: "<FindingType> found at AWS account <AwsAccountId>"
      description: "<Title>\n\nSeverity: <Severity>\n<SourceUrl>"
"#
    )
}

/// One test's world: moto, a temp dir with the file and the store, the binary's environment.
struct World {
    moto: Moto,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    /// `backlog.base_url` of the file (the sandbox's, for direct rules).
    backlog_url: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl World {
    fn new() -> World {
        let moto = Moto::start().expect("start moto");
        let mut env: BTreeMap<String, String> = moto.env("us-east-1").into_iter().collect();
        env.insert("FB_INGEST_KEY".into(), "ingest-key-1".into());
        env.insert("BACKLOG_API_KEY".into(), "unused-in-relay-mode".into());
        World {
            moto,
            dir: tempfile::tempdir().expect("tempdir"),
            env,
            // Nothing listens there: relay-only files must not call Backlog.
            backlog_url: "http://127.0.0.1:9".into(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("findings-bridge.yaml")
    }

    /// Writes the desired-state file for `accounts` with these rule blocks.
    fn write_config(&self, accounts: &[&str], rules: &[String]) {
        let ids: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
        self.write_config_for(&format!("ids: [{}]", ids.join(", ")), accounts[0], rules);
    }

    /// Writes the file with this `accounts` source line (`ids: […]` or `organization: {…}`).
    fn write_config_for(&self, source: &str, hub: &str, rules: &[String]) {
        let text = format!(
            r#"version: 1
name: {NAME}
accounts:
  {source}
  role: {ROLE}
  regions: [{regions}]
security_hub:
  account: "{hub}"
  region: ap-northeast-1
backlog:
  base_url: {backlog_url}
  api_key: env:BACKLOG_API_KEY
  project: SEC
  issue_type: Task
  priority: {{CRITICAL: High, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: Low}}
relay:
  public_url: {RELAY_URL}
  api_key: env:FB_INGEST_KEY
rules:
{rules}server:
  listen: "127.0.0.1:0"
store:
  path: {store}
"#,
            regions = REGIONS.join(", "),
            rules = rules.concat(),
            store = self.dir.path().join("store").display(),
            backlog_url = self.backlog_url,
        );
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Runs `findings-bridge -c FILE ARGS…` with stdin not a terminal.
    fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(fb_e2e::bin_path("findings-bridge"))
            .arg("-c")
            .arg(self.config_path())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .output()
            .expect("run findings-bridge (cargo build --bins first)");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `findings-bridge -c FILE ARGS…` on a pseudo-terminal (util-linux `script`), typing
    /// `input`.
    fn run_on_terminal(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let command = format!(
            "{} -c {} {}",
            fb_e2e::bin_path("findings-bridge").display(),
            self.config_path().display(),
            args.join(" ")
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run util-linux script");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("type the answer");
        let out = child.wait_with_output().expect("wait for script");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn create_roles(&self, accounts: &[&str]) {
        for account in accounts {
            self.moto
                .create_execution_role(account, ROLE)
                .await
                .expect("create execution role");
        }
    }

    async fn events(&self, account: &str, region: &str) -> aws_sdk_eventbridge::Client {
        self.moto
            .eventbridge(account, region)
            .await
            .expect("eventbridge client")
    }

    /// Names of rules, connections and destinations in one place, sorted.
    async fn names(&self, account: &str, region: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let eb = self.events(account, region).await;
        let mut rules: Vec<String> = eb
            .list_rules()
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .filter_map(|r| r.name.clone())
            .collect();
        let mut conns: Vec<String> = eb
            .list_connections()
            .send()
            .await
            .unwrap()
            .connections()
            .iter()
            .filter_map(|c| c.name.clone())
            .collect();
        let mut dests: Vec<String> = eb
            .list_api_destinations()
            .send()
            .await
            .unwrap()
            .api_destinations()
            .iter()
            .filter_map(|d| d.name.clone())
            .collect();
        rules.sort();
        conns.sort();
        dests.sort();
        (rules, conns, dests)
    }
}

fn rule(name: &str) -> String {
    format!("fb-{NAME}-{name}")
}
/// The lifecycle rule every relay `match` rule gets (`fb_model::compile::lifecycle_pattern`).
fn lifecycle_rule(name: &str) -> String {
    format!("fb-{NAME}-{name}-{}", fb_model::compile::LIFECYCLE_SUFFIX)
}
fn conn(name: &str) -> String {
    format!("fb-{NAME}-{name}-conn")
}
fn dest(name: &str) -> String {
    format!("fb-{NAME}-{name}-dest")
}

/// The unmanaged rule and connection someone made by hand in the first account × region.
async fn create_unmanaged(world: &World) {
    let eb = world.events(ACCOUNTS[0], REGIONS[0]).await;
    eb.put_rule()
        .name("security-team-own-rule")
        .event_pattern(r#"{"source":["aws.guardduty"]}"#)
        .send()
        .await
        .unwrap();
    eb.create_connection()
        .name("security-team-conn")
        .authorization_type(ConnectionAuthorizationType::ApiKey)
        .auth_parameters(
            aws_sdk_eventbridge::types::CreateConnectionAuthRequestParameters::builder()
                .api_key_auth_parameters(
                    aws_sdk_eventbridge::types::CreateConnectionApiKeyAuthRequestParameters::builder()
                        .api_key_name("X-Team")
                        .api_key_value("team-secret")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn assert_unmanaged_survived(world: &World) {
    let (rules, conns, _) = world.names(ACCOUNTS[0], REGIONS[0]).await;
    assert!(
        rules.contains(&"security-team-own-rule".to_owned()),
        "{rules:?}"
    );
    assert!(
        conns.contains(&"security-team-conn".to_owned()),
        "{conns:?}"
    );
}

/// Hand-made drift, one kind per place: rule pattern, destination rate limit, destination
/// endpoint, target input transformer.
async fn make_drift(world: &World) {
    let eb = world.events(ACCOUNTS[1], REGIONS[1]).await;
    eb.put_rule()
        .name(rule("guardduty"))
        .event_pattern(r#"{"source":["aws.securityhub"],"detail-type":["anything"]}"#)
        .send()
        .await
        .unwrap();

    for (account, region, change_rate) in [
        (ACCOUNTS[2], REGIONS[0], true),
        (ACCOUNTS[0], REGIONS[1], false),
    ] {
        let eb = world.events(account, region).await;
        let current = eb
            .describe_api_destination()
            .name(dest("guardduty"))
            .send()
            .await
            .unwrap();
        // moto wipes fields a partial update leaves out: send them all.
        let mut update = eb
            .update_api_destination()
            .name(dest("guardduty"))
            .set_connection_arn(current.connection_arn)
            .set_http_method(current.http_method)
            .set_invocation_endpoint(current.invocation_endpoint)
            .set_invocation_rate_limit_per_second(current.invocation_rate_limit_per_second);
        update = if change_rate {
            update.invocation_rate_limit_per_second(50)
        } else {
            update.invocation_endpoint("https://attacker.example.test/collect")
        };
        update.send().await.unwrap();
    }

    let eb = world.events(ACCOUNTS[2], REGIONS[1]).await;
    let targets = eb
        .list_targets_by_rule()
        .rule(rule("guardduty"))
        .send()
        .await
        .unwrap();
    let target = targets.targets()[0].clone();
    let changed = Target::builder()
        .id(target.id())
        .arn(target.arn())
        .set_role_arn(target.role_arn().map(str::to_owned))
        .input_transformer(
            InputTransformer::builder()
                .input_paths_map("id", "$.detail.findings[0].Id")
                .input_template(r#"{"only": "<id>"}"#)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = eb
        .put_targets()
        .rule(rule("guardduty"))
        .targets(changed)
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);
}

#[test]
fn apply_noop_drift_secret_removal_and_ownership() {
    block_on(|| async {
        let mut world = World::new();
        world.create_roles(&ACCOUNTS).await;
        create_unmanaged(&world).await;
        world.write_config(
            &ACCOUNTS,
            &[
                relay_rule("guardduty", "GuardDuty", 2),
                relay_rule("inspector", "Inspector", 1),
            ],
        );

        // Create everything from nothing.
        let first = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(first.code, 2, "{first:?}");
        assert!(first.stderr.contains("no store"), "{first:?}");
        assert!(
            !world.dir.path().join("store").exists(),
            "plan wrote a store"
        );
        assert!(
            first
                .stdout
                .contains(&format!("+ rule {}", rule("guardduty"))),
            "{first:?}"
        );
        let applied = world.run(&["apply", "--auto-approve"]);
        assert_eq!(applied.code, 0, "{applied:?}");
        assert!(
            applied.stdout.contains('✓') && !applied.stdout.contains('✗'),
            "{applied:?}"
        );
        for account in ACCOUNTS {
            for region in REGIONS {
                let (rules, conns, dests) = world.names(account, region).await;
                for r in ["guardduty", "inspector"] {
                    assert!(rules.contains(&rule(r)), "{account}/{region}: {rules:?}");
                    assert!(
                        rules.contains(&lifecycle_rule(r)),
                        "{account}/{region}: {rules:?}"
                    );
                    assert!(conns.contains(&conn(r)), "{account}/{region}: {conns:?}");
                    assert!(dests.contains(&dest(r)), "{account}/{region}: {dests:?}");
                }
            }
        }
        let noop = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(noop.code, 0, "{noop:?}");
        assert!(noop.stdout.contains("No changes"), "{noop:?}");

        // Drift made by hand is found…
        make_drift(&world).await;
        let drift = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(drift.code, 2, "{drift:?}");
        for expected in [
            format!("~ rule {}", rule("guardduty")),
            "event_pattern".to_owned(),
            "rate_limit_per_second".to_owned(),
            "attacker.example.test".to_owned(),
            format!("~ target {}/", rule("guardduty")),
        ] {
            assert!(
                drift.stdout.contains(&expected),
                "missing {expected:?}: {drift:?}"
            );
        }
        assert!(!drift.stdout.contains("security-team"), "{drift:?}");
        // …and corrected.
        let fixed = world.run(&["apply", "--auto-approve"]);
        assert_eq!(fixed.code, 0, "{fixed:?}");
        let clean = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(clean.code, 0, "{clean:?}");

        // A rotated ingest key is re-pushed to every connection, and never printed.
        world
            .env
            .insert("FB_INGEST_KEY".into(), "ingest-key-2".into());
        let rotated = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(rotated.code, 2, "{rotated:?}");
        assert!(rotated.stdout.contains("secret"), "{rotated:?}");
        assert!(!rotated.stdout.contains("ingest-key-"), "{rotated:?}");
        assert_eq!(world.run(&["apply", "--auto-approve"]).code, 0);
        assert_eq!(world.run(&["plan", "--detailed-exitcode"]).code, 0);

        // A rule removed from the file is deleted with its connection and destination.
        world.write_config(&ACCOUNTS, &[relay_rule("guardduty", "GuardDuty", 2)]);
        let removal = world.run(&["plan", "--detailed-exitcode", "--format", "json"]);
        assert_eq!(removal.code, 2, "{removal:?}");
        let plan: serde_json::Value = serde_json::from_str(&removal.stdout).expect("JSON plan");
        let deletes = plan["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["regions"].as_array().unwrap())
            .flat_map(|r| r["actions"].as_array().unwrap())
            .filter(|a| a["op"] == "delete")
            .count();
        // rule and lifecycle rule, their two targets, destination, connection in 6 places.
        assert_eq!(deletes, 6 * 6, "{removal:?}");
        let removed = world.run(&["apply", "--auto-approve"]);
        assert_eq!(removed.code, 0, "{removed:?}");
        for account in ACCOUNTS {
            for region in REGIONS {
                let (rules, conns, dests) = world.names(account, region).await;
                assert!(!rules.contains(&rule("inspector")), "{rules:?}");
                assert!(!rules.contains(&lifecycle_rule("inspector")), "{rules:?}");
                assert!(!conns.contains(&conn("inspector")), "{conns:?}");
                assert!(!dests.contains(&dest("inspector")), "{dests:?}");
                assert!(rules.contains(&rule("guardduty")), "{rules:?}");
            }
        }
        assert_eq!(world.run(&["plan", "--detailed-exitcode"]).code, 0);
        assert_unmanaged_survived(&world).await;
    });
}

#[test]
fn an_unassumable_account_is_reported_while_the_others_are_applied() {
    block_on(|| async {
        let world = World::new();
        let accounts = [ACCOUNTS[0], ACCOUNTS[1], "444444444444"];
        // No role in 444444444444: AssumeRole is denied there.
        world.create_roles(&accounts[..2]).await;
        world.write_config(&accounts, &[relay_rule("guardduty", "GuardDuty", 2)]);

        let applied = world.run(&["apply", "--auto-approve"]);
        assert_eq!(applied.code, 1, "{applied:?}");
        assert!(applied.stderr.contains("444444444444"), "{applied:?}");
        assert!(applied.stderr.contains("AccessDenied"), "{applied:?}");
        for account in &accounts[..2] {
            for region in REGIONS {
                let (rules, _, _) = world.names(account, region).await;
                assert!(
                    rules.contains(&rule("guardduty")),
                    "{account}/{region}: {rules:?}"
                );
            }
        }
        let plan = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 1, "{plan:?}");
        assert!(plan.stdout.contains("444444444444"), "{plan:?}");
    });
}

#[test]
fn apply_without_a_terminal_or_auto_approve_refuses_and_changes_nothing() {
    block_on(|| async {
        let world = World::new();
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[relay_rule("guardduty", "GuardDuty", 2)]);
        let refused = world.run(&["apply"]);
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains("--auto-approve"), "{refused:?}");
        let (rules, conns, dests) = world.names(ACCOUNTS[0], REGIONS[0]).await;
        assert!(rules.is_empty() && conns.is_empty() && dests.is_empty());
    });
}

#[test]
fn a_bad_file_lists_its_problems_and_changes_nothing() {
    block_on(|| async {
        let world = World::new();
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[relay_rule("guardduty", "GuardDuty", 2)]);
        let text = std::fs::read_to_string(world.config_path()).unwrap();
        let broken = text.replace("regions: [", "regions: [mars-central-1, ") + "surprise: 1\n";
        std::fs::write(world.config_path(), broken).unwrap();
        for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
            let run = world.run(args);
            assert_eq!(run.code, 1, "{run:?}");
            assert!(run.stderr.contains("mars-central-1"), "{run:?}");
            assert!(run.stderr.contains("surprise"), "{run:?}");
        }
        let (rules, _, _) = world.names(ACCOUNTS[0], REGIONS[0]).await;
        assert!(rules.is_empty(), "{rules:?}");
    });
}

#[test]
fn a_missing_secret_is_named_and_nothing_changes() {
    block_on(|| async {
        let mut world = World::new();
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[relay_rule("guardduty", "GuardDuty", 2)]);
        world.env.remove("FB_INGEST_KEY");
        let run = world.run(&["apply", "--auto-approve"]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("FB_INGEST_KEY"), "{run:?}");
        let (rules, _, _) = world.names(ACCOUNTS[0], REGIONS[0]).await;
        assert!(rules.is_empty(), "{rules:?}");
    });
}

#[test]
fn direct_rules_get_backlog_ids_from_the_api_and_converge() {
    block_on(|| async {
        let sandbox = fb_e2e::sandbox::Sandbox::start();
        let mut world = World::new();
        world.backlog_url = sandbox.base_url.clone();
        world
            .env
            .insert("BACKLOG_API_KEY".into(), sandbox.api_key.clone());
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[direct_rule("seed")]);

        let applied = world.run(&["apply", "--auto-approve"]);
        assert_eq!(applied.code, 0, "{applied:?}");
        assert!(!applied.stdout.contains(&sandbox.api_key), "{applied:?}");
        assert!(!applied.stderr.contains(&sandbox.api_key), "{applied:?}");
        let noop = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(noop.code, 0, "{noop:?}");

        // High (CRITICAL, HIGH), Normal (MEDIUM), Low (LOW): one rule per priority, each with
        // an input transformer carrying the ids Backlog gave, posting to /api/v2/issues.
        let eb = world.events(ACCOUNTS[0], REGIONS[0]).await;
        let rules: Vec<String> = eb
            .list_rules()
            .name_prefix(rule("seed"))
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .filter_map(|r| r.name.clone())
            .collect();
        assert_eq!(rules.len(), 3, "{rules:?}");
        let project = sandbox_project_id(&sandbox).await;
        for name in &rules {
            let targets = eb.list_targets_by_rule().rule(name).send().await.unwrap();
            let transformer = targets.targets()[0]
                .input_transformer()
                .expect("direct targets use an input transformer");
            let template = transformer.input_template();
            assert!(
                template.contains(&format!("\"projectId\": {project}"))
                    || template.contains(&format!("\"projectId\":{project}")),
                "{template}"
            );
        }
        let destination = eb
            .describe_api_destination()
            .name(dest("seed"))
            .send()
            .await
            .unwrap();
        let endpoint = destination.invocation_endpoint().unwrap_or_default();
        assert_eq!(endpoint, format!("{}/api/v2/issues", sandbox.base_url));
        assert!(
            !endpoint.contains("apiKey"),
            "the key must not be in the URL"
        );

        // A priority name Backlog does not know is named, and nothing changes.
        let text = std::fs::read_to_string(world.config_path()).unwrap();
        std::fs::write(
            world.config_path(),
            text.replace("MEDIUM: Normal", "MEDIUM: Urgent"),
        )
        .unwrap();
        let wrong = world.run(&["plan"]);
        assert_eq!(wrong.code, 1, "{wrong:?}");
        assert!(wrong.stderr.contains("Urgent"), "{wrong:?}");
    });
}

/// The sandbox project's id, read through the documented API.
async fn sandbox_project_id(sandbox: &fb_e2e::sandbox::Sandbox) -> u64 {
    let url = format!(
        "{}/api/v2/projects/{}",
        sandbox.base_url,
        fb_e2e::sandbox::SANDBOX_PROJECT
    );
    let project: serde_json::Value = reqwest::Client::new()
        .get(url)
        .query(&[("apiKey", sandbox.api_key.as_str())])
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    project["id"].as_u64().expect("project id")
}

#[test]
fn next_to_a_running_daemon_plan_skips_secrets_and_apply_refuses() {
    block_on(|| async {
        let mut world = World::new();
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[relay_rule("guardduty", "GuardDuty", 2)]);
        assert_eq!(world.run(&["apply", "--auto-approve"]).code, 0);

        // The daemon holds the store; the ingest key was rotated meanwhile.
        let held = fb_store::Store::open(&world.dir.path().join("store")).expect("open store");
        world.env.insert("FB_INGEST_KEY".into(), "rotated".into());
        let plan = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 0, "secrets cannot be compared: {plan:?}");
        assert!(plan.stderr.contains("in use"), "{plan:?}");
        let apply = world.run(&["apply", "--auto-approve"]);
        assert_eq!(apply.code, 1, "{apply:?}");
        assert!(apply.stderr.contains("in use"), "{apply:?}");

        // Once it is released, the rotation shows.
        drop(held);
        let plan = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 2, "{plan:?}");
        assert!(plan.stdout.contains("secret"), "{plan:?}");
    });
}

#[test]
fn apply_on_a_terminal_asks_and_only_yes_applies() {
    block_on(|| async {
        let world = World::new();
        world.create_roles(&ACCOUNTS[..1]).await;
        world.write_config(&ACCOUNTS[..1], &[relay_rule("guardduty", "GuardDuty", 2)]);

        let declined = world.run_on_terminal(&["apply"], "y\n");
        assert_eq!(declined.code, 1, "{declined:?}");
        assert!(
            declined
                .stdout
                .contains("Apply these changes? Only 'yes' is accepted:"),
            "{declined:?}"
        );
        assert!(declined.stdout.contains("cancelled"), "{declined:?}");
        let (rules, _, _) = world.names(ACCOUNTS[0], REGIONS[0]).await;
        assert!(rules.is_empty(), "{rules:?}");

        let accepted = world.run_on_terminal(&["apply"], "yes\n");
        assert_eq!(accepted.code, 0, "{accepted:?}");
        let (rules, _, _) = world.names(ACCOUNTS[0], REGIONS[0]).await;
        assert_eq!(rules, [rule("guardduty"), lifecycle_rule("guardduty")]);
    });
}

#[test]
fn organization_accounts_are_discovered_by_ou_minus_exclusions() {
    block_on(|| async {
        let world = World::new();
        // The default account is the management account of a new organization.
        let org = aws_sdk_organizations::Client::new(&world.moto.base_config("us-east-1"));
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
        let root = org.list_roots().send().await.unwrap().roots()[0]
            .id()
            .unwrap()
            .to_owned();
        let ou = org
            .create_organizational_unit()
            .parent_id(&root)
            .name("members")
            .send()
            .await
            .unwrap()
            .organizational_unit()
            .unwrap()
            .id()
            .unwrap()
            .to_owned();
        let mut accounts = Vec::new();
        for name in ["member-a", "member-b", "outside"] {
            let status = org
                .create_account()
                .account_name(name)
                .email(format!("{name}@example.test"))
                .send()
                .await
                .unwrap();
            let id = status
                .create_account_status()
                .unwrap()
                .account_id()
                .unwrap()
                .to_owned();
            if name != "outside" {
                org.move_account()
                    .account_id(&id)
                    .source_parent_id(&root)
                    .destination_parent_id(&ou)
                    .send()
                    .await
                    .unwrap();
            }
            world.create_roles(&[id.as_str()]).await;
            accounts.push(id);
        }
        let (included, excluded, outside) = (&accounts[0], &accounts[1], &accounts[2]);
        world.write_config_for(
            &format!("organization: {{include_ous: [{ou}], exclude_ids: [\"{excluded}\"]}}"),
            included,
            &[relay_rule("guardduty", "GuardDuty", 2)],
        );

        let plan = world.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 2, "{plan:?}");
        assert!(
            plan.stdout.contains(&format!("account {included}")),
            "{plan:?}"
        );
        assert!(!plan.stdout.contains(excluded.as_str()), "{plan:?}");
        assert!(!plan.stdout.contains(outside.as_str()), "{plan:?}");
    });
}
