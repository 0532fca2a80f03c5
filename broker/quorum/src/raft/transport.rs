//! How connections on the controller listener are secured: plain TCP, or TLS (the
//! controller listener mapped to SSL in `listener.security.protocol.map`), and SASL
//! authentication on top for SASL_PLAINTEXT and SASL_SSL (see `sasl`). The same
//! [`ControllerTransport`] serves both ends: raft peers, forwarded proposals, brokers'
//! controller calls and metadata fetches connect through it, and the listener accepts
//! through it, so a plaintext client of a TLS listener fails its first frame.
//!
//! Owns the TLS handshake only; the rustls configs come from the broker's `ssl.*`
//! keys (the broker's `security::tls`), never from files read here.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::sasl::{ControllerSasl, ServerMechanisms, authenticate};

/// A connection's byte stream, TLS or not. Boxed: one allocation per connection, and
/// the frame code stays the same for both.
pub(crate) trait Stream:
    AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug
{
}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> Stream for S {}
pub(crate) type BoxedStream = Box<dyn Stream>;

/// A TLS handshake on an accepted connection must finish within this, so a client that
/// connects and says nothing does not hold a task for long (Kafka closes idle
/// handshakes after `connections.max.idle.ms`; this is the quorum's own bound).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of the controller listener: `server` on a controller (its listener),
/// `client` on every node that connects to controllers. Both `None`: plaintext. With
/// `sasl`, every connection authenticates before its first request.
#[derive(Clone, Default)]
pub struct ControllerTransport {
    server: Option<TlsAcceptor>,
    client: Option<TlsConnector>,
    sasl: Option<ControllerSasl>,
}

impl ControllerTransport {
    /// TLS: `client` verifies the controllers it connects to (and presents this node's
    /// certificate when the listener asks); `server`, on controllers, is the listener's.
    pub fn tls(
        server: Option<Arc<rustls::ServerConfig>>,
        client: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            server: server.map(TlsAcceptor::from),
            client: Some(TlsConnector::from(client)),
            sasl: None,
        }
    }

    /// The same, with SASL authentication on every connection.
    pub fn with_sasl(mut self, sasl: ControllerSasl) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// What the listener accepts when connections must authenticate.
    pub(crate) fn sasl_server(&self) -> Option<Arc<dyn ServerMechanisms>> {
        self.sasl.as_ref().and_then(|s| s.server.clone())
    }

    /// Whether connections are wrapped in TLS.
    pub fn is_tls(&self) -> bool {
        self.client.is_some()
    }

    /// Opens a connection to `addr` (`host:port`), TLS verified for `host`, and
    /// authenticates it when the listener is SASL (requests name `cluster_id`).
    pub(crate) async fn connect(&self, addr: &str, cluster_id: &str) -> io::Result<BoxedStream> {
        let mut stream = self.open(addr).await?;
        if let Some(sasl) = &self.sasl {
            authenticate(&mut stream, cluster_id, sasl.client.as_ref()).await?;
        }
        Ok(stream)
    }

    async fn open(&self, addr: &str) -> io::Result<BoxedStream> {
        let tcp = TcpStream::connect(addr).await?;
        // Raft RPCs are small and latency-bound; Nagle would only delay them.
        tcp.set_nodelay(true)?;
        let Some(connector) = &self.client else {
            return Ok(Box::new(tcp));
        };
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        Ok(Box::new(connector.connect(name, tcp).await?))
    }

    /// Wraps an accepted connection; a failed or slow handshake is an `Err` that closes
    /// this connection only.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> io::Result<BoxedStream> {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        let Some(acceptor) = &self.server else {
            return Ok(Box::new(tcp));
        };
        let handshake = acceptor.accept(tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(stream) => Ok(Box::new(stream?)),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake on the controller listener timed out",
            )),
        }
    }
}

impl std::fmt::Debug for ControllerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerTransport")
            .field("tls_server", &self.server.is_some())
            .field("tls_client", &self.client.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}
