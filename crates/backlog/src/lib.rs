//! `fb-backlog`: a typed client for the documented Backlog API v2.
//!
//! Form-urlencoded writes, `apiKey` query parameter, rate-limit aware, retries with backoff.
//! Must not: print or return the API key in any log line, error or Debug output.
