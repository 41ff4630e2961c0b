//! The configuration the daemon runs with: the checked file, its identity (sha256, load time)
//! and the secrets the HTTP layer compares against, resolved once per load.
//!
//! A [`RuntimeCell`] holds the current one; a reload builds a new [`Runtime`] beside it and
//! swaps only when everything checked out, so a broken file never replaces a working one.
//!
//! Must not: print a secret ([`Secret`] hides itself), or keep a half-loaded config.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use fb_model::config::{Config, ConfigErrors, Rule};
use fb_model::finding::{Event, Finding};
use fb_model::secret::{Secret, SecretResolveError};
use sha2::{Digest, Sha256};

/// A loaded, checked configuration.
#[derive(Debug)]
pub struct Runtime {
    pub config: Arc<Config>,
    pub path: PathBuf,
    /// sha256 of the file's bytes, hex.
    pub hash: String,
    pub loaded_at: DateTime<Utc>,
    /// `relay.api_key`, resolved: `/v1/events` compares `X-Api-Key` with it.
    pub ingest_key: Option<Secret>,
    /// `backlog.webhook_token`, resolved: the webhook path must carry it.
    pub webhook_token: Option<Secret>,
}

/// Why a file cannot become the running config.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not UTF-8")]
    NotUtf8 { path: String },
    #[error("the configuration file is invalid:\n{0}")]
    Invalid(#[source] ConfigErrors),
    #[error("{what}: {source}")]
    Secret {
        what: &'static str,
        #[source]
        source: SecretResolveError,
    },
}

impl LoadError {
    /// One line per problem, for status and logs.
    pub fn lines(&self) -> Vec<String> {
        match self {
            LoadError::Invalid(errors) => errors.to_string().lines().map(str::to_owned).collect(),
            other => vec![other.to_string()],
        }
    }
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// Reads, hashes, validates the file and resolves the secrets the daemon compares with.
    pub fn load(path: &Path) -> Result<Runtime, (LoadError, Option<String>)> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| {
            (
                LoadError::Read {
                    path: shown.clone(),
                    source,
                },
                None,
            )
        })?;
        let hash = sha256_hex(&bytes);
        let fail = |e: LoadError| (e, Some(hash.clone()));
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            fail(LoadError::NotUtf8 {
                path: shown.clone(),
            })
        })?;
        let config =
            fb_model::config::parse_str(text, &shown).map_err(|e| fail(LoadError::Invalid(e)))?;
        let ingest_key = match &config.relay {
            Some(relay) => Some(relay.api_key.resolve().map_err(|source| {
                fail(LoadError::Secret {
                    what: "relay.api_key",
                    source,
                })
            })?),
            None => None,
        };
        let webhook_token = match &config.backlog.webhook_token {
            Some(token) => Some(token.resolve().map_err(|source| {
                fail(LoadError::Secret {
                    what: "backlog.webhook_token",
                    source,
                })
            })?),
            None => None,
        };
        // Register every secret this config names with the log scrubber, the Backlog key
        // too (the engine resolves it again at use; a missing one is reported there).
        for secret in ingest_key.iter().chain(webhook_token.iter()) {
            crate::redact::register(secret);
        }
        if let Ok(key) = config.backlog.api_key.resolve() {
            crate::redact::register(&key);
        }
        Ok(Runtime {
            config: Arc::new(config),
            path: path.to_path_buf(),
            hash,
            loaded_at: Utc::now(),
            ingest_key,
            webhook_token,
        })
    }

    /// The enabled relay rule the event belongs to, if any — decided exactly as the pipeline
    /// decides it ([`fb_sync::matching_rule`]), so what intake stores the pipeline handles.
    pub fn relay_rule_for(&self, event: &Event) -> Option<&Rule> {
        fb_sync::matching_rule(&self.config, event)
    }
}

/// Keys of the findings an event carries.
pub fn finding_keys(event: &Event) -> impl Iterator<Item = &str> {
    event.findings.iter().map(|f: &Finding| f.key.as_str())
}

/// The current runtime, swapped whole on reload.
#[derive(Debug, Clone)]
pub struct RuntimeCell(Arc<RwLock<Arc<Runtime>>>);

impl RuntimeCell {
    pub fn new(runtime: Runtime) -> Self {
        RuntimeCell(Arc::new(RwLock::new(Arc::new(runtime))))
    }

    pub fn current(&self) -> Arc<Runtime> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, runtime: Arc<Runtime>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = runtime;
    }
}
