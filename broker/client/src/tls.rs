//! TLS for connections to SSL listeners: the socket a [`crate::Connection`] speaks
//! through, plaintext or rustls. An enum rather than a boxed trait object, so a
//! plaintext connection pays one match per read or write and no allocation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How to speak TLS to a broker: the rustls client config (trusted CAs, and the
/// client certificate when the listener wants one).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl ClientTls {
    pub fn new(config: Arc<rustls::ClientConfig>) -> ClientTls {
        ClientTls { config }
    }

    /// TLS trusting only the CA certificates in `trusted_ca` (PEM), presenting
    /// `client` (PEM certificate chain, PEM private key) when given: what an mTLS
    /// listener of a Kafka cluster with its own CA wants (Kafka's `ssl.truststore.*`
    /// and `ssl.keystore.*` as PEM). rustls on ring, as the rest of the crate.
    pub fn from_pem(
        trusted_ca: &str,
        client: Option<(&str, &str)>,
    ) -> Result<ClientTls, TlsPemError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(trusted_ca.as_bytes()) {
            let cert = cert.map_err(|e| TlsPemError::Pem("trusted CA", e.to_string()))?;
            roots.add(cert).map_err(TlsPemError::Rustls)?;
        }
        if roots.is_empty() {
            return Err(TlsPemError::Pem("trusted CA", "no certificate".to_owned()));
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(TlsPemError::Rustls)?
        .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsPemError::Pem("client certificate", e.to_string()))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| TlsPemError::Pem("client key", e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(TlsPemError::Rustls)?
            }
        };
        Ok(ClientTls::new(Arc::new(config)))
    }
}

/// Why [`ClientTls::from_pem`] could not make a TLS config.
#[derive(Debug, thiserror::Error)]
pub enum TlsPemError {
    /// A PEM input did not hold what it should.
    #[error("{0}: {1}")]
    Pem(&'static str, String),
    /// rustls refused the certificates or the key (e.g. a key not of the certificate).
    #[error(transparent)]
    Rustls(rustls::Error),
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

/// A connection's socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TLS handshake over `tcp`, verifying the broker's certificate for the host
    /// part of `addr` (`host:port`, an IPv6 literal bracketed).
    pub(crate) async fn tls(
        tls: &ClientTls,
        addr: &str,
        tcp: TcpStream,
    ) -> std::io::Result<Stream> {
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}"))
        })?;
        let stream = TlsConnector::from(tls.config.clone())
            .connect(name, tcp)
            .await?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
