//! A scripted Kafka peer for the failure paths a real broker will not produce on demand
//! (a wrong correlation id, a version rejection, a silent or vanishing broker).
//!
//! Requests are decoded with kafka-protocol's broker-side header decoder, so the peer
//! also checks the client's framing; the reply is decided per request by the script.
//! The real-broker tests (`tests/broker.rs`) are the proof that the client talks to a
//! broker; this peer only proves the client handles misbehaving ones.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, decode_request_header_from_buffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the peer does with one request.
pub enum Action {
    /// Send this response frame body (header + message, without length prefix).
    Respond(Bytes),
    /// Never answer.
    Ignore,
    /// Close the connection.
    Close,
}

/// Decides the answer to a request: (header, connection number from 0, body bytes).
pub type Script = dyn Fn(&RequestHeader, usize, Bytes) -> Action + Send + Sync;

/// A listening peer; aborted on drop.
pub struct Peer {
    pub addr: String,
    /// (api key, api version, connection number) of every request received.
    pub seen: Arc<Mutex<Vec<(i16, i16, usize)>>>,
    task: JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    pub async fn start(
        script: impl Fn(&RequestHeader, usize, Bytes) -> Action + Send + Sync + 'static,
    ) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            async move {
                let mut conn_no = 0;
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        socket,
                        conn_no,
                        Arc::clone(&script),
                        Arc::clone(&seen),
                    ));
                    conn_no += 1;
                }
            }
        });
        Peer { addr, seen, task }
    }

    pub fn seen(&self) -> Vec<(i16, i16, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    conn_no: usize,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<(i16, i16, usize)>>>,
) {
    loop {
        let Ok(len) = socket.read_i32().await else {
            return;
        };
        let mut buf = vec![0u8; usize::try_from(len).unwrap()];
        if socket.read_exact(&mut buf).await.is_err() {
            return;
        }
        let mut frame = Bytes::from(buf);
        let header =
            decode_request_header_from_buffer(&mut frame).expect("client sent a bad header");
        seen.lock()
            .unwrap()
            .push((header.request_api_key, header.request_api_version, conn_no));
        match script(&header, conn_no, frame) {
            Action::Respond(body) => {
                let mut out = BytesMut::new();
                out.extend_from_slice(&i32::try_from(body.len()).unwrap().to_be_bytes());
                out.extend_from_slice(&body);
                if socket.write_all(&out).await.is_err() {
                    return;
                }
            }
            Action::Ignore => {}
            Action::Close => return,
        }
    }
}

/// A response frame body for `header`'s request, at the request's version.
pub fn respond<Resp: Encodable + HeaderVersion>(header: &RequestHeader, resp: &Resp) -> Action {
    respond_at(
        header.correlation_id,
        resp,
        header.request_api_version,
        header.request_api_version,
    )
}

/// A response frame body with an explicit header-choosing version and body version.
pub fn respond_at<Resp: Encodable + HeaderVersion>(
    correlation_id: i32,
    resp: &Resp,
    request_version: i16,
    body_version: i16,
) -> Action {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, Resp::header_version(request_version))
        .unwrap();
    resp.encode(&mut buf, body_version).unwrap();
    Action::Respond(buf.freeze())
}

/// An ApiVersions response advertising everything kafka-protocol knows, like a full broker.
pub fn all_versions() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        ApiKey::iter()
            .map(|k| {
                let r = k.valid_versions();
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(r.min)
                    .with_max_version(r.max)
            })
            .collect(),
    )
}

/// Whether a request is ApiVersions.
pub fn is_api_versions(header: &RequestHeader) -> bool {
    header.request_api_key == ApiKey::ApiVersions as i16
}
