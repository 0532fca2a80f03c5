//! One TCP connection to one Kafka broker: the IO shell around `frame` and `versions`.
//!
//! Owns the socket, correlation ids, the request deadline and the versions negotiated at
//! connect. Requests on one connection are serialised (a Kafka broker answers a
//! connection's requests in order anyway). A connection that timed out, broke, or was
//! abandoned mid-request (its future dropped) is closed for good, as in Kafka's own
//! clients: the next response on that socket could belong to the abandoned request.
//! Reconnecting is the caller's business (see `AdminClient`).

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::error::ClientError;
use crate::frame::{self, api_key};
use crate::sasl::{ClientSasl, SaslClient};
use crate::tls::{ClientTls, Stream};
use crate::versions::{self, ApiVersionTable, ApiVersionsOutcome};

/// How a client identifies itself and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Sent in every request header; brokers log it and quotas key on it (`client.id`).
    pub client_id: String,
    /// Deadline for the TCP connect (Kafka: `socket.connection.setup.timeout.ms`, 10 s).
    pub connect_timeout: Duration,
    /// Deadline for one request/response exchange (Kafka: `request.timeout.ms`, 30 s).
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "tidewater-client".to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How a connection secures itself: TLS for SSL and SASL_SSL listeners, SASL for
/// SASL_PLAINTEXT and SASL_SSL ones (Kafka's `security.protocol`).
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<ClientTls>,
    pub sasl: Option<ClientSasl>,
}

/// Kafka's SASL_AUTHENTICATION_FAILED, for a broker whose SCRAM answer does not prove it
/// knows the credential (Kafka's client raises `SaslAuthenticationException` then too).
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// An open, version-negotiated connection to one broker.
#[derive(Debug)]
pub struct Connection {
    /// The address as the caller gave it, for error messages.
    addr: String,
    config: ClientConfig,
    /// `None` once the connection failed: see the module doc for why it is not reused.
    stream: Mutex<Option<Stream>>,
    /// Kafka matches responses to requests by this id; wraps around like Kafka's.
    next_correlation_id: AtomicI32,
    /// The broker's advertised API versions, fetched at connect.
    versions: ApiVersionTable,
}

impl Connection {
    /// Connects to `addr` (`host:port`) with default timeouts and negotiates versions.
    pub async fn connect(addr: &str, client_id: &str) -> Result<Connection, ClientError> {
        let config = ClientConfig {
            client_id: client_id.to_owned(),
            ..ClientConfig::default()
        };
        Connection::connect_with(addr, config).await
    }

    /// Connects to `addr` (`host:port`) and negotiates API versions with ApiVersions.
    pub async fn connect_with(addr: &str, config: ClientConfig) -> Result<Connection, ClientError> {
        Connection::open(addr, config, None).await
    }

    /// As [`Connection::connect_with`], to an SSL listener: the TLS handshake (inside
    /// the connect deadline) verifies the broker's certificate for `addr`'s host.
    pub async fn connect_tls(
        addr: &str,
        config: ClientConfig,
        tls: &ClientTls,
    ) -> Result<Connection, ClientError> {
        Connection::open(addr, config, Some(tls)).await
    }

    /// As [`Connection::connect_with`], secured as `security` says: the TLS handshake
    /// first, then, after ApiVersions, SaslHandshake and SaslAuthenticate until the
    /// broker accepts the credential (Kafka's `SaslClientAuthenticator` order).
    pub async fn connect_secured(
        addr: &str,
        config: ClientConfig,
        security: &ClientSecurity,
    ) -> Result<Connection, ClientError> {
        let conn = Connection::open(addr, config, security.tls.as_ref()).await?;
        if let Some(sasl) = &security.sasl {
            let deadline = conn.config.connect_timeout.max(conn.config.request_timeout);
            tokio::time::timeout(deadline, conn.authenticate(sasl))
                .await
                .map_err(|_| ClientError::Timeout {
                    addr: conn.addr.clone(),
                    api: ApiKey::SaslAuthenticate,
                    after: deadline,
                })??;
        }
        Ok(conn)
    }

