//! `fb-daemon`: the long-running process: axum server, schedules, reload, health, metrics.
