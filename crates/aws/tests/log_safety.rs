//! At TRACE for every crate (no [`fb_aws::LOG_SAFETY_DIRECTIVES`]), creating and updating a
//! connection — whose request bodies carry the secret — logs nothing that contains it, while
//! the SDK's and our own records are there. Should an SDK upgrade start printing request
//! bodies, this fails and the directives become required.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fb_aws::executor::execute;
use fb_aws::Sessions;
use fb_e2e::moto::Moto;
use fb_model::config::types::RoleTarget;
use fb_model::plan::{AccountPlan, Action, DesiredResource, Op, Plan, RegionPlan, ResourceKind};
use fb_model::resources::{ConnectionAuth, ConnectionSpec};
use fb_model::secret::{Secret, SecretRef, SecretResolveError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

const SECRET: &str = "relay-ingest-key-7c1f0d";

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

fn resolve(_: &SecretRef) -> Result<Secret, SecretResolveError> {
    Ok(Secret::new(SECRET))
}

#[tokio::test]
async fn trace_logs_of_a_connection_write_hold_no_secret() {
    let moto = Moto::start().expect("moto starts (run ./scripts/test.sh once for .venv)");
    moto.create_execution_role("111111111111", "Exec")
        .await
        .unwrap();

    let filter = EnvFilter::new("trace");
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(capture.clone())
        .finish();
    // The test runtime is single-threaded, so this thread's default sees every record.
    let _guard = tracing::subscriber::set_default(subscriber);

    let sessions = Sessions::new(
        moto.base_config("us-east-1"),
        RoleTarget::Name("Exec".into()),
        None,
    );
    let spec = ConnectionSpec {
        name: "fb-log-gd-conn".into(),
        description: "relay".into(),
        auth: ConnectionAuth::RelayApiKey {
            header: "X-Api-Key".into(),
            key: SecretRef::Env("FB_INGEST_KEY".into()),
        },
        secret_fingerprint: None,
    };
    let action = |op| Action {
        op,
        kind: ResourceKind::Connection,
        name: spec.name.clone(),
        changes: vec![],
        desired: Some(DesiredResource::Connection(spec.clone())),
        existing_arn: None,
    };
    let plan = |op| Plan {
        prefix: "fb-log".into(),
        accounts: vec![AccountPlan {
            account: "111111111111".into(),
            role_actions: vec![],
            regions: vec![RegionPlan {
                region: "us-east-1".into(),
                actions: vec![action(op)],
                error: None,
            }],
            error: None,
        }],
    };
    for op in [Op::Create, Op::Update] {
        let report = execute(&sessions, &plan(op), &resolve, 1).await;
        assert!(!report.failed(), "{report:?}");
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("fb-log-gd-conn"), "our records are captured");
    assert!(
        logs.contains("aws_smithy"),
        "the SDK's records are captured"
    );
    assert!(!logs.contains(SECRET), "a secret reached the logs");
}
