//! Certificate reload without a restart: an SSL or SASL_SSL listener's rustls server
//! config, rebuilt when the PEM files it was read from change on disk, or when its
//! `listener.name.<l>.ssl.*` keys change through AlterConfigs /
//! IncrementalAlterConfigs (dynamic broker configs, Kafka's `DynamicListenerConfig`).
//! New connections take the config current at their accept; open connections keep the
//! one they shook hands with, as in Kafka.
//!
//! Owns the comparison (file bytes and effective key values) and the swap; the server
//! owns the periodic check. A change that does not build (a half-written file, a key
//! that does not fit its certificate) keeps the old config and is logged once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::ServerConfig;

use super::tls::{ListenerProps, server_config};
use crate::config::ConfigError;

/// The keys whose value or file decides a listener's server config.
const SSL_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.principal.mapping.rules",
];

/// The keys naming files to watch.
const FILE_KEYS: &[&str] = &["ssl.keystore.location", "ssl.truststore.location"];

/// What a server config was built from: the effective SSL key values and the bytes of
/// the files they name (unreadable files as `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    keys: BTreeMap<String, String>,
    files: BTreeMap<String, Option<Vec<u8>>>,
}

fn inputs(props: &BTreeMap<String, String>, listener: &str) -> Inputs {
    let p = ListenerProps::new(props, listener);
    let keys: BTreeMap<String, String> = SSL_KEYS
        .iter()
        .filter_map(|k| p.get(k).map(|(_, v)| ((*k).to_string(), v.to_string())))
        .collect();
    let files = FILE_KEYS
        .iter()
        .filter_map(|k| keys.get(*k))
        .map(|path| (path.clone(), std::fs::read(path).ok()))
        .collect();
    Inputs { keys, files }
}

/// One TLS listener's current server config.
#[derive(Debug)]
pub struct ReloadableTls {
    listener: String,
    current: RwLock<Arc<ServerConfig>>,
    /// What `current` was built from.
    built_from: Mutex<Inputs>,
    /// The last inputs that failed to build, so a bad file is logged once, not at
    /// every check.
    failed: Mutex<Option<Inputs>>,
}

/// What a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The inputs changed but do not build; the old config stays.
    Refused(String),
}

impl ReloadableTls {
    /// Listener `listener`'s config from `props`; refused as [`server_config`] is.
    pub fn new(props: &BTreeMap<String, String>, listener: &str) -> Result<Self, ConfigError> {
        let built_from = inputs(props, listener);
        let config = server_config(props, listener)?;
        Ok(Self {
            listener: listener.to_string(),
            current: RwLock::new(config),
            built_from: Mutex::new(built_from),
            failed: Mutex::new(None),
        })
    }

    /// The config a new connection shakes hands with.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Rebuilds the config when `props` (static keys overlaid with dynamic ones) or the
    /// files they name differ from what the current config was built from.
    pub fn check(&self, props: &BTreeMap<String, String>) -> Reload {
        let now = inputs(props, &self.listener);
        let mut built_from = self
            .built_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *built_from == now {
            return Reload::Unchanged;
        }
        match server_config(props, &self.listener) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
                *built_from = now;
                *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = None;
                tracing::info!(listener = %self.listener, "reloaded the listener's SSL keystore and truststore");
                Reload::Reloaded
            }
            Err(e) => {
                let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                if failed.as_ref() != Some(&now) {
                    tracing::warn!(listener = %self.listener, error = %e, "changed SSL config does not load; keeping the current one");
                    *failed = Some(now);
                }
                Reload::Refused(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tls::tests::certs;

    #[test]
    fn a_rotated_keystore_file_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, other) = (
            certs::TestCa::new("First CA"),
            certs::TestCa::new("Second CA"),
        );
        let path = certs::write(dir.path(), "ks.pem", &ca.server().keystore());
        let props: BTreeMap<String, String> = [
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", path.to_str().unwrap()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let tls = ReloadableTls::new(&props, "SSL").unwrap();
        let first = tls.current();
        assert_eq!(tls.check(&props), Reload::Unchanged);
        assert!(Arc::ptr_eq(&first, &tls.current()));
        // Half a file (a rotation caught mid-write): the old config stays.
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(matches!(tls.check(&props), Reload::Refused(_)));
        assert!(Arc::ptr_eq(&first, &tls.current()));
        std::fs::write(&path, other.server().keystore()).unwrap();
        assert_eq!(tls.check(&props), Reload::Reloaded);
        assert!(!Arc::ptr_eq(&first, &tls.current()));
        // A dynamic key change (AlterConfigs) reloads too.
        let mut dynamic = props.clone();
        dynamic.insert(
            "listener.name.ssl.ssl.enabled.protocols".into(),
            "TLSv1.3".into(),
        );
        assert_eq!(tls.check(&dynamic), Reload::Reloaded);
        assert_eq!(tls.check(&dynamic), Reload::Unchanged);
    }
}
