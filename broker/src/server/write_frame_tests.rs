//! `write_frame` puts every byte of a many-chunk frame on the wire in order,
//! through partial writes: a 4 KiB send buffer and a reader taking small bites.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};

use super::write_frame;
use crate::protocol::{encode_response, encode_response_frame};

/// A Fetch response whose record sets (5 KiB to ~1 MiB) become separate chunks.
fn large_fetch() -> ResponseKind {
    let mut topic = FetchableTopicResponse::default();
    topic.topic = TopicName(StrBytes::from_static_str("t"));
    for (i, size) in [5_000usize, 300_000, 64, 1_000_000, 4_096, 77_777]
        .into_iter()
        .enumerate()
    {
        let mut p = PartitionData::default();
        p.partition_index = i as i32;
        p.records = Some(Bytes::from(
            (0..size)
                .map(|b| (b % 253) as u8 ^ i as u8)
                .collect::<Vec<u8>>(),
        ));
        topic.partitions.push(p);
    }
    let mut r = FetchResponse::default();
    r.responses.push(topic);
    ResponseKind::Fetch(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_chunk_frame_arrives_whole_through_partial_writes() {
    let body = large_fetch();
    let expected = encode_response(ApiKey::Fetch, 12, 9, &body).unwrap();
    let frame = encode_response_frame(ApiKey::Fetch, 12, 9, body).unwrap();
    assert!(frame.chunks().len() > 5, "{} chunks", frame.chunks().len());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    let want = expected.len();
    let reader = tokio::spawn(async move {
        let mut got = Vec::with_capacity(want);
        let mut bite = [0u8; 3000];
        while got.len() < want {
            let n = peer.read(&mut bite).await.unwrap();
            assert!(n > 0, "connection closed after {} bytes", got.len());
            got.extend_from_slice(&bite[..n]);
        }
        got
    });
    let (_read, mut write) = stream.into_split();
    write_frame(&mut write, &frame).await.unwrap();
    let got = reader.await.unwrap();
    assert_eq!(got.len(), want);
    assert!(got == expected[..], "bytes differ");
}
