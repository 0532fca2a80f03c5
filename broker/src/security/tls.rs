//! An SSL (or SASL_SSL) listener's rustls server config from Kafka's keys:
//! a PEM keystore (`ssl.keystore.location`, or `ssl.keystore.certificate.chain`
//! and `ssl.keystore.key` inline), a PEM truststore (`ssl.truststore.location` or
//! `ssl.truststore.certificates`), `ssl.client.auth`, `ssl.enabled.protocols`.
//! Each key may be set for one listener as `listener.name.<listener>.<key>`,
//! which wins over the plain key, as in Kafka.
//!
//! Reads the PEM files it names (at startup); refusals are [`ConfigError`]s that
//! name the key, so a bad keystore stops the broker before it binds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::client_cert::ReloadingClientCert;
use crate::config::ConfigError;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// The handshake fails without a certificate the truststore vouches for.
    Required,
}

/// One listener's view of the broker's properties: `listener.name.<l>.<key>`
/// first, then `<key>`.
pub(super) struct ListenerProps<'a> {
    props: &'a BTreeMap<String, String>,
    prefix: String,
}

impl<'a> ListenerProps<'a> {
    pub(super) fn new(props: &'a BTreeMap<String, String>, listener: &str) -> Self {
        Self {
            props,
            prefix: format!("listener.name.{}.", listener.to_ascii_lowercase()),
        }
    }

    /// The value and the key it was found under (for error messages).
    pub(super) fn get(&self, key: &str) -> Option<(String, &'a str)> {
        let prefixed = format!("{}{key}", self.prefix);
        // Kafka lower-cases the listener in the prefix; accept any case.
        let found = self
            .props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&prefixed))
            .or_else(|| self.props.get_key_value(key));
        found
            .map(|(k, v)| (k.clone(), v.trim()))
            .filter(|(_, v)| !v.is_empty())
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn read_pem(key: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: PathBuf::from(format!("{path} ({key})")),
        source,
    })
}

/// Only PEM stores are read (JKS and PKCS12 need passwords and a Java format).
fn require_pem(p: &ListenerProps<'_>, key: &str) -> Result<(), ConfigError> {
    match p.get(key) {
        Some((_, v)) if v.eq_ignore_ascii_case("PEM") => Ok(()),
        Some((k, v)) => Err(invalid(&k, v, "only PEM stores are supported")),
        None => Ok(()),
    }
}

/// The certificate chain and private key of the listener's keystore.
pub(super) fn keystore(
    p: &ListenerProps<'_>,
    listener: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    require_pem(p, "ssl.keystore.type")?;
    if let Some((k, _)) = p.get("ssl.key.password") {
        return Err(invalid(
            &k,
            "[hidden]",
            "encrypted PEM private keys are not supported; give the key unencrypted (PKCS#8)",
        ));
    }
    let location = p.get("ssl.keystore.location");
    let (chain_key, chain_pem, key_key, key_pem) = match (
        location,
        p.get("ssl.keystore.certificate.chain"),
        p.get("ssl.keystore.key"),
    ) {
        (Some((k, path)), None, None) => {
            let pem = read_pem(&k, path)?;
            (k.clone(), pem.clone(), k, pem)
        }
        (None, Some((ck, chain)), Some((kk, key))) => {
            (ck, chain.as_bytes().to_vec(), kk, key.as_bytes().to_vec())
        }
        (Some((k, v)), _, _) => {
            return Err(invalid(
                &k,
                v,
                "set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both",
            ));
        }
        (None, None, None) => {
            return Err(ConfigError::Missing {
                key: format!(
                    "ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key) for SSL listener {listener}"
                ),
            });
        }
        (None, Some(_), None) => {
            return Err(ConfigError::Missing {
                key: format!("ssl.keystore.key for SSL listener {listener}"),
            });
        }
        (None, None, Some(_)) => {
            return Err(ConfigError::Missing {
                key: format!("ssl.keystore.certificate.chain for SSL listener {listener}"),
            });
        }
    };
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&chain_key, "[pem]", format!("bad PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(&chain_key, "[pem]", "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            &key_key,
            "[hidden]",
            format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    Ok((chain, key))
}

/// The listener's truststore, if one is configured.
fn truststore(p: &ListenerProps<'_>) -> Result<Option<(String, RootCertStore)>, ConfigError> {
    require_pem(p, "ssl.truststore.type")?;
    let (key, pem) = match (
        p.get("ssl.truststore.location"),
        p.get("ssl.truststore.certificates"),
    ) {
        (Some((k, path)), None) => {
            let pem = read_pem(&k, path)?;
            (k, pem)
        }
        (None, Some((k, certs))) => (k, certs.as_bytes().to_vec()),
        (Some((k, v)), Some(_)) => {
            return Err(invalid(
                &k,
                v,
                "set either ssl.truststore.location or ssl.truststore.certificates, not both",
            ));
        }
        (None, None) => return Ok(None),
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| invalid(&key, "[pem]", format!("bad PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(&key, "[pem]", format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(&key, "[pem]", "no PEM certificate found"));
    }
    Ok(Some((key, roots)))
}

fn client_auth(p: &ListenerProps<'_>) -> Result<ClientAuth, ConfigError> {
    match p.get("ssl.client.auth") {
        None => Ok(ClientAuth::None),
        Some((k, v)) => match v.to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            _ => Err(invalid(&k, v, "expected required, requested or none")),
        },
    }
}

fn protocol_versions(
    p: &ListenerProps<'_>,
) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
    let Some((k, v)) = p.get("ssl.enabled.protocols") else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        out.push(match name {
            "TLSv1.3" => &rustls::version::TLS13,
            "TLSv1.2" => &rustls::version::TLS12,
            _ => {
                return Err(invalid(
                    &k,
                    v,
                    format!("`{name}` is not supported; use TLSv1.2 and/or TLSv1.3"),
                ));
            }
        });
    }
    if out.is_empty() {
        return Err(invalid(&k, v, "at least one of TLSv1.2, TLSv1.3"));
    }
    Ok(out)
}

