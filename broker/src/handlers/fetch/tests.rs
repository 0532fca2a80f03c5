//! Fetch handler tests: in-process broker, real logs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_request::{FetchPartition as ReqPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::handle;
use crate::broker_server::offsets_backend::encode_batch;
use crate::broker_server::{Broker, now_ms};
use crate::handlers::test_support::{broker, encodes};

fn produce(b: &Broker, topic: &str, partition: i32, n: usize) {
    let recs: Vec<_> = (0..n)
        .map(|i| {
            (
                Bytes::from(format!("k{i}")),
                Some(Bytes::from(vec![b'x'; 100])),
            )
        })
        .collect();
    let log = b.log(topic, partition).unwrap();
    log.append_as_leader(&encode_batch(&recs, now_ms()).unwrap(), 0, now_ms())
        .unwrap();
    log.update_high_watermark(log.log_end_offset());
    b.replicas().notifier().notify();
}

fn request(topic: &str, offsets: &[(i32, i64)], max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.into()));
    t.partitions = offsets
        .iter()
        .map(|(p, o)| {
            let mut rp = ReqPartition::default();
            rp.partition = *p;
            rp.fetch_offset = *o;
            rp.partition_max_bytes = 1 << 20;
            rp
        })
        .collect();
    let mut r = FetchRequest::default();
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = min_bytes;
    r.topics = vec![t];
    r
}

fn record_count(records: &Option<Bytes>) -> usize {
    let mut b = records.clone().unwrap_or_default();
    RecordBatchDecoder::decode_all(&mut b)
        .unwrap()
        .iter()
        .map(|s| s.records.len())
        .sum()
}

#[tokio::test]
async fn returns_stored_batches_up_to_the_high_watermark() {
    let tb = broker(&[("num.partitions", "2")]);
    let b = &tb.broker;
    b.auto_create_topic("t").unwrap();
    produce(b, "t", 0, 3);
    produce(b, "t", 0, 2);
    let resp = handle(
        b,
        &Default::default(),
        request("t", &[(0, 0), (1, 0)], 0, 1),
        11,
    )
    .await;
    let p0 = &resp.responses[0].partitions[0];
    assert_eq!(p0.error_code, 0);
    assert_eq!(p0.high_watermark, 5);
    assert_eq!(record_count(&p0.records), 5);
    assert_eq!(
        resp.responses[0].partitions[1]
            .records
            .as_ref()
            .map(Bytes::len),
        Some(0)
    );
    // Stored bytes are served as-is.
    let stored = b
        .log("t", 0)
        .unwrap()
        .read(0, 1 << 20, 5, true)
        .unwrap()
        .records;
    assert_eq!(p0.records.as_ref(), Some(&stored));
    for v in [4, 7, 11, 12, 17] {
        let r = handle(b, &Default::default(), request("t", &[(0, 3)], 0, 1), v).await;
        encodes(ApiKey::Fetch, v, ResponseKind::Fetch(r));
    }
}

#[tokio::test]
async fn out_of_range_and_unknown_partitions_are_errors() {
    let tb = broker(&[]);
    let b = &tb.broker;
    b.auto_create_topic("t").unwrap();
    produce(b, "t", 0, 1);
    let resp = handle(
        b,
        &Default::default(),
        request("t", &[(0, 42), (9, 0)], 0, 1),
        11,
    )
    .await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        E::OffsetOutOfRange.code()
    );
    assert_eq!(
        resp.responses[0].partitions[1].error_code,
        E::UnknownTopicOrPartition.code()
    );
}

#[tokio::test]
async fn long_poll_waits_for_min_bytes_and_wakes_on_append() {
    let tb = broker(&[]);
    let b = tb.broker.clone();
    b.auto_create_topic("t").unwrap();
    // Times out empty when nothing arrives.
    let started = std::time::Instant::now();
    let resp = handle(&b, &Default::default(), request("t", &[(0, 0)], 200, 1), 11).await;
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(record_count(&resp.responses[0].partitions[0].records), 0);
    // Wakes as soon as data arrives, well before max_wait.
    let b2: Arc<Broker> = b.clone();
    let waiter = tokio::spawn(async move {
        handle(
            &b2,
            &Default::default(),
            request("t", &[(0, 0)], 30_000, 1),
            11,
        )
        .await
    });
    tokio::task::yield_now().await;
    produce(&b, "t", 0, 2);
    let resp = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record_count(&resp.responses[0].partitions[0].records), 2);
}

#[tokio::test]
async fn incremental_session_reports_only_changes() {
    let tb = broker(&[("num.partitions", "2")]);
    let b = &tb.broker;
    b.auto_create_topic("t").unwrap();
    produce(b, "t", 0, 1);
    let mut full = request("t", &[(0, 0), (1, 0)], 0, 0);
    full.session_id = 0;
    full.session_epoch = 0;
    let resp = handle(b, &Default::default(), full, 11).await;
    let sid = resp.session_id;
    assert_ne!(sid, 0);
    assert_eq!(resp.responses[0].partitions.len(), 2);

    // Epoch 1: partition 0 moved its offset; nothing new anywhere -> empty response.
    let mut inc = request("t", &[(0, 1)], 0, 0);
    inc.session_id = sid;
    inc.session_epoch = 1;
    let resp = handle(b, &Default::default(), inc, 11).await;
    assert_eq!(resp.error_code, 0);
    assert!(resp.responses.is_empty(), "{:?}", resp.responses);

    // New data on partition 1 only.
    produce(b, "t", 1, 1);
    let mut inc = request("t", &[], 0, 0);
    inc.topics.clear();
    inc.session_id = sid;
    inc.session_epoch = 2;
    let resp = handle(b, &Default::default(), inc, 11).await;
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].partitions.len(), 1);
    assert_eq!(resp.responses[0].partitions[0].partition_index, 1);

    let mut stale = request("t", &[], 0, 0);
    stale.topics.clear();
    stale.session_id = sid;
    stale.session_epoch = 2;
    assert_eq!(
        handle(b, &Default::default(), stale, 11).await.error_code,
        E::InvalidFetchSessionEpoch.code()
    );
}
