//! `Connection::send` is generic over every Kafka request: Produce and Fetch of real
//! record batches (kafka-protocol's batch codec) against the real broker, the path the
//! broker's own inter-broker calls take.

// Test helpers outside #[test] fns: a failing setup must fail the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use common::broker::Broker;
use kafka_protocol::ResponseError;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_client::{Connection, Uuid};

fn record(i: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: i,
        sequence: -1,
        timestamp: 1_700_000_000_000 + i,
        key: Some(Bytes::from(format!("key-{i}"))),
        value: Some(Bytes::from(format!("value-{i}"))),
        headers: IndexMap::new(),
    }
}

fn batch(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).unwrap();
    buf.freeze()
}

#[tokio::test]
async fn produce_then_fetch_round_trips_record_batches() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    admin
        .create_topic("records", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let md = admin.metadata(Some(vec!["records".into()])).await.unwrap();
    let topic_id: Uuid = md.topic("records").unwrap().topic_id;

    let conn = Connection::connect(&broker.bootstrap, "it-records")
        .await
        .unwrap();
    let produce_v = conn.version_for::<ProduceRequest>().unwrap();
    let fetch_v = conn.version_for::<FetchRequest>().unwrap();
    // Produce v13 and Fetch v13 name topics by id only.
    let name = TopicName(StrBytes::from_static_str("records"));

    let mut sent = Vec::new();
    for (n, compression) in [Compression::None, Compression::Lz4, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let base = i64::try_from(n).unwrap() * 3;
        let records: Vec<Record> = (base..base + 3).map(record).collect();
        let topic = if produce_v >= 13 {
            TopicProduceData::default().with_topic_id(topic_id)
        } else {
            TopicProduceData::default().with_name(name.clone())
        };
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![topic.with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(&records, compression))),
            ])]);
        // The broker takes the leadership a moment after CreateTopics returns (it
        // applies the metadata image, then opens the replica): NOT_LEADER_OR_FOLLOWER
        // until then is retriable, as for any Kafka client.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let resp = loop {
            let resp = conn.send(req.clone()).await.unwrap();
            let code = resp.responses[0].partition_responses[0].error_code;
            if code != ResponseError::NotLeaderOrFollower.code()
                || std::time::Instant::now() >= deadline
            {
                break resp;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            p.error_code, 0,
            "produce {compression:?}: {:?}",
            p.error_message
        );
        assert_eq!(p.base_offset, base, "produce {compression:?}");
        sent.extend(records);
    }

    let topic = if fetch_v >= 13 {
        FetchTopic::default().with_topic_id(topic_id)
    } else {
        FetchTopic::default().with_topic(name)
    };
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![topic.with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20),
        ])]);
    let resp = conn.send(req).await.unwrap();
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 9);
    let mut records = p.records.clone().expect("fetched records");
    let fetched: Vec<(i64, Option<Bytes>, Option<Bytes>)> =
        RecordBatchDecoder::decode_all(&mut records)
            .unwrap()
            .into_iter()
            .flat_map(|set| set.records)
            .map(|r| (r.offset, r.key, r.value))
            .collect();
    let expected: Vec<_> = sent
        .into_iter()
        .map(|r| (r.offset, r.key, r.value))
        .collect();
    assert_eq!(fetched, expected);
}
