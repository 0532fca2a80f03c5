//! One client connection: read a size-prefixed frame, decode, dispatch, write
//! the response, repeat. Requests on a connection are answered strictly in
//! order (one at a time, as Kafka mutes a channel while a request is in flight).
//! Any framing or decoding failure closes only this connection, with a log line.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Semaphore, broadcast};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::sasl::{authenticate, reauthentication_refusal};
use super::sink::ResponseSink;
use crate::broker_server::Broker;
use crate::handlers::{self, Reply, RequestContext, fetch};
use crate::protocol::{
    Chunk, Decoded, ResponseFrame, decode_request_frame, encode_fetch_frame, encode_response,
    encode_response_frame,
};
use crate::security::principal::{ANONYMOUS, ssl_principal};
use crate::security::sasl::SaslListener;
use crate::security::tls_reload::ReloadableTls;

/// Limits shared by all connections.
pub struct ConnectionLimits {
    /// `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// Bytes of requests read but not yet answered, across all connections.
    pub inflight_bytes: Arc<Semaphore>,
    /// Permits of `inflight_bytes` (a request never asks for more than this).
    pub inflight_capacity: usize,
    /// `connections.max.idle.ms`: how long a connection may wait between a
    /// response and the next request before it is closed; `None` never.
    pub max_idle: Option<std::time::Duration>,
}

/// How a listener secures its connections.
#[derive(Clone, Default)]
pub struct ListenerSecurity {
    /// The server config of SSL and SASL_SSL listeners, reloaded when its
    /// certificates change (each connection shakes hands with the one current then).
    pub tls: Option<Arc<ReloadableTls>>,
    /// The mechanisms and PLAIN users of SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<SaslListener>>,
}

/// Why a connection was closed early (each is logged, never propagated).
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("no request for {0:?} (connections.max.idle.ms)")]
    Idle(std::time::Duration),
    #[error("request size {0} is negative or exceeds socket.request.max.bytes ({1})")]
    Oversized(i64, usize),
    #[error("{0:?} with acks=0 failed; closing so the producer notices")]
    AcksZeroFailure(kafka_protocol::messages::ApiKey),
    #[error("{0}")]
    Decode(#[from] crate::protocol::DecodeError),
    #[error("{0}")]
    Encode(#[from] crate::protocol::EncodeError),
    #[error("SSL handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error("no SSL handshake within {0:?} (connections.max.idle.ms)")]
    HandshakeIdle(std::time::Duration),
    #[error(
        "request size {0} before SASL authentication exceeds {1} (sasl.server.max.receive.size)"
    )]
    SaslOversized(i64, usize),
    #[error("unexpected SASL request: {0}")]
    SaslState(&'static str),
    #[error("unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    #[error("Failed authentication ({0})")]
    AuthenticationFailed(String),
    #[error("{0:?} before SASL authentication")]
    Unauthenticated(kafka_protocol::messages::ApiKey),
    /// KIP-368: the session's `connections.max.reauth.ms` passed without a
    /// re-authentication; Kafka closes such a connection on its next request.
    #[error("SASL session expired without re-authentication (connections.max.reauth.ms)")]
    SessionExpired,
}

/// SaslHandshake's API key, read from a frame before it is decoded.
const SASL_HANDSHAKE_KEY: i16 = 17;

/// Serves a connection until the client closes it, it misbehaves, or shutdown.
/// `security` says whether it starts with a TLS handshake and/or a SASL exchange.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    listener: String,
    broker: Arc<Broker>,
    limits: Arc<ConnectionLimits>,
    mut shutdown: broadcast::Receiver<()>,
    security: ListenerSecurity,
) {
    let _ = stream.set_nodelay(true);
    broker.metrics().connection_opened(&listener);
    let mut served = Served {
        principal: ANONYMOUS.to_string(),
        peer,
        listener: &listener,
        broker: &broker,
        limits: &limits,
        shutdown: &mut shutdown,
        sasl: security.sasl.as_deref(),
    };
    let result = match security.tls {
        None => {
            let (read_half, write_half) = stream.into_split();
            run(read_half, write_half, served).await
        }
        Some(tls) => {
            match handshake(&TlsAcceptor::from(tls.current()), stream, limits.max_idle).await {
                Ok(stream) => {
                    let principal = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .and_then(|cert| ssl_principal(cert))
                        .unwrap_or_else(|| ANONYMOUS.to_string());
                    debug!(%peer, listener, principal, "SSL handshake done");
                    served.principal = principal;
                    let (read_half, write_half) = tokio::io::split(stream);
                    run(read_half, write_half, served).await
                }
                Err(e) => Err(e),
            }
        }
    };
    broker.metrics().connection_closed(&listener);
    match result {
        Ok(()) => debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => debug!(%peer, error = %e, "connection closed"),
        // Kafka expires idle channels quietly too: clients reconnect on demand.
        Err(e @ ConnectionError::Idle(_)) => debug!(%peer, error = %e, "closing idle connection"),
        // Kafka logs these at INFO ("Failed authentication with ... (SSL handshake
        // failed)"): a client's problem, one line per attempt.
        Err(
            e @ (ConnectionError::Handshake(_)
            | ConnectionError::HandshakeIdle(_)
            | ConnectionError::AuthenticationFailed(_)
            | ConnectionError::SessionExpired
            | ConnectionError::UnsupportedMechanism(_)),
        ) => {
            info!(%peer, listener, error = %e, "closing connection")
        }
        Err(e) => warn!(%peer, error = %e, "closing connection"),
    }
}

