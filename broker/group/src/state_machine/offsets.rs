//! OffsetCommit, OffsetFetch and OffsetDelete, plus the retention sweep that
//! expires offsets of groups nobody consumes with (KIP-211).
//!
//! A commit is two-phase: [`Core::offset_commit`] validates and produces the
//! records; the offsets enter the cache in [`Core::complete_commit`] only after the
//! append is replicated (the shell waits for the high watermark in between), as
//! Kafka keeps pending offset commits apart until their append completes. Until
//! then OffsetFetch answers the last durable offset.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::join::validate_member;
use super::responses::error_code;
use super::{AfterPersist, Core, store_offsets_error};
use crate::backend::OffsetsRecord;
use crate::config::OFFSET_METADATA_MAX_BYTES;
use crate::group::{Group, GroupState};
use crate::records::{OffsetCommitValue, RecordKey};

/// The outcome of validating an OffsetCommit.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitPlan {
    /// Nothing to write (every partition failed validation).
    Done(OffsetCommitResponse),
    /// Append `records`, then call [`Core::complete_commit`].
    Persist {
        partition: i32,
        records: Vec<OffsetsRecord>,
        pending: PendingCommit,
    },
}

/// (topic index, partition index) in the response, the partition, and the offset
/// to cache once stored.
type PendingOffset = ((usize, usize), (String, i32), OffsetCommitValue);

/// One partition's offset as a commit request names it.
pub(super) struct OffsetToCommit<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a str>,
    pub expire_timestamp: i64,
}

impl OffsetToCommit<'_> {
    /// The partition's error (unknown partition, the group's error, metadata too
    /// large), else the value to store.
    pub(super) fn check(
        &self,
        group_error: Result<(), ResponseError>,
        now_ms: u64,
        exists: &dyn Fn(&str, i32) -> bool,
    ) -> Result<OffsetCommitValue, ResponseError> {
        let metadata = self.metadata.unwrap_or_default();
        if !exists(self.topic, self.partition) {
            Err(ResponseError::UnknownTopicOrPartition)
        } else if let Err(e) = group_error {
            Err(e)
        } else if metadata.len() > OFFSET_METADATA_MAX_BYTES {
            Err(ResponseError::OffsetMetadataTooLarge)
        } else {
            Ok(OffsetCommitValue {
                offset: self.offset,
                leader_epoch: self.leader_epoch,
                metadata: metadata.to_owned(),
                commit_timestamp: now_ms as i64,
                expire_timestamp: self.expire_timestamp,
            })
        }
    }
}

/// A validated commit waiting for its append.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCommit {
    group_id: String,
    response: OffsetCommitResponse,
    offsets: Vec<PendingOffset>,
    /// Planning order, which is the log order (planned and appended under one lock).
    order: u64,
}

