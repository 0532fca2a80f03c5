//! The sink's answers, sans-IO: one request frame in, one response frame out.
//!
//! Just enough of the Kafka protocol for librdkafka to produce into it and
//! consume from it, and for Kafka's Java producer to produce into it:
//! ApiVersions, Metadata (one broker, any topic, N partitions), InitProducerId
//! (one id for all), Produce (acknowledged, records dropped), ListOffsets (0 / a
//! far-away end) and Fetch (a template record batch, re-stamped with the fetched
//! offsets). Anything else is refused. It must never be mistaken for a broker: it
//! stores nothing.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// The versions the sink answers; low enough to need no topic ids.
const VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 1, 9),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::ApiVersions, 0, 3),
    // The Java producer is idempotent by default with acks=all.
    (ApiKey::InitProducerId, 0, 4),
];

/// The end offset the sink claims for every partition: far beyond any run.
const HIGH_WATERMARK: i64 = 1 << 40;

/// Why a frame got no answer (the connection is then closed).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("frame shorter than a request header")]
    Truncated,
    #[error("API key {0} is not answered by the sink")]
    Unsupported(i16),
    #[error("{0:?} v{1} is outside the versions the sink advertised")]
    Version(ApiKey, i16),
    #[error("decoding {0:?}: {1}")]
    Decode(ApiKey, String),
    #[error("encoding {0:?}: {1}")]
    Encode(ApiKey, String),
}

/// What every connection shares: where clients are sent, and what a fetch returns.
#[derive(Debug, Clone)]
pub struct SinkModel {
    pub host: String,
    pub port: i32,
    pub partitions: i32,
    /// One record batch (magic 2) whose base offset is rewritten per fetch.
    template: Bytes,
    /// Records in `template`.
    template_records: i64,
}

impl SinkModel {
    /// A sink advertising `host:port`, `partitions` per topic, and serving
    /// batches of `batch_records` values of `record_size` bytes.
    pub fn new(
        host: String,
        port: i32,
        partitions: i32,
        record_size: usize,
        batch_records: usize,
    ) -> Result<Self, SinkError> {
        let value = Bytes::from(vec![0x5a; record_size]);
        let records: Vec<Record> = (0..batch_records)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch wherever offset - sequence
                // changes; this keeps one batch whose base sequence is -1 (no
                // idempotent producer), as a plain producer's batches have.
                sequence: i as i32 - 1,
                timestamp: 0,
                key: None,
                value: Some(value.clone()),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options)
            .map_err(|e| SinkError::Encode(ApiKey::Fetch, e.to_string()))?;
        Ok(Self {
            host,
            port,
            partitions,
            template: buf.freeze(),
            template_records: batch_records as i64,
        })
    }

    /// Answers one request frame (without its size prefix) with a response frame
    /// (with its size prefix).
    pub fn answer(&self, frame: Bytes) -> Result<BytesMut, SinkError> {
        if frame.len() < 8 {
            return Err(SinkError::Truncated);
        }
        let raw = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let api = ApiKey::try_from(raw).map_err(|()| SinkError::Unsupported(raw))?;
        let (_, min, max) = VERSIONS
            .iter()
            .find(|(a, _, _)| *a == api)
            .ok_or(SinkError::Unsupported(raw))?;
        let mut buf = frame;
        if api == ApiKey::ApiVersions && version > *max {
            let correlation_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            let mut r = ApiVersionsResponse::default();
            r.error_code = 35; // UNSUPPORTED_VERSION, answered in v0 (KIP-511)
            r.api_keys = api_versions();
            return encode(api, 0, correlation_id, &r);
        }
        if version < *min || version > *max {
            return Err(SinkError::Version(api, version));
        }
        let decode_err = |e: String| SinkError::Decode(api, e);
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
            .map_err(|e| decode_err(e.to_string()))?;
        let id = header.correlation_id;
        match api {
            ApiKey::ApiVersions => {
                let mut r = ApiVersionsResponse::default();
                r.api_keys = api_versions();
                encode(api, version, id, &r)
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(&mut buf, version)
                    .map_err(|e| decode_err(e.to_string()))?;
                encode(api, version, id, &self.metadata(&req))
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut buf, version)
                    .map_err(|e| decode_err(e.to_string()))?;
                encode(api, version, id, &produced(&req))
            }
            ApiKey::ListOffsets => {
                let req = ListOffsetsRequest::decode(&mut buf, version)
                    .map_err(|e| decode_err(e.to_string()))?;
                encode(api, version, id, &list_offsets(&req))
            }
            ApiKey::Fetch => {
                let req = FetchRequest::decode(&mut buf, version)
                    .map_err(|e| decode_err(e.to_string()))?;
                encode(api, version, id, &self.fetch(&req))
            }
            ApiKey::FindCoordinator => {
                // No groups here: the perf consumer assigns its partitions.
                let mut r = FindCoordinatorResponse::default();
                r.error_code = 15; // COORDINATOR_NOT_AVAILABLE
                r.node_id = BrokerId(-1);
                encode(api, version, id, &r)
            }
            ApiKey::InitProducerId => {
                // One id for every producer: the sink checks no sequence numbers.
                let mut r = InitProducerIdResponse::default();
                r.producer_id = ProducerId(1);
                r.producer_epoch = 0;
                encode(api, version, id, &r)
            }
            _ => Err(SinkError::Unsupported(raw)),
        }
    }

    fn metadata(&self, req: &MetadataRequest) -> MetadataResponse {
        let mut broker = MetadataResponseBroker::default();
        broker.node_id = BrokerId(0);
        broker.host = StrBytes::from_string(self.host.clone());
        broker.port = self.port;
        let mut r = MetadataResponse::default();
        r.brokers = vec![broker];
        r.controller_id = BrokerId(0);
        r.cluster_id = Some(StrBytes::from_static_str("tidewater-perf-sink"));
        for t in req.topics.iter().flatten() {
            let mut topic = MetadataResponseTopic::default();
            topic.name = t.name.clone();
            topic.partitions = (0..self.partitions)
                .map(|p| {
                    let mut part = MetadataResponsePartition::default();
                    part.partition_index = p;
                    part.leader_id = BrokerId(0);
                    part.replica_nodes = vec![BrokerId(0)];
                    part.isr_nodes = vec![BrokerId(0)];
                    part
                })
                .collect();
            r.topics.push(topic);
        }
        r
    }

    /// Fills each fetched partition up to its byte limit with copies of the
    /// template batch, numbered from the fetch offset.
    fn fetch(&self, req: &FetchRequest) -> FetchResponse {
        let mut r = FetchResponse::default();
        let mut budget = usize::try_from(req.max_bytes)
            .unwrap_or(0)
            .max(self.template.len());
        for t in &req.topics {
            let mut topic = FetchableTopicResponse::default();
            topic.topic = t.topic.clone();
            for p in &t.partitions {
                let limit = usize::try_from(p.partition_max_bytes)
                    .unwrap_or(0)
                    .min(budget)
                    .max(self.template.len());
                let batches = (limit / self.template.len()).max(1);
                let mut records = BytesMut::with_capacity(batches * self.template.len());
                let mut offset = p.fetch_offset;
                for _ in 0..batches {
                    records.put_i64(offset);
                    records.put_slice(&self.template[8..]);
                    offset += self.template_records;
                }
                budget = budget.saturating_sub(records.len());
                let mut part = PartitionData::default();
                part.partition_index = p.partition;
                part.high_watermark = HIGH_WATERMARK;
                part.last_stable_offset = HIGH_WATERMARK;
                part.records = Some(records.freeze());
                topic.partitions.push(part);
            }
            r.responses.push(topic);
        }
        r
    }
}

