//! TxnOffsetCommit (KIP-98) and the end of its transactions: the offsets a
//! transactional producer commits for a group are written to `__consumer_offsets` in
//! a transactional batch of that producer and stay pending (apart from the committed
//! offsets, so OffsetFetch does not answer them) until the producer's COMMIT marker
//! on that partition makes them committed; an ABORT marker drops them. While any is
//! pending, OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for its
//! partition (KIP-447). Kafka's `GroupMetadata.prepareTxnOffsetCommit` /
//! `completePendingTxnOffsetCommit`.
//!
//! The producer's id and epoch are checked where Kafka checks them: by the log, when
//! the batch is appended (a fenced producer gets INVALID_PRODUCER_EPOCH).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::offsets::OffsetToCommit;
use super::responses::error_code;
use super::{Core, store_offsets_error};
use crate::backend::OffsetsRecord;
use crate::group::CommittedOffset;
use crate::records::RecordKey;

/// An offset that passed validation: its place in the response, partition, value.
type Staged = ((usize, usize), (String, i32), CommittedOffset);

/// The outcome of validating a TxnOffsetCommit.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnCommitPlan {
    /// Nothing to write (every partition failed validation).
    Done(TxnOffsetCommitResponse),
    /// Append `records` as a transactional batch of `producer`, then call
    /// [`Core::complete_txn_offset_commit`].
    Persist {
        partition: i32,
        producer: (i64, i16),
        records: Vec<OffsetsRecord>,
        pending: PendingTxnCommit,
    },
}

/// A validated TxnOffsetCommit waiting for its append; its offsets are pending in
/// the group already (so `require_stable` fetches see them as unstable at once).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTxnCommit {
    group_id: String,
    producer_id: i64,
    response: TxnOffsetCommitResponse,
    /// (topic index, partition index) in the response, for each stored offset.
    positions: Vec<(usize, usize)>,
    keys: Vec<(String, i32)>,
    /// Planning order, which is the log order (planned and appended under one lock).
    order: u64,
}

impl Core {
    /// Validates a TxnOffsetCommit (Kafka's `validateOffsetCommit` with
    /// `isTransactional`); `exists` tells whether a topic partition exists.
    pub fn txn_offset_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        version: i16,
        now_ms: u64,
        exists: &dyn Fn(&str, i32) -> bool,
    ) -> TxnCommitPlan {
        let group_id = req.group_id.as_str().to_owned();
        // v0-2 carry no member: they commit as a simple consumer would.
        let (generation, member_id, instance) = if version >= 3 {
            (
                req.generation_id,
                req.member_id.as_str(),
                req.group_instance_id.as_ref().map(|i| i.as_str()),
            )
        } else {
            (-1, "", None)
        };
        let group_error =
            self.validate_commit(&group_id, generation, member_id, instance, true, now_ms);
        let mut response = TxnOffsetCommitResponse::default();
        let mut staged: Vec<Staged> = Vec::new();
        for (ti, topic) in req.topics.iter().enumerate() {
            let mut out = TxnOffsetCommitResponseTopic::default().with_name(topic.name.clone());
            for (pi, p) in topic.partitions.iter().enumerate() {
                let offset = OffsetToCommit {
                    topic: topic.name.as_str(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 2 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(|m| m.as_str()),
                    expire_timestamp: -1,
                };
                let checked = offset.check(group_error, now_ms, exists).map(|value| {
                    staged.push((
                        (ti, pi),
                        (topic.name.as_str().to_owned(), p.partition_index),
                        value,
                    ));
                });
                out.partitions.push(
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code(checked)),
                );
            }
            response.topics.push(out);
        }
        let Some(group) = self
            .groups
            .get_mut(&group_id)
            .filter(|_| !staged.is_empty())
        else {
            return TxnCommitPlan::Done(response);
        };
        self.next_token += 1;
        let order = self.next_token;
        let producer_id = req.producer_id.0;
        let pending = group.pending_txn_offsets.entry(producer_id).or_default();
        let mut records = Vec::with_capacity(staged.len());
        let mut positions = Vec::with_capacity(staged.len());
        let mut keys = Vec::with_capacity(staged.len());
        for (position, (topic, partition), value) in staged {
            records.push((
                RecordKey::offset_commit(&group_id, &topic, partition).encode(),
                Some(value.encode()),
            ));
            pending.insert((topic.clone(), partition), (order, value));
            positions.push(position);
            keys.push((topic, partition));
        }
        TxnCommitPlan::Persist {
            partition: self.partition_for(&group_id),
            producer: (producer_id, req.producer_epoch),
            records,
            pending: PendingTxnCommit {
                group_id,
                producer_id,
                response,
                positions,
                keys,
                order,
            },
        }
    }

    /// The TxnOffsetCommit's batch is replicated (its offsets wait for the marker), or
    /// its append failed (they are dropped, and each partition gets the error).
    pub fn complete_txn_offset_commit(
        &mut self,
        pending: PendingTxnCommit,
        result: Result<(), ResponseError>,
    ) -> TxnOffsetCommitResponse {
        let PendingTxnCommit {
            group_id,
            producer_id,
            mut response,
            positions,
            keys,
            order,
        } = pending;
        let Err(error) = result.map_err(store_offsets_error) else {
            return response;
        };
        for (ti, pi) in positions {
            if let Some(p) = response
                .topics
                .get_mut(ti)
                .and_then(|t| t.partitions.get_mut(pi))
            {
                p.error_code = error.code();
            }
        }
        if let Some(group) = self.groups.get_mut(&group_id)
            && let Some(offsets) = group.pending_txn_offsets.get_mut(&producer_id)
        {
            for key in keys {
                // A later commit of the same transaction stays.
                if offsets.get(&key).is_some_and(|(o, _)| *o == order) {
                    offsets.remove(&key);
                }
            }
            if offsets.is_empty() {
                group.pending_txn_offsets.remove(&producer_id);
            }
        }
        self.drop_if_unused(&group_id);
        response
    }

    /// A marker of `producer_id` is replicated on `__consumer_offsets` partition
    /// `partition`: its pending offsets in that partition's groups become committed
    /// (unless a later non-transactional commit is newer) or are dropped. Kafka's
    /// `GroupCoordinator.onTransactionCompleted`.
    /// On a partition not loaded yet the marker is kept and applied after its replay.
    pub fn complete_transaction(&mut self, partition: i32, producer_id: i64, commit: bool) {
        if !self.owned.contains(&partition) {
            self.markers_before_load
                .entry(partition)
                .or_default()
                .push((producer_id, commit));
            return;
        }
        let offsets_partitions = self.config.offsets_topic_partitions;
        let mut emptied = Vec::new();
        for group in self.groups.values_mut().filter(|g| {
            crate::partition::partition_for(&g.group_id, offsets_partitions) == partition
        }) {
            let Some(pending) = group.pending_txn_offsets.remove(&producer_id) else {
                continue;
            };
            if commit {
                for (key, (order, value)) in pending {
                    if group.applied_commits.get(&key).is_some_and(|o| *o > order) {
                        continue;
                    }
                    group.applied_commits.insert(key.clone(), order);
                    group.offsets.insert(key, value);
                }
            } else {
                emptied.push(group.group_id.clone());
            }
        }
        for group_id in emptied {
            self.drop_if_unused(&group_id);
        }
    }
}
