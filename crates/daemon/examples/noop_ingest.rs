//! Benchmark ceiling, not a test: an axum server whose `POST /v1/events` reads the body and
//! answers 202 with the daemon's JSON, doing nothing else (no auth, no parsing, no store).
//!
//! `scripts/bench-intake.sh` runs the same load generator against it and against the real
//! daemon, so the gap between the two is what the daemon's own work costs on this machine.
//! It binds `127.0.0.1:0` (or the address given as the first argument) and prints
//! `listening on ADDR` like `findings-bridge run`.
//!
//! Must not: grow features; a ceiling that does work is no longer a ceiling.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

async fn accept(body: Bytes) -> (StatusCode, Json<Value>) {
    // Reading the body is part of the ceiling: the daemon must read it too.
    let _ = body.len();
    (StatusCode::ACCEPTED, Json(json!({ "result": "accepted" })))
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    // The same runtime shape as `findings-bridge run` (multi-thread, one worker per core).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening on {}", listener.local_addr()?);
        let app = Router::new()
            .route("/v1/events", post(accept))
            .layer(DefaultBodyLimit::max(fb_daemon::http::BODY_LIMIT));
        axum::serve(listener, app).await
    })
}
