//! Problems found in a desired-state file, each with its key path and position.
//!
//! Must not: carry a secret. A literal secret is reported with [`HIDDEN_VALUE`] in place of the
//! value, so errors can be printed, logged and shown in CI output as they are.

use std::fmt;

/// What an error shows instead of a literal secret.
pub const HIDDEN_VALUE: &str = "(literal value hidden)";

/// One problem in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path, e.g. `rules[1].match.severity_labels[0]`; empty for the whole file.
    pub path: String,
    /// 1-based; 0 when the problem has no position (the file could not be read).
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// The offending value as written (never a secret: see [`HIDDEN_VALUE`]).
    pub value: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `LINE:COL: PATH: MESSAGE "VALUE"` (the file name is added by [`ConfigErrors`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        match &self.value {
            Some(v) if v == HIDDEN_VALUE => write!(f, " {v}"),
            Some(v) => write!(f, " {v:?}"),
            None => Ok(()),
        }
    }
}

/// Every problem found in one file, in file order. Displays one per line as
/// `FILE:LINE:COL: PATH: MESSAGE "VALUE"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file name as given by the caller.
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The errors whose path is exactly `path`.
    pub fn at(&self, path: &str) -> Vec<&ConfigError> {
        self.errors.iter().filter(|e| e.path == path).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let sep = if error.line > 0 { ":" } else { ": " };
            write!(f, "{}{sep}{error}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
