//! This broker's client certificate on its own TLS connections to other nodes (replica
//! fetchers and transaction markers on the inter-broker listener, the controller client
//! and raft traffic on the controller listener), re-read when the keystore file
//! changes, as listeners reload their server certificate (`tls_reload`): a certificate
//! the operator renewed before expiry is shown by the next connection this broker
//! opens, with no restart. The file is compared at each handshake; handshakes are rare
//! (connections persist), so no timer is needed. A file that does not load (caught
//! mid-write, a key that does not fit) keeps the current certificate and is logged
//! once per content.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use super::tls::{ListenerProps, key_mismatch, keystore};
use crate::config::ConfigError;

/// The client certificate of listener `listener`'s keystore, reloaded from its file.
pub(super) struct ReloadingClientCert {
    props: BTreeMap<String, String>,
    listener: String,
    /// `ssl.keystore.location`; `None` for an inline PEM key, which cannot change.
    path: Option<String>,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

struct Current {
    /// The keystore file's bytes last looked at (loaded or refused).
    file: Option<Vec<u8>>,
    key: Arc<CertifiedKey>,
}

impl fmt::Debug for ReloadingClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the props: they hold passwords.
        f.debug_struct("ReloadingClientCert")
            .field("listener", &self.listener)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn certified_key(
    props: &BTreeMap<String, String>,
    listener: &str,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, ConfigError> {
    let (chain, key) = keystore(&ListenerProps::new(props, listener), listener)?;
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|e| key_mismatch(listener, e))
}

impl ReloadingClientCert {
    /// Listener `listener`'s keystore from `props`; refused as the keystore is.
    pub(super) fn new(
        props: &BTreeMap<String, String>,
        listener: &str,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, ConfigError> {
        let path = ListenerProps::new(props, listener)
            .get("ssl.keystore.location")
            .map(|(_, v)| v.to_owned());
        let file = path.as_ref().and_then(|p| std::fs::read(p).ok());
        let key = certified_key(props, listener, &provider)?;
        Ok(Self {
            props: props.clone(),
            listener: listener.to_owned(),
            path,
            provider,
            current: Mutex::new(Current { file, key }),
        })
    }
}

impl ResolvesClientCert for ReloadingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path
            && let Ok(bytes) = std::fs::read(path)
            && current.file.as_deref() != Some(bytes.as_slice())
        {
            match certified_key(&self.props, &self.listener, &self.provider) {
                Ok(key) => {
                    tracing::info!(listener = %self.listener, "reloaded this broker's client certificate for its own connections");
                    current.key = key;
                }
                Err(e) => {
                    tracing::warn!(listener = %self.listener, error = %e, "changed keystore does not load; this broker's connections keep the current client certificate");
                }
            }
            current.file = Some(bytes);
        }
        Some(current.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tls::tests::{certs, props};

    fn shown(resolver: &dyn ResolvesClientCert) -> Vec<u8> {
        resolver.resolve(&[], &[]).unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_renewed_keystore_file_is_shown_by_the_next_connection_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let ca = certs::TestCa::new("Cluster CA");
        let (first, renewed) = (ca.server().keystore(), ca.server().keystore());
        let path = certs::write(dir.path(), "ks.pem", &first);
        let props = props(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", path.to_str().unwrap()),
        ]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = ReloadingClientCert::new(&props, "REPLICATION", provider).unwrap();
        let before = shown(&resolver);
        assert_eq!(shown(&resolver), before);
        // Half a file (a renewal caught mid-write): the current certificate stays.
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert_eq!(shown(&resolver), before);
        std::fs::write(&path, &renewed).unwrap();
        let after = shown(&resolver);
        assert_ne!(after, before, "the renewed certificate is shown");
        assert_eq!(shown(&resolver), after);
    }
}
