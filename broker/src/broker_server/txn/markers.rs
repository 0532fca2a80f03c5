//! Transaction markers (Kafka's `TransactionMarkerChannelManager` and the leader side of
//! `WriteTxnMarkers`): an ended transaction's COMMIT or ABORT control batch goes to
//! each of its partitions' leaders, this broker's own partitions directly and the others
//! with a WriteTxnMarkers request; once every partition has its marker the coordinator
//! writes CompleteCommit/CompleteAbort.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_SEQUENCE, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_group::GroupCoordinator;
use tidewater_storage::TopicPartition;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::super::now_ms;
use super::super::offsets_backend::{append_internal, replicated};
use super::super::topic_names::OFFSETS_TOPIC;
use super::TxnHost;
use crate::replica_manager::{AckResult, AppendNotifier, ReplicaManager};

/// How long a marker whose leader could not take it waits before it is sent again.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The control batch of a marker, as Kafka's `EndTransactionMarker` writes it: one
/// control record, key = (version 0, type: 0 abort / 1 commit), value = (version 0,
/// coordinator epoch); transactional, with the producer's id and epoch.
pub fn encode_marker(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    timestamp: i64,
) -> Result<Bytes, String> {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: NO_SEQUENCE,
        timestamp,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [record].iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// The leader side of WriteTxnMarkers: appends each marker on this broker's leader
/// replicas (acks=all) and answers each partition's error once the ISR has it. A
/// marker replicated on a `__consumer_offsets` partition ends the producer's
/// transaction in the group coordinator there (its TxnOffsetCommit offsets become
/// committed or are dropped), as Kafka's `onTransactionCompleted`.
pub async fn write_markers(
    replicas: &ReplicaManager,
    notifier: &AppendNotifier,
    groups: &GroupCoordinator,
    node_id: i32,
    timeout: Duration,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let ended: Vec<(i64, bool)> = req
        .markers
        .iter()
        .map(|m| (m.producer_id.0, m.transaction_result))
        .collect();
    let mut waits: Vec<(usize, usize, usize, oneshot::Receiver<AckResult>)> = Vec::new();
    let mut resp = WriteTxnMarkersResponse::default();
    let image = replicas.image();
    for (m, marker) in req.markers.into_iter().enumerate() {
        let mut result = WritableTxnMarkerResult::default();
        result.producer_id = marker.producer_id;
        let batch = encode_marker(
            marker.producer_id.0,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.transaction_result,
            now_ms(),
        );
        for (t, topic) in marker.topics.into_iter().enumerate() {
            let mut tr = WritableTxnMarkerTopicResult::default();
            tr.name = topic.name.clone();
            for (p, partition) in topic.partition_indexes.into_iter().enumerate() {
                let tp = TopicPartition::new(topic.name.0.to_string(), partition);
                let appended = match (&batch, replicas.get(&tp)) {
                    (Err(e), _) => {
                        warn!(%tp, error = %e, "cannot encode a transaction marker");
                        Err(E::UnknownServerError)
                    }
                    (Ok(_), None) if image.topic(&tp.topic).is_none() => {
                        Err(E::UnknownTopicOrPartition)
                    }
                    (Ok(_), None) => Err(E::NotLeaderOrFollower),
                    (Ok(batch), Some(_)) => {
                        append_internal(replicas, notifier, node_id, &tp, batch, timeout, true)
                            .map_err(|e| match e {
                                E::NotCoordinator => E::NotLeaderOrFollower,
                                e => e,
                            })
                    }
                };
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = partition;
                match appended {
                    Ok(Some(ack)) => waits.push((m, t, p, ack)),
                    Ok(None) => {}
                    Err(e) => pr.error_code = e.code(),
                }
                tr.partitions.push(pr);
            }
            result.topics.push(tr);
        }
        resp.markers.push(result);
    }
    for (m, t, p, ack) in waits {
        if let Err(e) = replicated(ack, timeout).await {
            resp.markers[m].topics[t].partitions[p].error_code = e.code();
        }
    }
    for (result, (producer_id, commit)) in resp.markers.iter().zip(ended) {
        let offsets = result
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == OFFSETS_TOPIC);
        for p in offsets
            .flat_map(|t| &t.partitions)
            .filter(|p| p.error_code == 0)
        {
            groups.complete_transaction(p.partition_index, producer_id, commit);
        }
    }
    resp
}

