//! `fb-daemon`: the long-running process (axum server, schedules, reload, health, metrics) and
//! the reconcile orchestration shared by `plan`/`apply` and the scheduled reconcile.

pub mod reconcile;
pub mod schedule;
