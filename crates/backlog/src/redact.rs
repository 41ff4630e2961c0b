//! Redaction of `apiKey=…` in any URL or text before it is logged or shown.
//!
//! Must not: be the only protection — the client never logs URLs with queries in the first place.

/// Replaces the value of every `apiKey=` parameter with `****`.
pub fn redact_api_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("apiKey=") {
        let (head, tail) = rest.split_at(pos + "apiKey=".len());
        out.push_str(head);
        out.push_str("****");
        let end = tail.find(['&', '#', ' ', '"', '\'']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_api_key;

    #[test]
    fn replaces_every_key_value() {
        assert_eq!(
            redact_api_key("GET http://h/api/v2/issues?count=1&apiKey=s3cr3t&x=1 and apiKey=k2"),
            "GET http://h/api/v2/issues?count=1&apiKey=****&x=1 and apiKey=****"
        );
        assert_eq!(redact_api_key("no key"), "no key");
    }
}
