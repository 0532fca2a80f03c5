//! The sink answers what librdkafka asks in a produce and a consume run, with
//! responses the codec reads back; fetched batches carry the fetched offsets.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;

use super::{SinkError, SinkModel};

fn model() -> SinkModel {
    SinkModel::new("127.0.0.1".into(), 9092, 6, 100, 10).unwrap()
}

fn request<R: Encodable>(api: ApiKey, version: i16, body: &R) -> Bytes {
    let mut h = RequestHeader::default();
    h.request_api_key = api as i16;
    h.request_api_version = version;
    h.correlation_id = 77;
    let mut buf = BytesMut::new();
    h.encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// Checks the size prefix and correlation id, and decodes the body.
fn response<R: Decodable + HeaderVersion>(frame: BytesMut, version: i16, header_version: i16) -> R {
    let mut buf = frame.freeze();
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    assert_eq!(size as usize, buf.len() - 4);
    let _ = buf.split_to(4);
    let header = ResponseHeader::decode(&mut buf, header_version).unwrap();
    assert_eq!(header.correlation_id, 77);
    let body = R::decode(&mut buf, version).unwrap();
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    body
}

#[test]
fn api_versions_lists_what_the_sink_answers() {
    let frame = request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let r: ApiVersionsResponse = response(model().answer(frame).unwrap(), 3, 0);
    assert_eq!(r.error_code, 0);
    let keys: Vec<i16> = r.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&(ApiKey::Produce as i16)) && keys.contains(&(ApiKey::Fetch as i16)));
    // A newer ApiVersions than advertised: UNSUPPORTED_VERSION in v0.
    let frame = request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut raw = frame.to_vec();
    raw[3] = 99;
    let r: ApiVersionsResponse = response(model().answer(Bytes::from(raw)).unwrap(), 0, 0);
    assert_eq!(r.error_code, 35);
}

#[test]
fn metadata_names_every_asked_topic_with_its_partitions_on_the_sink() {
    let mut req = MetadataRequest::default();
    let mut t = MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_static_str("bench")));
    req.topics = Some(vec![t]);
    let r: MetadataResponse = response(
        model().answer(request(ApiKey::Metadata, 9, &req)).unwrap(),
        9,
        1,
    );
    assert_eq!(r.brokers[0].port, 9092);
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].partitions.len(), 6);
    assert_eq!(r.topics[0].partitions[5].partition_index, 5);
}

#[test]
fn produce_is_acknowledged_per_partition() {
    let mut req = ProduceRequest::default();
    req.acks = 1;
    let mut t = TopicProduceData::default();
    t.name = TopicName(StrBytes::from_static_str("bench"));
    for i in [0, 3] {
        let mut p = PartitionProduceData::default();
        p.index = i;
        p.records = Some(Bytes::from_static(
            b"not even a batch: the sink does not look",
        ));
        t.partition_data.push(p);
    }
    req.topic_data.push(t);
    let r: ProduceResponse = response(
        model().answer(request(ApiKey::Produce, 9, &req)).unwrap(),
        9,
        1,
    );
    let parts: Vec<(i32, i16)> = r.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code))
        .collect();
    assert_eq!(parts, vec![(0, 0), (3, 0)]);
}

#[test]
fn fetch_serves_decodable_batches_numbered_from_the_fetch_offset() {
    let mut req = FetchRequest::default();
    req.max_bytes = 1 << 20;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_static_str("bench"));
    let mut p = FetchPartition::default();
    p.partition = 2;
    p.fetch_offset = 1234;
    p.partition_max_bytes = 8 << 10;
    t.partitions.push(p);
    req.topics.push(t);
    let r: FetchResponse = response(
        model().answer(request(ApiKey::Fetch, 12, &req)).unwrap(),
        12,
        1,
    );
    let part = &r.responses[0].partitions[0];
    assert_eq!(part.partition_index, 2);
    let mut records = part.records.clone().unwrap();
    assert!(records.len() <= 8 << 10);
    let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
    // Whole template batches (10 records each) up to the partition's limit.
    assert!(sets.len() >= 2);
    assert!(sets.iter().all(|s| s.records.len() == 10));
    let offsets: Vec<i64> = sets
        .iter()
        .flat_map(|s| s.records.iter().map(|r| r.offset))
        .collect();
    assert_eq!(
        offsets,
        (1234..1234 + offsets.len() as i64).collect::<Vec<_>>()
    );
    assert!(sets.iter().all(|s| {
        s.records
            .iter()
            .all(|r| r.value.as_ref().unwrap().len() == 100)
    }));
}

#[test]
fn an_idempotent_producer_gets_a_producer_id() {
    for version in [0, 4] {
        let frame = request(
            ApiKey::InitProducerId,
            version,
            &kafka_protocol::messages::InitProducerIdRequest::default(),
        );
        let header_version = ApiKey::InitProducerId.response_header_version(version);
        let r: kafka_protocol::messages::InitProducerIdResponse =
            response(model().answer(frame).unwrap(), version, header_version);
        assert_eq!(r.error_code, 0);
        assert_eq!(r.producer_id.0, 1);
    }
}

#[test]
fn anything_else_is_refused() {
    let frame = request(
        ApiKey::JoinGroup,
        0,
        &kafka_protocol::messages::JoinGroupRequest::default(),
    );
    assert!(matches!(
        model().answer(frame),
        Err(SinkError::Unsupported(11))
    ));
    assert!(matches!(
        model().answer(Bytes::from_static(&[0, 1])),
        Err(SinkError::Truncated)
    ));
    let frame = request(ApiKey::Fetch, 13, &FetchRequest::default());
    assert!(matches!(
        model().answer(frame),
        Err(SinkError::Version(ApiKey::Fetch, 13))
    ));
}