/// One leader's share of an ended transaction's markers.
fn request(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    partitions: &[TopicPartition],
) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(producer_id);
    marker.producer_epoch = producer_epoch;
    marker.transaction_result = commit;
    marker.coordinator_epoch = coordinator_epoch;
    marker.topics = topics
        .into_iter()
        .map(|(name, partition_indexes)| {
            let mut t = WritableTxnMarkerTopic::default();
            t.name = TopicName(StrBytes::from_string(name.to_string()));
            t.partition_indexes = partition_indexes;
            t
        })
        .collect();
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    req
}

/// The partitions a WriteTxnMarkers response says have their marker.
fn written(resp: &WriteTxnMarkersResponse) -> Vec<(TopicPartition, i16)> {
    resp.markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    p.error_code,
                )
            })
        })
        .collect()
}

/// What a partition leader's answer to a marker means for the coordinator.
#[derive(Debug, PartialEq, Eq)]
enum MarkerOutcome {
    Written,
    /// Not written yet (no leader, not enough replicas, a timeout...): sent again.
    Retry,
    /// The transaction is no longer this coordinator's to end: a newer coordinator
    /// epoch wrote the producer's marker (TRANSACTION_COORDINATOR_FENCED), or the
    /// producer's epoch moved on (INVALID_PRODUCER_EPOCH). Kafka's
    /// `TransactionMarkerRequestCompletionHandler` stops sending and leaves the
    /// transaction to the coordinator that fenced it.
    Abandon,
}

fn outcome_of(code: i16) -> MarkerOutcome {
    if code == 0 {
        MarkerOutcome::Written
    } else if code == E::TransactionCoordinatorFenced.code()
        || code == E::InvalidProducerEpoch.code()
    {
        MarkerOutcome::Abandon
    } else {
        MarkerOutcome::Retry
    }
}

impl TxnHost {
    /// Sends an ended transaction's markers in the background, then completes it.
    pub(super) fn spawn_markers(&self, transactional_id: String) {
        if let Some(this) = self.this.upgrade() {
            tokio::spawn(async move { this.complete_markers(transactional_id).await });
        }
    }

