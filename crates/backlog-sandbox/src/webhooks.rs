//! Webhook delivery: POST the activity JSON to each matching hook, in the background, once.
//!
//! Mirrors what Backlog documents (same object as the activities API, `User-Agent: Backlog
//! Webhook`, JSON body). Retries and time-outs of real Backlog are UNVERIFIED; the sandbox tries
//! once with a 10 s limit. Must not: block the API answer on delivery.

use reqwest::header::{CONTENT_TYPE, USER_AGENT};

use crate::state::Delivery;
use crate::App;

/// Spawns one delivery task per (url, activity).
pub fn deliver(app: &App, deliveries: Vec<Delivery>) {
    for (url, activity) in deliveries {
        let http = app.http.clone();
        tokio::spawn(async move {
            let result = http
                .post(&url)
                .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                .header(USER_AGENT, "Backlog Webhook")
                .body(activity.to_string())
                .send()
                .await;
            match result {
                Ok(r) => {
                    tracing::debug!(status = r.status().as_u16(), activity = %activity["id"], "webhook delivered")
                }
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), activity = %activity["id"], "webhook delivery failed")
                }
            }
        });
    }
}
