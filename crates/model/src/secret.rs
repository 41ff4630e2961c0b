//! Secret references (`env:NAME`, `file:PATH`) and a holder that never prints its value.
//!
//! The desired-state file never holds a secret literal, only a reference, resolved when it is
//! used so that a rotated value is picked up by the next use.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a secret lives. Serializes as the reference text, never as the value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    /// `env:NAME`: the value of an environment variable.
    Env(String),
    /// `file:PATH`: the contents of a file, with one trailing newline removed.
    File(PathBuf),
}

/// Why a text is not a secret reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefParseError {
    #[error("a secret must be a reference `env:NAME` or `file:PATH`, not a literal value")]
    Literal,
    #[error("`env:` must be followed by a variable name of letters, digits and `_`")]
    BadEnvName,
    #[error("`file:` must be followed by a path")]
    EmptyPath,
}

/// Why a reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretResolveError {
    #[error("environment variable {name} (from secret reference env:{name}) is not set")]
    EnvMissing { name: String },
    #[error("environment variable {name} (from secret reference env:{name}) is empty")]
    EnvEmpty { name: String },
    #[error("cannot read secret file {path} (from secret reference file:{path})")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {path} is empty")]
    FileEmpty { path: String },
}

impl SecretRef {
    /// Parses `env:NAME` or `file:PATH`; anything else is a literal and refused.
    pub fn parse(text: &str) -> Result<Self, SecretRefParseError> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(SecretRefParseError::BadEnvName);
            }
            return Ok(SecretRef::Env(name.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.trim().is_empty() {
                return Err(SecretRefParseError::EmptyPath);
            }
            return Ok(SecretRef::File(PathBuf::from(path)));
        }
        Err(SecretRefParseError::Literal)
    }

    /// Reads the value now. The error names the variable or file, never a value.
    pub fn resolve(&self) -> Result<Secret, SecretResolveError> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if v.is_empty() => Err(SecretResolveError::EnvEmpty { name: name.clone() }),
                Ok(v) => Ok(Secret::new(v)),
                Err(_) => Err(SecretResolveError::EnvMissing { name: name.clone() }),
            },
            SecretRef::File(path) => {
                let shown = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|source| SecretResolveError::File {
                        path: shown.clone(),
                        source,
                    })?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                if value.is_empty() {
                    return Err(SecretResolveError::FileEmpty { path: shown });
                }
                Ok(Secret::new(value.to_owned()))
            }
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SecretRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A resolved secret value. `Debug` and `Display` print `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one call that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// HMAC-SHA256 of a secret under a key kept in the store, hex encoded. Lets the planner notice
/// that a connection's secret changed without the secret ever being stored.
pub fn fingerprint(key: &[u8], secret: &Secret) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(secret.expose().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_refuses_literals() {
        assert_eq!(
            SecretRef::parse("env:FB_KEY"),
            Ok(SecretRef::Env("FB_KEY".into()))
        );
        assert_eq!(
            SecretRef::parse("file:/run/secrets/k"),
            Ok(SecretRef::File("/run/secrets/k".into()))
        );
        assert_eq!(
            SecretRef::parse("abc123"),
            Err(SecretRefParseError::Literal)
        );
        assert_eq!(
            SecretRef::parse("env:"),
            Err(SecretRefParseError::BadEnvName)
        );
        assert_eq!(
            SecretRef::parse("env:A-B"),
            Err(SecretRefParseError::BadEnvName)
        );
        assert_eq!(
            SecretRef::parse("file: "),
            Err(SecretRefParseError::EmptyPath)
        );
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = SecretRef::Env("FB_SURELY_UNSET_42".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("FB_SURELY_UNSET_42"), "{err}");
    }

    #[test]
    fn file_reference_strips_one_newline_and_debug_hides_value() {
        let dir = std::env::temp_dir().join(format!("fb-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let secret = SecretRef::File(path.clone()).resolve().unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(****) ****");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn fingerprint_depends_on_key_and_value() {
        let a = fingerprint(b"k1", &Secret::new("v"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint(b"k2", &Secret::new("v")));
        assert_ne!(a, fingerprint(b"k1", &Secret::new("w")));
        assert_eq!(a, fingerprint(b"k1", &Secret::new("v")));
    }
}