/// Acknowledges every partition of a produce request at offset 0 (the records
/// are dropped: the sink measures the client, not storage).
fn produced(req: &ProduceRequest) -> ProduceResponse {
    let mut r = ProduceResponse::default();
    for t in &req.topic_data {
        let mut topic = TopicProduceResponse::default();
        topic.name = t.name.clone();
        for p in &t.partition_data {
            let mut part = PartitionProduceResponse::default();
            part.index = p.index;
            part.log_append_time_ms = -1;
            topic.partition_responses.push(part);
        }
        r.responses.push(topic);
    }
    r
}

fn list_offsets(req: &ListOffsetsRequest) -> ListOffsetsResponse {
    let mut r = ListOffsetsResponse::default();
    for t in &req.topics {
        let mut topic = ListOffsetsTopicResponse::default();
        topic.name = t.name.clone();
        for p in &t.partitions {
            let mut part = ListOffsetsPartitionResponse::default();
            part.partition_index = p.partition_index;
            part.timestamp = -1;
            // -2 is "earliest"; anything else gets the far end.
            part.offset = if p.timestamp == -2 { 0 } else { HIGH_WATERMARK };
            topic.partitions.push(part);
        }
        r.topics.push(topic);
    }
    r
}

fn api_versions() -> Vec<ApiVersion> {
    VERSIONS
        .iter()
        .map(|(api, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *api as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect()
}

fn encode<R: Encodable + HeaderVersion>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<BytesMut, SinkError> {
    let err = |e: String| SinkError::Encode(api, e);
    let size = body.compute_size(version).map_err(|e| err(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(16 + size);
    buf.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    // ApiVersions answers always use header v0 (clients parse it before knowing).
    let header_version = if api == ApiKey::ApiVersions {
        0
    } else {
        R::header_version(version)
    };
    header
        .encode(&mut buf, header_version)
        .map_err(|e| err(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| err(e.to_string()))?;
    let len = i32::try_from(buf.len() - 4)
        .map_err(|_| SinkError::Encode(api, "response over 2 GiB".into()))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}
