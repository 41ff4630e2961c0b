//! The desired-state file, version 1 (DESIGN §4).
//!
//! [`types`] is the typed value the rest of the program uses; [`load`] / [`parse_str`] turn YAML
//! into it, checking everything offline and reporting every problem at once with its key path,
//! line and column ([`ConfigErrors`]).
//!
//! Must not: resolve secrets (they stay references until used), discover accounts, or call any
//! service. Reading the one file named by the caller is its only IO.

mod accounts;
mod checks;
mod error;
mod load;
mod rule;
mod sections;
pub mod types;
mod walk;

pub use checks::MAX_RESOURCE_NAME_LEN;
pub use error::{ConfigError, ConfigErrors, HIDDEN_VALUE};
pub use load::*;
pub use types::*;