pub(super) fn key_mismatch(listener: &str, e: rustls::Error) -> ConfigError {
    invalid(
        "ssl.keystore.key",
        "[hidden]",
        format!("listener {listener}: the key does not fit the certificate chain: {e}"),
    )
}

/// The rustls server config of TLS listener `listener`.
pub fn server_config(
    props: &BTreeMap<String, String>,
    listener: &str,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let p = ListenerProps::new(props, listener);
    if let Some((k, v)) = p.get("ssl.principal.mapping.rules")
        && v != "DEFAULT"
    {
        return Err(invalid(&k, v, "only DEFAULT is supported"));
    }
    let (chain, key) = keystore(&p, listener)?;
    let trust = truststore(&p)?;
    let auth = client_auth(&p)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match (auth, trust) {
        (ClientAuth::None, _) => WebPkiClientVerifier::no_client_auth(),
        (_, None) => {
            return Err(ConfigError::Missing {
                key: format!(
                    "ssl.truststore.location (or ssl.truststore.certificates): ssl.client.auth on listener {listener} needs the CAs client certificates are checked against"
                ),
            });
        }
        (auth, Some((key, roots))) => {
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if auth == ClientAuth::Requested {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| invalid(&key, "[pem]", format!("cannot verify clients: {e}")))?
        }
    };
    let versions = protocol_versions(&p)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("ssl.enabled.protocols", "", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| key_mismatch(listener, e))?;
    Ok(Arc::new(config))
}

/// The rustls client config the broker's own connections to SSL listener
/// `listener` of other brokers use (the replica fetcher on the inter-broker
/// listener), from that listener's keys, as Kafka's inter-broker client does: the
/// truststore verifies the other broker, the keystore is this broker's client
/// certificate (for `ssl.client.auth=required`), re-read when its file changes
/// ([`ReloadingClientCert`]).
pub fn client_config(
    props: &BTreeMap<String, String>,
    listener: &str,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let p = ListenerProps::new(props, listener);
    let (_, roots) = truststore(&p)?.ok_or_else(|| ConfigError::Missing {
        key: format!(
            "ssl.truststore.location (or ssl.truststore.certificates): {listener} (the inter-broker listener or the controller listener) is SSL, so nodes verify each other against it"
        ),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_cert = ReloadingClientCert::new(props, listener, provider.clone())?;
    let versions = protocol_versions(&p)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid("ssl.enabled.protocols", "", e.to_string()))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(client_cert));
    Ok(Arc::new(config))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
pub(super) mod tests;
