//! The broker side of the group coordinator's port: `__consumer_offsets` writes
//! go through the same leader-replica append and acks=all wait as client data (so
//! a commit is acknowledged only once replicated), and startup replays them.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{
    Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchDecoder,
    RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_group::{LoadRecord, OffsetsBackend, OffsetsRecord, Replicated, settled};
use tidewater_storage::{LogManager, TopicPartition};
use tokio::sync::oneshot;
use tracing::warn;

use super::now_ms;
use super::topic_names::OFFSETS_TOPIC;
use crate::metadata::MetadataStore;
use crate::replica_manager::AppendNotifier;
use crate::replica_manager::{AckResult, ReplicaManager};

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
    /// `offsets.commit.timeout.ms`: the longest an append waits for the ISR.
    pub commit_timeout: Duration,
}

/// The record encoder refused a `__consumer_offsets` batch; holds the encoder's own
/// message (`kafka-protocol` reports errors as `anyhow`, which this crate does not use).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a {OFFSETS_TOPIC} batch: {0}")]
pub struct EncodeBatchError(String);

/// Encodes records as one uncompressed magic-v2 batch (offsets assigned by the log).
pub fn encode_batch(records: &[OffsetsRecord], timestamp: i64) -> Result<Bytes, EncodeBatchError> {
    encode_producer_batch(records, None, timestamp)
}

/// [`encode_batch`], as a transactional batch of `producer` (id, epoch) when given:
/// Kafka's TxnOffsetCommit batch, base sequence 0 (the log checks no sequence of a
/// coordinator's batch, only the epoch).
pub fn encode_producer_batch(
    records: &[OffsetsRecord],
    producer: Option<(i64, i16)>,
    timestamp: i64,
) -> Result<Bytes, EncodeBatchError> {
    let (producer_id, producer_epoch, base_sequence) = producer.map_or(
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
        |(id, epoch)| (id, epoch, 0),
    );
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::try_from(i).unwrap_or(i64::MAX),
            // The encoder starts a new batch whenever offset - sequence changes;
            // this keeps one batch.
            sequence: i32::try_from(i)
                .unwrap_or(i32::MAX)
                .wrapping_add(base_sequence),
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
    .map_err(|e| EncodeBatchError(e.to_string()))?;
    Ok(buf.freeze())
}

impl OffsetsBackend for LogOffsetsBackend {
    /// Kafka's `GroupMetadataManager` append: acks=-1 with the topic's
    /// `min.insync.replicas`, through the same leader-replica path and high-watermark
    /// wait as a produce with acks=all; the wait is bounded by
    /// `offsets.commit.timeout.ms`.
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> Replicated {
        if records.is_empty() {
            return settled(Ok(()));
        }
        self.wait(self.append_as_leader(partition, &records, None))
    }

    /// A TxnOffsetCommit's batch, appended with the coordinators' origin: the log
    /// refuses an older epoch of the producer (INVALID_PRODUCER_EPOCH).
    fn append_transactional(
        &self,
        partition: i32,
        producer: (i64, i16),
        records: Vec<OffsetsRecord>,
    ) -> Replicated {
        if records.is_empty() {
            return settled(Ok(()));
        }
        self.wait(self.append_as_leader(partition, &records, Some(producer)))
    }

    fn topic_partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.metadata
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }

    fn topic_info(&self, topic: &str) -> Option<tidewater_group::consumer::TopicInfo> {
        self.metadata
            .topic(topic)
            .map(|t| tidewater_group::consumer::TopicInfo {
                id: t.id,
                partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            })
    }
}

impl LogOffsetsBackend {
    fn wait(
        &self,
        appended: Result<Option<oneshot::Receiver<AckResult>>, ResponseError>,
    ) -> Replicated {
        match appended {
            Ok(Some(ack)) => Box::pin(replicated(ack, self.commit_timeout)),
            Ok(None) => settled(Ok(())),
            Err(error) => settled(Err(error)),
        }
    }

    /// Appends on this node's leader replica (a transactional batch of `producer`
    /// when given); returns the acks=all wait.
    fn append_as_leader(
        &self,
        partition: i32,
        records: &[OffsetsRecord],
        producer: Option<(i64, i16)>,
    ) -> Result<Option<oneshot::Receiver<AckResult>>, ResponseError> {
        let batch = encode_producer_batch(records, producer, now_ms()).map_err(|e| {
            warn!(partition, error = %e, "append refused");
            ResponseError::UnknownServerError
        })?;
        append_internal(
            &self.replicas,
            &self.notifier,
            self.node_id,
            &TopicPartition::new(OFFSETS_TOPIC, partition),
            &batch,
            self.commit_timeout,
            producer.is_some(),
        )
    }
}

/// Appends a batch of the broker's own (an internal topic's records, or with
/// `coordinator` transaction markers and TxnOffsetCommit batches, which the log takes
/// with the coordinators' origin) on this node's leader replica of `tp`; returns the
/// acks=all wait.
pub fn append_internal(
    replicas: &ReplicaManager,
    notifier: &AppendNotifier,
    node_id: i32,
    tp: &TopicPartition,
    batch: &[u8],
    timeout: Duration,
    coordinator: bool,
) -> Result<Option<oneshot::Receiver<AckResult>>, ResponseError> {
    let replica = replicas.get(tp).ok_or(ResponseError::NotCoordinator)?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let (_, ack) = if coordinator {
        replica.append_markers_as_leader_replica(node_id, batch, timeout_ms)
    } else {
        replica.append_as_leader_replica(node_id, batch, true, timeout_ms)
    }
    .map_err(|e| e.error())?;
    // A single-replica partition (one node) has no follower to rely on. A replicated
    // one relies on its ISR, as Kafka does: an fsync here, per commit, held a runtime
    // thread for a journal commit and stalled every other request with it.
    if replica.lock().replicas.len() <= 1 {
        replica.log.flush().map_err(|e| e.error())?;
    }
    // Followers long-poll for it, as for produced data.
    notifier.notify();
    Ok(ack)
}