    /// The SASL exchange; an `Err` leaves the connection unusable (the broker closes it).
    async fn authenticate(&self, sasl: &ClientSasl) -> Result<(), ClientError> {
        let mechanism = sasl.mechanism.name();
        let resp = self
            .send(
                SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism)),
            )
            .await?;
        if resp.error_code != 0 {
            return Err(ClientError::Protocol {
                code: resp.error_code,
                api: ApiKey::SaslHandshake,
                message: Some(format!(
                    "{mechanism} is not enabled; the broker offers {:?}",
                    resp.mechanisms
                )),
            });
        }
        let refused = |message: String| ClientError::Protocol {
            code: SASL_AUTHENTICATION_FAILED,
            api: ApiKey::SaslAuthenticate,
            message: Some(message),
        };
        let mut client = SaslClient::new(sasl).map_err(|e| refused(e.0))?;
        let mut server_token = Bytes::new();
        while let Some(token) = client.next(sasl, &server_token).map_err(|e| refused(e.0))? {
            let resp = self
                .send(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)))
                .await?;
            if resp.error_code != 0 {
                return Err(ClientError::Protocol {
                    code: resp.error_code,
                    api: ApiKey::SaslAuthenticate,
                    message: resp.error_message.map(|m| m.to_string()),
                });
            }
            server_token = resp.auth_bytes;
        }
        tracing::debug!(broker = %self.addr, mechanism, user = %sasl.username, "authenticated");
        Ok(())
    }

    async fn open(
        addr: &str,
        config: ClientConfig,
        tls: Option<&ClientTls>,
    ) -> Result<Connection, ClientError> {
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            // Requests are small and latency-bound; Nagle would only delay them.
            tcp.set_nodelay(true)?;
            match tls {
                None => Ok(Stream::Plain(tcp)),
                Some(tls) => Stream::tls(tls, addr, tcp).await,
            }
        };
        let stream = tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| ClientError::Timeout {
                addr: addr.to_owned(),
                api: ApiKey::ApiVersions,
                after: config.connect_timeout,
            })?
            .map_err(|source| io_error(addr, source))?;
        let mut conn = Connection {
            addr: addr.to_owned(),
            config,
            stream: Mutex::new(Some(stream)),
            next_correlation_id: AtomicI32::new(0),
            versions: ApiVersionTable::default(),
        };
        conn.versions = conn.negotiate_versions().await?;
        tracing::debug!(
            broker = %conn.addr,
            apis = conn.versions.len(),
            "connected and negotiated API versions"
        );
        Ok(conn)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's advertised API versions, as fetched at connect.
    pub fn api_versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// The version `send` would use for `Req`.
    pub fn version_for<Req: Request>(&self) -> Result<i16, ClientError> {
        self.versions.negotiate::<Req>()
    }

    /// Sends `req` at the highest version both sides support and returns the response.
    /// Response-level error codes are left in the response for the caller to read.
    pub async fn send<Req: Request>(&self, req: Req) -> Result<Req::Response, ClientError> {
        let version = self.versions.negotiate::<Req>()?;
        self.send_at(&req, version).await
    }

    /// Sends `req` at exactly `version` (tests, and callers that need an old layout).
    pub async fn send_at<Req: Request>(
        &self,
        req: &Req,
        version: i16,
    ) -> Result<Req::Response, ClientError> {
        let body = self.exchange(req, version).await?;
        let (_, resp) = frame::decode_response::<Req>(body, version)?;
        Ok(resp)
    }

    /// ApiVersions, retried once at the broker's newest version when it rejects ours.
    async fn negotiate_versions(&self) -> Result<ApiVersionTable, ClientError> {
        let software = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("tidewater-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = versions::first_api_versions_version();
        loop {
            let body = self.exchange(&software, version).await?;
            let resp = decode_api_versions(body, version)?;
            match versions::api_versions_outcome(&resp, version)? {
                ApiVersionsOutcome::Negotiated(table) => return Ok(table),
                ApiVersionsOutcome::RetryAt(lower) => {
                    tracing::debug!(broker = %self.addr, from = version, to = lower, "retrying ApiVersions");
                    version = lower;
                }
            }
        }
    }

    /// Writes one request frame and reads its response frame (without the length prefix).
    async fn exchange<Req: Request>(&self, req: &Req, version: i16) -> Result<Bytes, ClientError> {
        let api = api_key::<Req>();
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let request = frame::encode_request(req, version, correlation_id, &self.config.client_id)?;

        let mut slot = self.stream.lock().await;
        // Taken out for the exchange and put back only on success: if this future is
        // dropped or fails half-way, the socket is dropped with it.
        let mut stream = slot.take().ok_or_else(|| {
            io_error(
                &self.addr,
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "connection was closed after an earlier failure; reconnect",
                ),
            )
        })?;
        let round_trip = async {
            stream
                .write_all(&request)
                .await
                .map_err(|e| io_error(&self.addr, e))?;
            // TLS holds encrypted records until flushed (a no-op on plain TCP).
            stream.flush().await.map_err(|e| io_error(&self.addr, e))?;
            let mut prefix = [0u8; 4];
            stream
                .read_exact(&mut prefix)
                .await
                .map_err(|e| io_error(&self.addr, e))?;
            let len = frame::response_length(prefix, api, version)?;
            let mut body = vec![0u8; len];
            stream
                .read_exact(&mut body)
                .await
                .map_err(|e| io_error(&self.addr, e))?;
            Ok::<_, ClientError>(Bytes::from(body))
        };
        let body = tokio::time::timeout(self.config.request_timeout, round_trip)
            .await
            .map_err(|_| ClientError::Timeout {
                addr: self.addr.clone(),
                api,
                after: self.config.request_timeout,
            })??;
        match frame::correlation_id(&body) {
            Some(id) if id == correlation_id => {
                *slot = Some(stream);
                Ok(body)
            }
            other => Err(ClientError::Decode {
                api,
                version,
                reason: format!(
                    "response correlation id {other:?} does not match request {correlation_id}"
                ),
            }),
        }
    }
}

/// Decodes an ApiVersions response; a broker that does not support the requested version
/// answers with a v0 body carrying `UNSUPPORTED_VERSION`, so fall back to that layout.
fn decode_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsResponse, ClientError> {
    let api = ApiKey::ApiVersions;
    match frame::decode_response_as::<ApiVersionsResponse>(body.clone(), version, version, api) {
        Ok((_, resp)) => Ok(resp),
        Err(first) => match frame::decode_response_as::<ApiVersionsResponse>(body, version, 0, api)
        {
            Ok((_, resp)) if resp.error_code == ResponseError::UnsupportedVersion.code() => {
                Ok(resp)
            }
            _ => Err(first),
        },
    }
}

fn io_error(addr: &str, source: std::io::Error) -> ClientError {
    ClientError::Io {
        addr: addr.to_owned(),
        source,
    }
}
