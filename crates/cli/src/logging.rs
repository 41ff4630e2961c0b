//! Log setup for every command: `tracing` events on stderr, human-readable or JSON lines
//! (`--log-format`), levels from `RUST_LOG` (default `info`).
//!
//! Every line passes through [`fb_daemon::redact::scrub`] before it is written, which hides the
//! secrets the daemon resolved and any `apiKey=` value — a last line of defence; the code
//! itself never logs a secret. Must not: write to stdout (command output goes there).

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Installs the global subscriber. Call once, first thing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, not in files and journals.
        .with_ansi(io::stderr().is_terminal())
        .with_writer(ScrubbedStderr);
    // A second init (tests calling main twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Makes [`ScrubbingWriter`]s over stderr.
#[derive(Clone, Copy, Debug)]
struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbingWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter::new(io::stderr())
    }
}

/// Collects one event's bytes and writes them scrubbed when dropped or flushed.
#[derive(Debug)]
pub struct ScrubbingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> ScrubbingWriter<W> {
    pub fn new(inner: W) -> Self {
        ScrubbingWriter {
            inner,
            buf: Vec::new(),
        }
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = fb_daemon::redact::scrub(&text);
        self.buf.clear();
        self.inner.write_all(clean.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fb_model::secret::Secret;

    #[test]
    fn lines_are_scrubbed_before_they_are_written() {
        fb_daemon::redact::register(&Secret::new("webhook-token-Qq01"));
        let mut out = Vec::new();
        {
            let mut w = ScrubbingWriter::new(&mut out);
            write!(w, "POST /v1/backlog/webhook/webhook-token-Qq01 ").unwrap();
            writeln!(w, "GET /api/v2/issues?apiKey=k3y&count=1").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/backlog/webhook/**** GET /api/v2/issues?apiKey=****&count=1\n"
        );
    }
}
