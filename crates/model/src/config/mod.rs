//! The desired-state file, version 1 (DESIGN §4).
//!
//! [`types`] is the typed value the rest of the program uses. Loading (YAML → checked value,
//! every error with key path and line) is added beside it.

pub mod types;

pub use types::*;
