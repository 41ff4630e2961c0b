//! `backlog-sandbox`: a Backlog API v2 emulator for tests and the local demo.
fn main() {}
