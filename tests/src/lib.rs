//! Harness for the end-to-end tests: starts moto (with the Security Hub additions), the Backlog
//! sandbox and the real `findings-bridge` binary on 127.0.0.1 ports, and stops them on drop.
//!
//! Binaries come from `$FB_TEST_BIN_DIR` (set by `scripts/test.sh`), else `target/debug`.
//! Python comes from `$FB_TEST_PYTHON`, else `.venv/bin/python` at the workspace root.

pub mod daemon;
pub mod moto;
pub mod sandbox;
pub mod scenario;

use std::path::PathBuf;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a workspace binary built by `cargo build --bins`.
pub fn bin_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("FB_TEST_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("debug"));
    dir.join(name)
}

/// The Python interpreter that has the pinned moto.
pub fn python_path() -> PathBuf {
    std::env::var_os("FB_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv").join("bin").join("python"))
}

/// A free TCP port on 127.0.0.1 (bound then released; good enough for child servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}
