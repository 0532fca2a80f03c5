//! Where a connection's responses go. A plaintext socket sends fetched file
//! ranges with `sendfile` (zero-copy); a TLS stream cannot, since the bytes must
//! be encrypted in the broker, so it copies them — the zero-copy loss Kafka has
//! under TLS too. Generic rather than boxed: the plaintext path compiles to the
//! same code as before TLS existed.

use std::future::Future;

use tokio::io::{AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_rustls::server::TlsStream;

use super::connection::write_frame;
use crate::protocol::{Chunk, ResponseFrame};

/// A connection's write side.
pub(super) trait ResponseSink: AsyncWrite + Unpin + Send {
    /// Writes every chunk of `frame`, in order.
    fn send_frame(
        &mut self,
        frame: &ResponseFrame,
    ) -> impl Future<Output = std::io::Result<()>> + Send;

    /// Writes an already-encoded response.
    fn send_bytes(&mut self, bytes: &[u8]) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl ResponseSink for OwnedWriteHalf {
    async fn send_frame(&mut self, frame: &ResponseFrame) -> std::io::Result<()> {
        write_frame(self, frame).await
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes).await
    }
}

impl ResponseSink for WriteHalf<TlsStream<TcpStream>> {
    /// One buffer for the whole frame: one `write_all` fills full TLS records
    /// instead of a small record per chunk.
    async fn send_frame(&mut self, frame: &ResponseFrame) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(frame.len());
        for chunk in frame.chunks() {
            match chunk {
                Chunk::Memory(b) => out.extend_from_slice(b),
                // A range cut short under the read cannot be padded into a valid
                // frame: the error closes the connection, as sendfile's does.
                Chunk::File(f) => out.extend_from_slice(&f.read().map_err(std::io::Error::other)?),
            }
        }
        self.send_bytes(&out).await
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes).await?;
        // rustls holds encrypted records until flushed.
        self.flush().await
    }
}
