//! The chunked Fetch encoding is byte for byte the codec's own encoding, at every
//! version we advertise, with and without tagged fields; large record sets go
//! out as the very buffers storage handed over (no copy). Seeded by proptest
//! (a failing case prints its seed; PROPTEST_RNG_SEED replays it).

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData, SnapshotId,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchResponse, ProducerId, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

use super::{Chunk, ZERO_COPY_MIN, encode_response, encode_response_frame, supported_range};

/// What varies in one generated partition.
#[derive(Debug, Clone)]
struct PartitionSpec {
    records: Option<usize>,
    tagged: bool,
    aborted: Option<u8>,
    error_code: i16,
}

fn partition_spec() -> impl Strategy<Value = PartitionSpec> {
    (
        prop_oneof![
            Just(None),
            (0usize..64).prop_map(Some),
            (ZERO_COPY_MIN - 2..ZERO_COPY_MIN + 2).prop_map(Some),
            (ZERO_COPY_MIN..200_000).prop_map(Some),
        ],
        any::<bool>(),
        proptest::option::of(0u8..3),
        prop_oneof![Just(0i16), Just(1), Just(6)],
    )
        .prop_map(|(records, tagged, aborted, error_code)| PartitionSpec {
            records,
            tagged,
            aborted,
            error_code,
        })
}

/// A response using only fields `version` has (the codec refuses others).
fn response(version: i16, topics: &[Vec<PartitionSpec>], tagged: bool) -> FetchResponse {
    let mut r = FetchResponse::default();
    r.throttle_time_ms = 3;
    if version >= 7 {
        r.session_id = 99;
    }
    if tagged && version >= 16 {
        let mut e = NodeEndpoint::default();
        e.node_id = BrokerId(2);
        e.host = StrBytes::from_static_str("broker-2");
        e.port = 9092;
        r.node_endpoints.push(e);
    }
    if tagged && version >= 12 {
        r.unknown_tagged_fields
            .insert(900, Bytes::from_static(b"top"));
    }
    for (t, parts) in topics.iter().enumerate() {
        let mut topic = FetchableTopicResponse::default();
        if version >= 13 {
            topic.topic_id = uuid::Uuid::from_u128(t as u128 + 1);
        } else {
            topic.topic = TopicName(StrBytes::from_string(format!("topic-{t}")));
        }
        if tagged && version >= 12 {
            topic
                .unknown_tagged_fields
                .insert(901, Bytes::from_static(b"t"));
        }
        for (i, spec) in parts.iter().enumerate() {
            topic.partitions.push(partition(version, i as i32, spec));
        }
        r.responses.push(topic);
    }
    r
}

fn partition(version: i16, index: i32, spec: &PartitionSpec) -> PartitionData {
    let mut p = PartitionData::default();
    p.partition_index = index;
    p.error_code = spec.error_code;
    p.high_watermark = 1000 + i64::from(index);
    p.last_stable_offset = 990;
    if version >= 5 {
        p.log_start_offset = 7;
    }
    if version >= 11 {
        p.preferred_read_replica = BrokerId(if spec.tagged { 3 } else { -1 });
    }
    if spec.tagged && version >= 12 {
        let mut d = EpochEndOffset::default();
        d.epoch = 4;
        d.end_offset = 500;
        p.diverging_epoch = d;
        let mut l = LeaderIdAndEpoch::default();
        l.leader_id = BrokerId(1);
        l.leader_epoch = 4;
        p.current_leader = l;
        let mut s = SnapshotId::default();
        s.end_offset = 10;
        s.epoch = 2;
        p.snapshot_id = s;
        p.unknown_tagged_fields
            .insert(902, Bytes::from_static(b"p"));
    }
    p.aborted_transactions = spec.aborted.map(|n| {
        (0..n)
            .map(|k| {
                let mut a = AbortedTransaction::default();
                a.producer_id = ProducerId(i64::from(k) + 5);
                a.first_offset = 100;
                a
            })
            .collect()
    });
    p.records = spec
        .records
        .map(|n| Bytes::from((0..n).map(|b| (b % 251) as u8).collect::<Vec<u8>>()));
    p
}

fn fetch_versions() -> impl Strategy<Value = i16> {
    let (min, max) = supported_range(ApiKey::Fetch).unwrap_or((4, 4));
    min..=max
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn chunks_are_the_codecs_encoding(
        version in fetch_versions(),
        topics in proptest::collection::vec(proptest::collection::vec(partition_spec(), 0..5), 0..4),
        tagged in any::<bool>(),
        correlation_id in any::<i32>(),
    ) {
        let body = response(version, &topics, tagged);
        let expected = encode_response(
            ApiKey::Fetch, version, correlation_id, &ResponseKind::Fetch(body.clone()),
        ).unwrap();
        let frame = encode_response_frame(
            ApiKey::Fetch, version, correlation_id, ResponseKind::Fetch(body.clone()),
        ).unwrap();
        prop_assert_eq!(frame.len(), expected.len());
        prop_assert_eq!(frame.to_vec().unwrap(), expected.to_vec());
        // Every large record set is one chunk, at the very address storage gave.
        let large: Vec<&Bytes> = body
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.as_ref())
            .filter(|r| r.len() >= ZERO_COPY_MIN)
            .collect();
        for records in large {
            prop_assert!(
                frame.chunks().iter().any(|c| matches!(c, Chunk::Memory(c) if c.as_ptr() == records.as_ptr() && c.len() == records.len())),
                "a {}-byte record set was copied", records.len()
            );
        }
    }
}

#[test]
fn other_responses_are_one_chunk() {
    let body = ResponseKind::Metadata(Default::default());
    let frame = encode_response_frame(ApiKey::Metadata, 12, 5, body.clone()).unwrap();
    assert_eq!(frame.chunks().len(), 1);
    assert_eq!(
        frame.to_vec().unwrap(),
        encode_response(ApiKey::Metadata, 12, 5, &body)
            .unwrap()
            .to_vec()
    );
}

#[test]
fn a_field_the_version_lacks_is_refused_as_the_codec_does() {
    // preferred_read_replica exists from v11: the codec refuses it at v10, and
    // so must the chunked encoding (a partition large enough to be split).
    let spec = PartitionSpec {
        records: Some(ZERO_COPY_MIN),
        tagged: false,
        aborted: None,
        error_code: 0,
    };
    let mut body = response(10, &[vec![spec]], false);
    body.responses[0].partitions[0].preferred_read_replica = BrokerId(3);
    let body = ResponseKind::Fetch(body);
    assert!(encode_response(ApiKey::Fetch, 10, 1, &body).is_err());
    assert!(encode_response_frame(ApiKey::Fetch, 10, 1, body).is_err());
}
