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

/// Masks the last path segment of a webhook URL (where the receiver's token lives) and any
/// query, for Debug output and status views: `https://h/v1/backlog/webhook/****`.
pub fn mask_hook_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    let host_start = without_query.find("://").map_or(0, |i| i + 3);
    let Some(path_start) = without_query[host_start..]
        .find('/')
        .map(|i| i + host_start)
    else {
        return without_query.to_owned();
    };
    match without_query[path_start..].rsplit_once('/') {
        Some((dir, tail)) if !tail.is_empty() => {
            format!("{}{dir}/****", &without_query[..path_start])
        }
        _ => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{mask_hook_url, redact_api_key};

    #[test]
    fn hook_urls_lose_their_token() {
        assert_eq!(
            mask_hook_url("https://b.example/v1/backlog/webhook/t0k3n"),
            "https://b.example/v1/backlog/webhook/****"
        );
        assert_eq!(
            mask_hook_url("https://b.example/hook?token=x"),
            "https://b.example/****"
        );
        assert_eq!(mask_hook_url("https://b.example"), "https://b.example");
    }

    #[test]
    fn replaces_every_key_value() {
        assert_eq!(
            redact_api_key("GET http://h/api/v2/issues?count=1&apiKey=s3cr3t&x=1 and apiKey=k2"),
            "GET http://h/api/v2/issues?count=1&apiKey=****&x=1 and apiKey=****"
        );
        assert_eq!(redact_api_key("no key"), "no key");
    }
}
