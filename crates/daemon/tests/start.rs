//! Start-up refusals: a broken config and a store another process holds stop the daemon
//! before it serves, with errors that say what to fix.

mod support;

use std::sync::Arc;

use fb_daemon::backend::chain;
use support::{config_yaml, FakeBackend, FakeControl, Secrets};

async fn serve(config: &std::path::Path) -> Result<(), fb_daemon::RunError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fb_daemon::serve(
        config,
        listener,
        std::future::pending(),
        Arc::new(FakeBackend(Arc::new(FakeControl::default()))),
        fb_daemon::Options {
            watch_config: false,
            ..fb_daemon::Options::default()
        },
    )
    .await
}

#[tokio::test]
async fn a_broken_config_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.yaml");
    let secrets = Secrets::new();
    let text = config_yaml(&secrets, "http://127.0.0.1:9", &dir.path().join("store"))
        .replace("version: 1", "version: 3")
        .replace("name: test", "name: Not_Valid");
    std::fs::write(&path, text).unwrap();
    let err = serve(&path).await.unwrap_err();
    assert!(matches!(err, fb_daemon::RunError::Config(_)), "{err:?}");
    let text = chain(&err);
    assert!(text.contains("version"), "{text}");
    assert!(text.contains("Not_Valid"), "{text}");
    assert!(!dir.path().join("store").exists(), "nothing was created");
}

#[tokio::test]
async fn a_missing_secret_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.yaml");
    let secrets = Secrets::new();
    std::env::remove_var(&secrets.ingest_var);
    std::fs::write(
        &path,
        config_yaml(&secrets, "http://127.0.0.1:9", &dir.path().join("store")),
    )
    .unwrap();
    let text = chain(&serve(&path).await.unwrap_err());
    assert!(text.contains("relay.api_key"), "{text}");
    assert!(text.contains(&secrets.ingest_var), "{text}");
}

#[tokio::test]
async fn a_store_held_by_another_daemon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store");
    let path = dir.path().join("f.yaml");
    let secrets = Secrets::new();
    std::fs::write(
        &path,
        config_yaml(&secrets, "http://127.0.0.1:9", &store_path),
    )
    .unwrap();
    let _held = fb_store::Store::open(&store_path).unwrap();
    let err = serve(&path).await.unwrap_err();
    assert!(matches!(err, fb_daemon::RunError::Store(_)), "{err:?}");
    assert!(chain(&err).contains("in use"), "{}", chain(&err));
}
