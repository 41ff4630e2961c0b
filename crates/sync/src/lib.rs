//! `fb-sync`: the finding → issue pipeline and the closure sync, written against traits so it
//! is tested without servers.
//!
//! Must not: depend on a concrete Backlog or AWS client.
