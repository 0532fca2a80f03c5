//! One client connection: read a size-prefixed frame, decode, dispatch, write
//! the response, repeat. Requests on a connection are answered strictly in
//! order (one at a time, as Kafka mutes a channel while a request is in flight).
//! Any framing or decoding failure closes only this connection, with a log line.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, broadcast};
use tracing::{debug, info, warn};

use crate::handlers::{self, Reply, RequestContext};
use crate::protocol::{
    Decoded, ResponseFrame, decode_request_frame, encode_response, encode_response_frame,
};
use crate::state::Broker;

/// Limits shared by all connections.
pub struct ConnectionLimits {
    /// `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// Bytes of requests read but not yet answered, across all connections.
    pub inflight_bytes: Arc<Semaphore>,
    /// Permits of `inflight_bytes` (a request never asks for more than this).
    pub inflight_capacity: usize,
}

/// Why a connection was closed early (each is logged, never propagated).
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("request size {0} is negative or exceeds socket.request.max.bytes ({1})")]
    Oversized(i64, usize),
    #[error("{0:?} with acks=0 failed; closing so the producer notices")]
    AcksZeroFailure(kafka_protocol::messages::ApiKey),
    #[error("{0}")]
    Decode(#[from] crate::protocol::DecodeError),
    #[error("{0}")]
    Encode(#[from] crate::protocol::EncodeError),
}

/// Serves a connection until the client closes it, it misbehaves, or shutdown.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    listener: String,
    broker: Arc<Broker>,
    limits: Arc<ConnectionLimits>,
    mut shutdown: broadcast::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    broker.metrics.connection_opened(&listener);
    let result = run(stream, peer, &listener, &broker, &limits, &mut shutdown).await;
    broker.metrics.connection_closed(&listener);
    match result {
        Ok(()) => debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => debug!(%peer, error = %e, "connection closed"),
        Err(e) => warn!(%peer, error = %e, "closing connection"),
    }
}

async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    listener: &str,
    broker: &Broker,
    limits: &ConnectionLimits,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<(), ConnectionError> {
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let client_host = peer.ip().to_string();
    loop {
        if broker.is_closing() {
            return Ok(());
        }
        let size = tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            size = reader.read_i32() => match size {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
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
        let started = Instant::now();
        match decode_request_frame(frame.freeze())? {
            Decoded::UnsupportedApiVersions { correlation_id } => {
                let (api, version, body) = handlers::api_versions::unsupported_version_response();
                let out = encode_response(api, version, correlation_id, &body)?;
                write_half.write_all(&out).await?;
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
                };
                let api = request.api_key;
                let version = request.version;
                let correlation_id = request.header.correlation_id;
                let reply = handlers::dispatch(broker, &ctx, *request).await;
                broker.metrics.request(
                    &format!("{api:?}"),
                    version,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                match reply {
                    Reply::Respond(body) => {
                        let frame = encode_response_frame(api, version, correlation_id, *body)?;
                        write_frame(&mut write_half, &frame).await?;
                    }
                    Reply::Silent => {}
                    Reply::Close => return Err(ConnectionError::AcksZeroFailure(api)),
                }
            }
        }
    }
}

/// Reads the next `size` bytes of the connection into `frame` (empty, with at
/// least `size` capacity), without zero-filling it first.
async fn read_frame(
    reader: &mut BufReader<OwnedReadHalf>,
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

/// Writes every chunk of `frame`, as few `writev`s as the socket allows.
async fn write_frame(out: &mut OwnedWriteHalf, frame: &ResponseFrame) -> std::io::Result<()> {
    /// iovecs per call: well under IOV_MAX, more than a fetch of many partitions needs.
    const MAX_IOV: usize = 64;
    let chunks = frame.chunks();
    if let [only] = chunks {
        return out.write_all(only).await;
    }
    // Position: the chunk being written and how much of it already went out.
    let (mut chunk, mut offset) = (0, 0);
    while chunk < chunks.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&chunks[chunk][offset..])
            .chain(chunks[chunk + 1..].iter().map(|c| &c[..]))
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

/// Logs the stable startup line tests and operators look for.
pub fn log_listening(addr: &SocketAddr, listener: &str) {
    info!(listener, "listening on {addr}");
}

#[cfg(test)]
#[path = "write_frame_tests.rs"]
mod write_frame_tests;