/// The TLS handshake of an SSL listener's connection, bounded like an idle
/// connection: a client that connects and says nothing must not hold a slot.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    max_idle: Option<std::time::Duration>,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, ConnectionError> {
    let accept = acceptor.accept(stream);
    let done = match max_idle {
        None => accept.await,
        Some(limit) => tokio::time::timeout(limit, accept)
            .await
            .map_err(|_| ConnectionError::HandshakeIdle(limit))?,
    };
    done.map_err(ConnectionError::Handshake)
}

/// What serving a connection needs besides its stream.
pub(super) struct Served<'a> {
    pub(super) peer: SocketAddr,
    pub(super) listener: &'a str,
    pub(super) broker: &'a Broker,
    pub(super) limits: &'a ConnectionLimits,
    pub(super) shutdown: &'a mut broadcast::Receiver<()>,
    /// The listener's SASL settings when clients must authenticate first.
    pub(super) sasl: Option<&'a SaslListener>,
    /// Who the connection authenticated as (the certificate subject, the SASL user),
    /// what ACLs are checked against.
    pub(super) principal: String,
}

async fn run<R: AsyncRead + Unpin, W: ResponseSink>(
    read_half: R,
    mut write_half: W,
    mut served: Served<'_>,
) -> Result<(), ConnectionError> {
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    // The SASL session, for KIP-368 re-authentication and expiry.
    let mut session = None;
    if let Some(sasl) = served.sasl {
        match authenticate(&mut reader, &mut write_half, &mut served, sasl, None).await? {
            Some(done) => {
                let principal = format!("User:{}", done.user);
                debug!(peer = %served.peer, listener = served.listener, principal, "SASL authentication done");
                served.principal = principal;
                session = Some(done);
            }
            None => return Ok(()),
        }
    }
    let Served {
        peer,
        listener,
        broker,
        limits,
        shutdown,
        sasl,
        principal,
    } = served;
    let client_host = super::host_address::host_address(&peer);
    loop {
        if broker.is_closing() {
            return Ok(());
        }
        let size = tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            size = read_size(&mut reader, limits.max_idle) => match size {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(ConnectionError::Idle(limits.max_idle.unwrap_or_default()));
                }
                Err(e) => return Err(e.into()),
            },
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= limits.max_request_bytes)
            .ok_or(ConnectionError::Oversized(
                i64::from(size),
                limits.max_request_bytes,
            ))?;
        let permits = u32::try_from(size.clamp(1, limits.inflight_capacity)).unwrap_or(u32::MAX);
        let _permit = limits
            .inflight_bytes
            .acquire_many(permits)
            .await
            .map_err(|_| std::io::Error::other("in-flight byte limiter closed"))?;
        // Not zero-filled: the read fills it, and the decoded request borrows it.
        let mut frame = BytesMut::with_capacity(size);
        // A request is in flight only once fully received: a client stalling
        // mid-frame must not hold up shutdown.
        tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            read = read_frame(&mut reader, &mut frame, size) => { read?; }
        }
        if let (Some(sasl), Some(before)) = (sasl, session.as_ref()) {
            // KIP-368: a SaslHandshake after authentication starts a re-authentication.
            if frame.get(..2) == Some(&SASL_HANDSHAKE_KEY.to_be_bytes()[..]) {
                let mut again = Served {
                    peer,
                    listener,
                    broker,
                    limits,
                    shutdown: &mut *shutdown,
                    sasl: Some(sasl),
                    principal: principal.clone(),
                };
                let first = Some(frame);
                let Some(after) =
                    authenticate(&mut reader, &mut write_half, &mut again, sasl, first).await?
                else {
                    return Ok(());
                };
                if let Some(refusal) = reauthentication_refusal(before, &after) {
                    return Err(ConnectionError::AuthenticationFailed(refusal));
                }
                debug!(%peer, listener, principal, "SASL re-authentication done");
                session = Some(after);
                continue;
            }
            if before.expires.is_some_and(|at| Instant::now() >= at) {
                return Err(ConnectionError::SessionExpired);
            }
        }
        let started = Instant::now();
        match decode_request_frame(frame.freeze())? {
            Decoded::UnsupportedApiVersions { correlation_id } => {
                let (api, version, body) = handlers::api_versions::unsupported_version_response();
                let out = encode_response(api, version, correlation_id, &body)?;
                write_half.send_bytes(&out).await?;
            }
            Decoded::Request(request) => {
                let ctx = RequestContext {
                    client_id: request
                        .header
                        .client_id
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    client_host: client_host.clone(),
                    listener: listener.to_string(),
                    correlation_id: request.header.correlation_id,
                    principal: principal.clone(),
                };
                let api = request.api_key;
                let version = request.version;
                let correlation_id = request.header.correlation_id;
                let reply = handlers::dispatch(broker, &ctx, *request).await;
                broker.metrics().request(
                    &format!("{api:?}"),
                    version,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                match reply {
                    Reply::Respond(body) => {
                        let frame = encode_response_frame(api, version, correlation_id, *body)?;
                        write_half.send_frame(&frame).await?;
                    }
                    Reply::Fetch(reply) => {
                        let fetch::FetchReply { body, files } = *reply;
                        let frame = encode_fetch_frame(version, correlation_id, body, files)?;
                        write_half.send_frame(&frame).await?;
                    }
                    Reply::Silent => {}
                    Reply::Close => return Err(ConnectionError::AcksZeroFailure(api)),
                }
            }
        }
    }
}