impl Core {
    /// Validates an OffsetCommit. `exists` tells whether a topic partition exists.
    pub fn offset_commit(
        &mut self,
        req: &OffsetCommitRequest,
        version: i16,
        now_ms: u64,
        exists: &dyn Fn(&str, i32) -> bool,
    ) -> CommitPlan {
        let group_id = req.group_id.as_str().to_owned();
        let group_error = self.validate_commit(
            group_id.as_str(),
            req.generation_id_or_member_epoch,
            req.member_id.as_str(),
            req.group_instance_id.as_ref().map(|i| i.as_str()),
            false,
            now_ms,
        );
        let mut response = OffsetCommitResponse::default();
        let mut offsets = Vec::new();
        for (ti, topic) in req.topics.iter().enumerate() {
            let mut out = OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id);
            for (pi, p) in topic.partitions.iter().enumerate() {
                let expire_timestamp = if (2..=4).contains(&version) && req.retention_time_ms >= 0 {
                    now_ms as i64 + req.retention_time_ms
                } else {
                    -1
                };
                let offset = OffsetToCommit {
                    topic: topic.name.as_str(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(|m| m.as_str()),
                    expire_timestamp,
                };
                let checked = offset.check(group_error, now_ms, exists).map(|value| {
                    offsets.push((
                        (ti, pi),
                        (topic.name.as_str().to_owned(), p.partition_index),
                        value,
                    ));
                });
                out.partitions.push(
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code(checked)),
                );
            }
            response.topics.push(out);
        }
        if offsets.is_empty() {
            return CommitPlan::Done(response);
        }
        let records = offsets
            .iter()
            .map(|(_, (topic, partition), value)| {
                (
                    RecordKey::offset_commit(&group_id, topic, *partition).encode(),
                    Some(value.encode()),
                )
            })
            .collect();
        let partition = self.partition_for(&group_id);
        let order = self.token();
        CommitPlan::Persist {
            partition,
            records,
            pending: PendingCommit {
                group_id,
                response,
                offsets,
                order,
            },
        }
    }

    /// Kafka's `validateOffsetCommit`: the group-level error every partition gets, if
    /// any. Creates the group of a simple consumer (generation < 0) on first commit.
    /// A transactional commit (TxnOffsetCommit) may come without member id from a
    /// non-empty group and during a rebalance's sync phase, as in Kafka.
    pub(super) fn validate_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
        transactional: bool,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        self.check_coordinator(group_id)?;
        let Some(group) = self.groups.get_mut(group_id) else {
            if generation < 0 {
                self.groups
                    .insert(group_id.to_owned(), Group::new(group_id, now_ms as i64));
                return Ok(());
            }
            return Err(ResponseError::IllegalGeneration);
        };
        if group.is(GroupState::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(consumer) = &group.consumer {
            return consumer.validate_offset_commit(member_id, instance, generation);
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            validate_member(group, member_id, instance)?;
            if generation != group.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
            if !transactional && group.is(GroupState::CompletingRebalance) {
                return Err(ResponseError::RebalanceInProgress);
            }
            if let Some(member) = group.members.get_mut(member_id) {
                // A commit is proof of life, as a heartbeat.
                member.session_deadline_ms = now_ms + member.session_timeout_ms.max(0) as u64;
            }
            return Ok(());
        }
        if !transactional && !group.is(GroupState::Empty) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Caches the offsets once stored, or reports the append failure per partition.
    pub fn complete_commit(
        &mut self,
        pending: PendingCommit,
        result: Result<(), ResponseError>,
    ) -> OffsetCommitResponse {
        let PendingCommit {
            group_id,
            mut response,
            offsets,
            order,
        } = pending;
        let error = result.err().map(store_offsets_error);
        let group = self.groups.get_mut(&group_id);
        let mut group = group;
        for ((ti, pi), key, value) in offsets {
            match error {
                Some(error) => {
                    if let Some(p) = response
                        .topics
                        .get_mut(ti)
                        .and_then(|t| t.partitions.get_mut(pi))
                    {
                        p.error_code = error.code();
                    }
                }
                None => {
                    let Some(group) = group.as_deref_mut() else {
                        continue;
                    };
                    // A later commit of this partition, replicated first, stays.
                    if group.applied_commits.get(&key).is_some_and(|o| *o > order) {
                        continue;
                    }
                    group.applied_commits.insert(key.clone(), order);
                    group.offsets.insert(key, value);
                }
            }
        }
        if error.is_some() {
            self.drop_if_unused(&group_id);
        }
        response
    }

    /// Removes an Empty group that holds nothing (a failed first commit, or all
    /// offsets deleted/expired).
    pub(super) fn drop_if_unused(&mut self, group_id: &str) -> bool {
        let unused = self.groups.get(group_id).is_some_and(|g| {
            g.is(GroupState::Empty)
                && g.members.is_empty()
                && g.pending_members.is_empty()
                && g.offsets.is_empty()
                && g.pending_txn_offsets.is_empty()
        });
        if unused {
            self.groups.remove(group_id);
        }
        unused
    }

    /// Drops offsets and groups past retention, writing tombstones. Kafka's
    /// `cleanupGroupMetadata` with KIP-211 rules: an Empty group's offsets expire
    /// `offsets.retention` after it became Empty; a group without a protocol (simple
    /// consumers) by commit time; a consumer group only for topics it no longer
    /// subscribes to.
    pub fn expire_offsets(&mut self, now_ms: u64) {
        let retention = self.config.offsets_retention_ms;
        let now = now_ms as i64;
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.sort();
        for group_id in ids {
            let Some(group) = self.groups.get_mut(&group_id) else {
                continue;
            };
            if group.has_consumer_members() {
                continue;
            }
            let subscribed = group.subscribed_topics();
            let base = |v: &OffsetCommitValue, group: &Group| -> Option<i64> {
                match (&group.protocol_type, group.state) {
                    (Some(_), GroupState::Empty) => Some(if group.state_timestamp_ms >= 0 {
                        group.state_timestamp_ms
                    } else {
                        v.commit_timestamp
                    }),
                    (None, _) => Some(v.commit_timestamp),
                    (Some(_), _) => None,
                }
            };
            let expired: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|((topic, _), v)| {
                    let base = match base(v, group) {
                        Some(b) => Some(b),
                        None => subscribed
                            .as_ref()
                            .filter(|s| !s.contains(topic))
                            .map(|_| v.commit_timestamp),
                    };
                    let Some(base) = base else { return false };
                    let expires_at = if v.expire_timestamp >= 0 {
                        v.expire_timestamp
                    } else {
                        base.saturating_add(retention)
                    };
                    expires_at <= now
                })
                .map(|(k, _)| k.clone())
                .collect();
            let mut records: Vec<OffsetsRecord> = Vec::new();
            for key in &expired {
                group.offsets.remove(key);
                group.applied_commits.remove(key);
                records.push((
                    RecordKey::offset_commit(&group_id, &key.0, key.1).encode(),
                    None,
                ));
            }
            let dead = group.is(GroupState::Empty)
                && group.members.is_empty()
                && group.offsets.is_empty()
                && group.pending_txn_offsets.is_empty()
                && group.pending_members.is_empty();
            if dead {
                records.push((RecordKey::group_metadata(&group_id).encode(), None));
                self.groups.remove(&group_id);
                tracing::info!(group = %group_id, "group expired");
            }
            if !expired.is_empty() {
                tracing::info!(group = %group_id, offsets = expired.len(), "expired offsets");
            }
            self.persist(&group_id, records, AfterPersist::Nothing);
        }
    }
}
