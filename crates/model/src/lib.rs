//! `fb-model`: the values findings-bridge reasons about, with no IO.
//!
//! - [`config`]: the desired-state file (version 1): parsed, validated (every error at once, with
//!   key path and line) and turned into a typed [`config::Config`].
//! - [`template`]: the `<Var>` issue templates: rendering for relay mode, compilation to an
//!   EventBridge input transformer for direct mode.
//! - [`compile`]: a `Config` → [`resources::DesiredState`], the EventBridge/IAM resources each
//!   account × region must hold.
//! - [`resources`] and [`plan`]: desired and observed resources, and the plan between them.
//! - [`finding`]: ASFF, OCSF and raw GuardDuty events → one [`finding::Finding`].
//! - [`secret`]: `env:NAME` / `file:PATH` references and a redacting secret holder.
//!
//! Must not: talk to a network, a store or a clock. The one exception is
//! [`secret::SecretRef::resolve`], which reads an environment variable or a file at use.

pub mod compile;
pub mod config;
pub mod finding;
pub mod pattern;
pub mod plan;
pub mod regions;
pub mod resources;
pub mod schema;
pub mod secret;
pub mod template;