/// Reads the next request's size prefix, failing with `TimedOut` when none
/// starts within `max_idle` (the connection is idle: nothing is in flight on it).
pub(super) async fn read_size<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max_idle: Option<std::time::Duration>,
) -> std::io::Result<i32> {
    let Some(max_idle) = max_idle else {
        return reader.read_i32().await;
    };
    // Idle ends with the first byte of a request; the rest of the prefix may
    // take as long as the frame after it.
    if reader.buffer().is_empty() {
        tokio::time::timeout(max_idle, reader.fill_buf())
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    }
    reader.read_i32().await
}

/// Reads the next `size` bytes of the connection into `frame` (empty, with at
/// least `size` capacity), without zero-filling it first.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    frame: &mut BytesMut,
    size: usize,
) -> std::io::Result<()> {
    while frame.len() < size {
        let want = (size - frame.len()) as u64;
        if (&mut *reader).take(want).read_buf(frame).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// Writes every chunk of `frame`: runs of in-memory chunks with as few
/// `writev`s as the socket allows, file ranges with `sendfile`.
pub(super) async fn write_frame(
    out: &mut OwnedWriteHalf,
    frame: &ResponseFrame,
) -> std::io::Result<()> {
    let chunks = frame.chunks();
    let mut at = 0;
    while at < chunks.len() {
        if let Chunk::File(f) = &chunks[at] {
            send_file(out, f).await?;
            at += 1;
            continue;
        }
        let run: Vec<&[u8]> = chunks[at..]
            .iter()
            .map_while(|c| match c {
                Chunk::Memory(b) => Some(&b[..]),
                Chunk::File(_) => None,
            })
            .collect();
        at += run.len();
        write_buffers(out, &run).await?;
    }
    Ok(())
}

/// Writes `chunks` in order with vectored writes, resuming after partial ones.
async fn write_buffers(out: &mut OwnedWriteHalf, chunks: &[&[u8]]) -> std::io::Result<()> {
    /// iovecs per call: well under IOV_MAX, more than a fetch of many partitions needs.
    const MAX_IOV: usize = 64;
    if let [only] = chunks {
        return out.write_all(only).await;
    }
    // Position: the chunk being written and how much of it already went out.
    let (mut chunk, mut offset) = (0, 0);
    while chunk < chunks.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&chunks[chunk][offset..])
            .chain(chunks[chunk + 1..].iter().copied())
            .take(MAX_IOV)
            .map(IoSlice::new)
            .collect();
        let mut written = out.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while chunk < chunks.len() && written >= chunks[chunk].len() - offset {
            written -= chunks[chunk].len() - offset;
            chunk += 1;
            offset = 0;
        }
        offset += written;
    }
    Ok(())
}

/// Sends a file range with `sendfile(2)`: page cache to socket, no copy through
/// the broker. A range that ends early (the segment was truncated under the
/// read) cannot be padded into a valid frame, so the connection is closed.
async fn send_file(
    out: &OwnedWriteHalf,
    f: &tidewater_storage::FileRecords,
) -> std::io::Result<()> {
    let socket: &TcpStream = out.as_ref();
    let mut offset = f.position();
    let end = offset + f.len() as u64;
    while offset < end {
        socket.writable().await?;
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = socket.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, f.file(), Some(&mut offset), want)
                .map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment ended inside a fetched range (truncated under the read)",
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Logs the stable startup line tests and operators look for.
pub fn log_listening(addr: &SocketAddr, listener: &str) {
    info!(listener, "listening on {addr}");
}

#[cfg(test)]
#[path = "write_frame_tests.rs"]
mod write_frame_tests;