    /// Kafka's marker channel for one transaction: every partition is sent its marker
    /// until its leader took it (or its topic is gone), while this broker still
    /// coordinates the id; then the Complete* state is written.
    async fn complete_markers(self: Arc<Self>, transactional_id: String) {
        let (markers, coordinator_epoch) = {
            let c = self.lock();
            match (
                c.markers(&transactional_id),
                c.coordinator_epoch(&transactional_id),
            ) {
                (Some(m), Some(e)) => (m, e),
                _ => return,
            }
        };
        let mut pending: Vec<TopicPartition> = markers
            .partitions
            .iter()
            .map(|(t, p)| TopicPartition::new(t.clone(), *p))
            .collect();
        loop {
            if self.lock().coordinator_epoch(&transactional_id) != Some(coordinator_epoch) {
                debug!(%transactional_id, "no longer its coordinator: markers left to the next");
                return;
            }
            let image = self.cluster.image();
            // A deleted topic needs no marker (Kafka drops it too).
            pending.retain(|tp| image.topic(&tp.topic).is_some());
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            for tp in &pending {
                let leader = image
                    .topic(&tp.topic)
                    .and_then(|t| t.partitions.get(&tp.partition))
                    .map_or(-1, |p| p.leader);
                by_leader.entry(leader).or_default().push(tp.clone());
            }
            let mut failed = Vec::new();
            let mut abandoned = false;
            for (leader, partitions) in by_leader {
                let req = request(
                    markers.producer_id,
                    markers.producer_epoch,
                    coordinator_epoch,
                    markers.commit,
                    &partitions,
                );
                let outcome = if leader < 0 {
                    None
                } else if leader == self.node_id {
                    Some(
                        write_markers(
                            &self.replicas,
                            self.replicas.notifier(),
                            &self.groups,
                            self.node_id,
                            self.write_timeout,
                            req,
                        )
                        .await,
                    )
                } else {
                    self.send(leader, req).await
                };
                match outcome {
                    None => failed.extend(partitions),
                    Some(resp) => {
                        for (tp, code) in written(&resp) {
                            match outcome_of(code) {
                                MarkerOutcome::Written => {}
                                MarkerOutcome::Retry => {
                                    debug!(%transactional_id, %tp, code, "marker not written yet");
                                    failed.push(tp);
                                }
                                MarkerOutcome::Abandon => {
                                    info!(%transactional_id, %tp, code, coordinator_epoch,
                                        "a newer coordinator or producer epoch ended this transaction: no more markers from here");
                                    abandoned = true;
                                }
                            }
                        }
                    }
                }
            }
            if abandoned {
                return;
            }
            pending = failed;
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
        self.write_complete(&transactional_id).await;
    }

    /// Every marker is written: CompleteCommit/CompleteAbort, retried while this broker
    /// still coordinates the id (a new coordinator sends the markers again anyway).
    async fn write_complete(&self, transactional_id: &str) {
        loop {
            let transit = self.lock().markers_written(transactional_id, now_ms());
            let t = match transit {
                Ok(t) => t,
                Err(e) => {
                    debug!(%transactional_id, error = %e, "transaction not completed here");
                    return;
                }
            };
            match self.write(transactional_id, &t).await {
                Ok(()) => {
                    info!(%transactional_id, state = %t.state, "transaction completed");
                    return;
                }
                Err(E::NotCoordinator) => return,
                Err(e) => {
                    warn!(%transactional_id, error = ?e, "cannot complete the transaction yet");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
            }
        }
    }

    /// WriteTxnMarkers to another broker, on the connection kept to it; `None` when
    /// it cannot be reached.
    async fn send(
        &self,
        leader: i32,
        req: WriteTxnMarkersRequest,
    ) -> Option<WriteTxnMarkersResponse> {
        match self
            .marker_channels
            .send(&self.replicas, leader, req, None)
            .await
        {
            Ok(resp) => Some(resp),
            Err(e) => {
                debug!(leader, error = %e, "WriteTxnMarkers failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn a_fenced_coordinator_stops_sending_and_other_errors_are_retried() {
        assert_eq!(outcome_of(0), MarkerOutcome::Written);
        assert_eq!(
            outcome_of(E::TransactionCoordinatorFenced.code()),
            MarkerOutcome::Abandon
        );
        assert_eq!(
            outcome_of(E::InvalidProducerEpoch.code()),
            MarkerOutcome::Abandon
        );
        for retried in [
            E::NotLeaderOrFollower,
            E::NotEnoughReplicas,
            E::RequestTimedOut,
            E::UnknownTopicOrPartition,
        ] {
            assert_eq!(outcome_of(retried.code()), MarkerOutcome::Retry);
        }
    }

    #[test]
    fn a_marker_is_one_transactional_control_record_with_kafkas_key_and_value() {
        let mut b = encode_marker(7, 3, 11, true, 42).unwrap();
        let set = RecordBatchDecoder::decode(&mut b).unwrap();
        let r = &set.records[0];
        assert_eq!(set.records.len(), 1);
        assert!(r.control && r.transactional);
        assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (7, 3, -1));
        assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 11][..]));
        let mut abort = encode_marker(7, 3, 11, false, 42).unwrap();
        let set = RecordBatchDecoder::decode(&mut abort).unwrap();
        assert_eq!(set.records[0].key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    }
}
