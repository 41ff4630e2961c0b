//! Last-line defence against secrets in logs: every secret value the daemon resolves is
//! registered here, and the log writer ([`scrub`]) replaces registered values and any
//! `apiKey=` query value with `****` before a line leaves the process.
//!
//! Must not: be the only protection — the code never logs secrets in the first place (and
//! tests check the raw output); this catches what a dependency might print.

use std::sync::RwLock;

use fb_model::secret::Secret;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter values are not registered: replacing them would garble ordinary text.
const MIN_LEN: usize = 6;

/// Remembers `secret` so [`scrub`] hides it from now on.
pub fn register(secret: &Secret) {
    let value = secret.expose();
    if value.len() < MIN_LEN {
        return;
    }
    let mut list = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|s| s == value) {
        list.push(value.to_owned());
        // Longest first, so a secret containing another is replaced whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret and every `apiKey=` value replaced by `****`.
pub fn scrub(text: &str) -> String {
    let mut out = fb_backlog::redact_api_key(text);
    let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "****");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_api_keys_are_hidden() {
        register(&Secret::new("ingest-Zx81-registered"));
        register(&Secret::new("short"));
        let line = "key=ingest-Zx81-registered url=https://x.backlog.jp/api/v2/issues?apiKey=abc&count=1 short";
        assert_eq!(
            scrub(line),
            "key=**** url=https://x.backlog.jp/api/v2/issues?apiKey=****&count=1 short"
        );
    }
}
