//! `fb-store`: the embedded sled store: finding ↔ issue mappings, the inbox of accepted events,
//! the outbox, create intents, cursors, schema version, migrations, export/import.
//!
//! Must not: hold a secret (only HMAC fingerprints), or call a network.