/// Waits until the high watermark covers an append, as a produce with acks=all
/// does; the leader tick expires the wait too, the timeout here is the backstop.
pub async fn replicated(
    mut ack: oneshot::Receiver<AckResult>,
    timeout: Duration,
) -> Result<(), ResponseError> {
    // Already settled (a one-replica ISR): no timer needed.
    let outcome = match ack.try_recv() {
        Ok(result) => Ok(result),
        Err(oneshot::error::TryRecvError::Closed) => Err(()),
        // Outside a runtime (never in the broker) no timer can be armed: the leader
        // tick still expires the wait.
        Err(oneshot::error::TryRecvError::Empty)
            if tokio::runtime::Handle::try_current().is_err() =>
        {
            ack.await.map_err(|_| ())
        }
        Err(oneshot::error::TryRecvError::Empty) => {
            match tokio::time::timeout(timeout + ACK_TIMEOUT_SLACK, ack).await {
                Ok(received) => received.map_err(|_| ()),
                Err(_) => return Err(ResponseError::RequestTimedOut),
            }
        }
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.error()),
        // The replica dropped the wait: it lost the leadership.
        Err(()) => Err(ResponseError::NotLeaderOrFollower),
    }
}

/// How much longer than `offsets.commit.timeout.ms` the wait lasts, so the leader
/// tick (which names the cause) normally answers first; produce waits the same.
const ACK_TIMEOUT_SLACK: Duration = Duration::from_millis(500);

/// Reads a whole internal topic partition (`__consumer_offsets`,
/// `__transaction_state`) as (key, value) records in offset order, transactional or
/// not, without the markers.
pub fn read_partition(logs: &LogManager, tp: &TopicPartition) -> Vec<OffsetsRecord> {
    read_partition_records(logs, tp)
        .into_iter()
        .filter_map(|r| match r {
            LoadRecord::Plain(record) | LoadRecord::Transactional { record, .. } => Some(record),
            LoadRecord::Marker { .. } => None,
        })
        .collect()
}

/// Reads a whole internal topic partition in offset order, each record with its
/// batch's producer when transactional, and the transaction markers (a
/// `__consumer_offsets` replay needs both for TxnOffsetCommit's offsets).
pub fn read_partition_records(logs: &LogManager, tp: &TopicPartition) -> Vec<LoadRecord> {
    let partition = tp.partition;
    let Some(log) = logs.get_log(tp) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = match log.read(offset, 1 << 20, end, true) {
            Ok(r) => r,
            Err(e) => {
                warn!(topic = %tp.topic, partition, offset, error = %e, "cannot read an internal topic; its coordinator state may be incomplete");
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
                        if r.offset < offset {
                            continue;
                        }
                        if r.control {
                            // Kafka's control record key: version, type (0 abort, 1 commit).
                            if let Some(key) = r.key.filter(|k| k.len() >= 4) {
                                out.push(LoadRecord::Marker {
                                    producer_id: r.producer_id,
                                    commit: key[2..4] == [0, 1],
                                });
                            }
                        } else if let Some(key) = r.key {
                            let record = (key, r.value);
                            out.push(if r.transactional {
                                LoadRecord::Transactional {
                                    producer_id: r.producer_id,
                                    record,
                                }
                            } else {
                                LoadRecord::Plain(record)
                            });
                        }
                    }
                }
                Err(e) => {
                    warn!(topic = %tp.topic, partition, offset, error = %e, "undecodable internal topic batch skipped");
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
    use tidewater_replication::ReplicaError;

    fn wait_result(send: impl FnOnce(oneshot::Sender<AckResult>)) -> Result<(), ResponseError> {
        let (tx, rx) = oneshot::channel();
        send(tx);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(replicated(rx, Duration::from_millis(1)))
    }

    #[test]
    fn the_replication_wait_reports_kafka_error_codes() {
        assert_eq!(wait_result(|tx| drop(tx.send(Ok(())))), Ok(()));
        let failed = |e: ReplicaError| wait_result(move |tx| drop(tx.send(Err(e))));
        assert_eq!(
            failed(ReplicaError::NotEnoughReplicasAfterAppend { isr: 1, min_isr: 2 }),
            Err(ResponseError::NotEnoughReplicasAfterAppend)
        );
        assert_eq!(
            failed(ReplicaError::RequestTimedOut { required_offset: 3 }),
            Err(ResponseError::RequestTimedOut)
        );
        assert_eq!(
            failed(ReplicaError::NoLongerLeader),
            Err(ResponseError::NotLeaderOrFollower)
        );
        // The leader dropped the wait (it lost the leadership).
        assert_eq!(wait_result(drop), Err(ResponseError::NotLeaderOrFollower));
        // Nobody answers: the timeout (plus slack) ends the wait.
        let (_kept, rx) = oneshot::channel::<AckResult>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        assert_eq!(
            runtime.block_on(replicated(rx, Duration::from_millis(1))),
            Err(ResponseError::RequestTimedOut)
        );
    }

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
