//! `tidewater-perf sink`: a Kafka endpoint that does no work, for measuring the
//! CLIENT's own ceiling on this machine. Produce requests are read off the
//! socket, decoded and acknowledged, their records dropped; fetches are served
//! from one template batch in memory. `tidewater-perf produce/consume` against
//! it show how fast librdkafka alone can go when it shares the cores with
//! nothing but a socket reader: the bound any broker's ratio lives under.
//!
//! A measurement aid for `run-bench.sh`, never a broker stand-in in tests.
//! Blocking IO with a thread per connection: a perf client opens a handful.

mod answer;

pub use answer::{SinkError, SinkModel};

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use bytes::BytesMut;

/// Largest request frame the sink reads (librdkafka's `message.max.bytes` is 1 MB;
/// a produce request may carry several batches).
const MAX_FRAME: usize = 128 << 20;

/// Serves `listener` until the process is killed. Prints the bound address first.
pub fn serve(listener: TcpListener, model: SinkModel) -> std::io::Result<()> {
    println!("sink listening on {}", listener.local_addr()?);
    let model = Arc::new(model);
    for stream in listener.incoming() {
        let stream = stream?;
        let model = model.clone();
        std::thread::spawn(move || {
            if let Err(e) = connection(stream, &model) {
                eprintln!("sink: connection closed: {e}");
            }
        });
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Answer(#[from] SinkError),
    #[error("frame of {0} bytes")]
    Size(i32),
}

fn connection(stream: TcpStream, model: &SinkModel) -> Result<(), ConnectionError> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(256 << 10, stream.try_clone()?);
    let mut writer = BufWriter::with_capacity(64 << 10, stream);
    loop {
        let mut size = [0u8; 4];
        match reader.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let size = i32::from_be_bytes(size);
        let len = usize::try_from(size)
            .ok()
            .filter(|n| *n <= MAX_FRAME)
            .ok_or(ConnectionError::Size(size))?;
        let mut frame = BytesMut::zeroed(len);
        reader.read_exact(&mut frame)?;
        let response = model.answer(frame.freeze())?;
        writer.write_all(&response)?;
        // Answer at once unless more requests are already buffered (pipelining).
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

#[cfg(test)]
mod tests;
