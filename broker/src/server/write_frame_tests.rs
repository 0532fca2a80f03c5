//! `write_frame` puts every byte of a many-chunk frame on the wire in order,
//! through partial writes: a 4 KiB send buffer and a reader taking small bites.
//! Frames whose record sets are file ranges (sendfile) arrive byte for byte as
//! the in-memory encoding of the same Fetch; a range cut short under the send
//! closes the connection instead of sending a malformed frame.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};

use super::write_frame;
use crate::broker_server::offsets_backend::encode_batch;
use crate::broker_server::{Broker, now_ms};
use crate::handlers::fetch;
use crate::handlers::test_support::broker;
use crate::protocol::{
    Chunk, ResponseFrame, encode_fetch_frame, encode_response, encode_response_frame,
};

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

/// Connects a socket with a 4 KiB send buffer to a reader taking 3000-byte
/// bites; returns the write half and the reader's task (all bytes until close).
async fn narrow_pipe() -> (
    tokio::net::tcp::OwnedWriteHalf,
    tokio::task::JoinHandle<Vec<u8>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut bite = [0u8; 3000];
        loop {
            match peer.read(&mut bite).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&bite[..n]),
            }
        }
    });
    let (_read, write) = stream.into_split();
    (write, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_chunk_frame_arrives_whole_through_partial_writes() {
    let body = large_fetch();
    let expected = encode_response(ApiKey::Fetch, 12, 9, &body).unwrap();
    let frame = encode_response_frame(ApiKey::Fetch, 12, 9, body).unwrap();
    assert!(frame.chunks().len() > 5, "{} chunks", frame.chunks().len());
    let (mut write, reader) = narrow_pipe().await;
    write_frame(&mut write, &frame).await.unwrap();
    drop(write);
    let got = reader.await.unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected[..], "bytes differ");
}

/// Appends `batches` batches of `per_batch` 100-byte records to partition `p`.
fn produce(b: &Broker, p: i32, batches: usize, per_batch: usize) {
    let log = b.log("z", p).unwrap();
    for n in 0..batches {
        let recs: Vec<_> = (0..per_batch)
            .map(|i| {
                (
                    Bytes::from(format!("k{n}-{i}")),
                    Some(Bytes::from(vec![b'a' + (i % 26) as u8; 100])),
                )
            })
            .collect();
        log.append_as_leader(&encode_batch(&recs, now_ms()).unwrap(), 0, now_ms())
            .unwrap();
    }
    log.update_high_watermark(log.log_end_offset());
}

/// Fetches every partition of "z" from offset 0 (by name, and by id for v13+).
fn fetch_all(b: &Broker, partitions: i32) -> kafka_protocol::messages::FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_static_str("z"));
    t.topic_id = b.metadata().topic("z").unwrap().id;
    t.partitions = (0..partitions)
        .map(|p| {
            let mut fp = FetchPartition::default();
            fp.partition = p;
            fp.partition_max_bytes = 200_000;
            fp
        })
        .collect();
    let mut r = kafka_protocol::messages::FetchRequest::default();
    r.max_bytes = 1 << 20;
    r.topics = vec![t];
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ranges_are_sent_as_the_in_memory_encoding_of_the_same_fetch() {
    let tb = broker(&[("num.partitions", "4"), ("log.segment.bytes", "65536")]);
    let b = &tb.broker;
    b.auto_create_topic("z").unwrap();
    produce(b, 0, 1, 2); // under ZERO_COPY_MIN: read into memory
    produce(b, 1, 40, 30); // ~140 KB over several segments: one segment's range
    produce(b, 2, 3, 60); // ~20 KB
    for version in [4, 11, 12, 13, 17] {
        let reply = fetch::handle_zero_copy(b, &Default::default(), fetch_all(b, 4), version).await;
        let kinds: Vec<bool> = reply.files.iter().map(Option::is_some).collect();
        assert_eq!(kinds, [false, true, true, false], "v{version}");
        let memory = fetch::handle(b, &Default::default(), fetch_all(b, 4), version).await;
        let expected =
            encode_response(ApiKey::Fetch, version, 3, &ResponseKind::Fetch(memory)).unwrap();
        let frame = encode_fetch_frame(version, 3, reply.body, reply.files).unwrap();
        assert!(frame.chunks().iter().any(|c| matches!(c, Chunk::File(_))));
        assert_eq!(frame.to_vec().unwrap(), expected.to_vec(), "v{version}");
        let (mut write, reader) = narrow_pipe().await;
        write_frame(&mut write, &frame).await.unwrap();
        drop(write);
        let got = reader.await.unwrap();
        assert!(got == expected[..], "v{version}: bytes on the wire differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_range_truncated_before_it_is_sent_fails_the_write() {
    let tb = broker(&[]);
    let b = &tb.broker;
    b.auto_create_topic("z").unwrap();
    produce(b, 0, 4, 60);
    let reply = fetch::handle_zero_copy(b, &Default::default(), fetch_all(b, 1), 12).await;
    let frame: ResponseFrame = encode_fetch_frame(12, 3, reply.body, reply.files).unwrap();
    // A follower's divergent tail is cut while the response waits to be sent.
    b.log("z", 0).unwrap().truncate_to(60).unwrap();
    let (mut write, reader) = narrow_pipe().await;
    let err = write_frame(&mut write, &frame).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    drop(write);
    assert!(reader.await.unwrap().len() < frame.len());
}
