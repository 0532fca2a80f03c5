//! The broker side of the group coordinator's port: `__consumer_offsets` writes
//! go through the same log layer as client data, and startup replays them.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{
    Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchDecoder,
    RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_group::{OffsetsBackend, OffsetsRecord};
use tidewater_storage::{LogManager, TopicPartition};
use tracing::warn;

use super::topic_names::OFFSETS_TOPIC;
use super::{AppendNotifier, now_ms};
use crate::metadata::MetadataStore;
use crate::replica::ReplicaManager;

/// Appends group records to `__consumer_offsets` and answers topic existence.
pub struct LogOffsetsBackend {
    pub logs: Arc<LogManager>,
    pub metadata: Arc<dyn MetadataStore>,
    pub notifier: Arc<AppendNotifier>,
    /// This node's id, as the leader replica's appends name it.
    pub node_id: i32,
    /// Appends go through the partition's leader replica (leader epoch, high
    /// watermark from the ISR).
    pub replicas: Arc<ReplicaManager>,
}

/// Encodes records as one uncompressed magic-v2 batch (offsets assigned by the log).
pub fn encode_batch(records: &[OffsetsRecord], timestamp: i64) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i64::try_from(i).unwrap_or(i64::MAX),
            // The encoder starts a new batch whenever offset - sequence changes;
            // this keeps one batch whose base sequence is NO_SEQUENCE.
            sequence: i32::try_from(i)
                .unwrap_or(i32::MAX)
                .wrapping_add(NO_SEQUENCE),
            timestamp,
            key: Some(key.clone()),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

impl OffsetsBackend for LogOffsetsBackend {
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> Result<(), i16> {
        if records.is_empty() {
            return Ok(());
        }
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
        let batch = encode_batch(&records, now_ms()).map_err(|e| {
            warn!(partition, error = %e, "cannot encode __consumer_offsets batch");
            ResponseError::UnknownServerError.code()
        })?;
        let replica = self
            .replicas
            .get(&tp)
            .ok_or(ResponseError::NotCoordinator.code())?;
        // Kafka's group coordinator appends with acks=-1 (offsets.commit.required.acks);
        // here the append is acknowledged once the leader has it (acks=1): the group
        // port is synchronous.
        replica
            .append_as_leader_replica(self.node_id, &batch, false, 0)
            .map_err(|e| match e.error_code() {
                c if c == ResponseError::NotLeaderOrFollower.code() => {
                    ResponseError::NotCoordinator.code()
                }
                c => c,
            })?;
        let log = &replica.log;
        // Offsets must survive a crash once the commit is acknowledged.
        log.flush().map_err(|e| e.error_code())?;
        self.notifier.notify();
        Ok(())
    }

    fn topic_partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.metadata
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }
}

/// Reads a whole `__consumer_offsets` partition as (key, value) records in offset order.
pub fn read_partition(logs: &LogManager, partition: i32) -> Vec<OffsetsRecord> {
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
    let Some(log) = logs.get_log(&tp) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = match log.read(offset, 1 << 20, end, true) {
            Ok(r) => r,
            Err(e) => {
                warn!(partition, offset, error = %e, "cannot read __consumer_offsets; groups of this partition may be incomplete");
                break;
            }
        };
        if read.records.is_empty() {
            break;
        }
        let mut buf = read.records.clone();
        let mut next = offset;
        while !buf.is_empty() {
            match RecordBatchDecoder::decode(&mut buf) {
                Ok(set) => {
                    for r in set.records {
                        next = next.max(r.offset + 1);
                        if r.control || r.offset < offset {
                            continue;
                        }
                        if let Some(key) = r.key {
                            out.push((key, r.value));
                        }
                    }
                }
                Err(e) => {
                    warn!(partition, offset, error = %e, "undecodable __consumer_offsets batch skipped");
                    break;
                }
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips() {
        let recs = vec![
            (Bytes::from_static(b"k1"), Some(Bytes::from_static(b"v1"))),
            (Bytes::from_static(b"k2"), None),
        ];
        let mut b = encode_batch(&recs, 42).unwrap();
        let set = RecordBatchDecoder::decode(&mut b).unwrap();
        assert!(b.is_empty(), "one batch");
        assert_eq!(set.records.len(), 2);
        assert_eq!(set.records[0].sequence, NO_SEQUENCE);
        assert_eq!(set.records[1].key.as_deref(), Some(&b"k2"[..]));
        assert_eq!(set.records[1].value, None);
        assert_eq!(set.records[0].timestamp, 42);
    }
}
