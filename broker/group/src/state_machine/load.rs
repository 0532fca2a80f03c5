//! Replaying a `__consumer_offsets` partition at startup or when this broker becomes
//! its leader (Kafka's `GroupMetadataManager.loadGroupsAndOffsets`): the last record
//! per key wins, tombstones delete, and groups come back with their members, whose
//! sessions restart from now. Once replayed, the partition is owned.
//!
//! Transactional offsets (TxnOffsetCommit) replay as Kafka's loader replays them:
//! pending per producer until that producer's marker; a COMMIT makes them committed
//! unless a later record of the same partition is newer, an ABORT drops them, and
//! those with no marker yet come back pending (their marker arrives later). A marker
//! with nothing pending before it changes nothing.

use std::collections::HashMap;

use bytes::Bytes;

use super::{Core, Timer};
use crate::backend::LoadRecord;
use crate::group::{Group, GroupState, Member};
use crate::records::consumer_group::ConsumerKey;
use crate::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};

impl Core {
    /// Marks partitions as loading: their groups answer COORDINATOR_LOAD_IN_PROGRESS
    /// until [`Core::load_partition`] replays them.
    pub fn begin_loading(&mut self, partitions: impl IntoIterator<Item = i32>) {
        self.loading.extend(partitions);
    }

    /// Replays one partition's records in offset order and takes ownership of it
    /// (Kafka's `onElection`). Undecodable records are skipped with a warning (a
    /// corrupt record must not lose every other group).
    pub fn load_partition<R: Into<LoadRecord>>(
        &mut self,
        partition: i32,
        records: impl IntoIterator<Item = R>,
        now_ms: u64,
    ) -> LoadStats {
        let mut stats = LoadStats::default();
        // Each offset with its record's position in the log.
        let mut offsets: HashMap<String, HashMap<(String, i32), Offset>> = HashMap::new();
        let mut pending: HashMap<i64, HashMap<(String, String, i32), Offset>> = HashMap::new();
        let mut metadata: HashMap<String, Option<GroupMetadataValue>> = HashMap::new();
        let mut consumer: HashMap<String, Vec<(ConsumerKey, Option<Bytes>)>> = HashMap::new();
        for (position, record) in records.into_iter().enumerate() {
            let (producer_id, (key, value)) = match record.into() {
                LoadRecord::Plain(record) => (None, record),
                LoadRecord::Transactional {
                    producer_id,
                    record,
                } => (Some(producer_id), record),
                LoadRecord::Marker {
                    producer_id,
                    commit,
                } => {
                    let ended = pending.remove(&producer_id).unwrap_or_default();
                    for ((group, topic, p), offset) in ended.into_iter().filter(|_| commit) {
                        let slot = offsets.entry(group).or_default();
                        if slot.get(&(topic.clone(), p)).is_none_or(|o| o.0 < offset.0) {
                            slot.insert((topic, p), offset);
                        }
                    }
                    continue;
                }
            };
            match decode(key, value) {
                Ok(Decoded::Offset {
                    group,
                    topic,
                    partition,
                    value,
                }) => match (producer_id, value) {
                    (Some(pid), Some(v)) => {
                        let txn = pending.entry(pid).or_default();
                        txn.insert((group, topic, partition), (position, v));
                    }
                    (Some(pid), None) => {
                        if let Some(txn) = pending.get_mut(&pid) {
                            txn.remove(&(group, topic, partition));
                        }
                    }
                    (None, Some(v)) => {
                        let slot = offsets.entry(group).or_default();
                        slot.insert((topic, partition), (position, v));
                    }
                    (None, None) => {
                        offsets
                            .entry(group)
                            .or_default()
                            .remove(&(topic, partition));
                    }
                },
                Ok(Decoded::Group { group, value }) => {
                    metadata.insert(group, value);
                }
                Ok(Decoded::Consumer(key, value)) => consumer
                    .entry(key.group().to_owned())
                    .or_default()
                    .push((key, value)),
                Ok(Decoded::Skip) => stats.skipped += 1,
                Err(error) => {
                    stats.corrupt += 1;
                    tracing::warn!(partition, %error, "skipping undecodable __consumer_offsets record");
                }
            }
        }
        // Still open: pending in their groups, by producer.
        let mut open: HashMap<String, Vec<OpenOffset>> = HashMap::new();
        for (pid, txn) in pending {
            for ((group, topic, p), offset) in txn {
                open.entry(group)
                    .or_default()
                    .push((pid, (topic, p), offset));
            }
        }
        let mut group_ids: Vec<String> = offsets
            .keys()
            .chain(metadata.keys())
            .chain(open.keys())
            .chain(consumer.keys())
            .cloned()
            .collect();
        group_ids.sort();
        group_ids.dedup();
        for group_id in group_ids {
            let committed = offsets.remove(&group_id).unwrap_or_default();
            let open = open.remove(&group_id).unwrap_or_default();
            let value = metadata.remove(&group_id).flatten();
            let consumer_group = consumer
                .remove(&group_id)
                .and_then(|records| self.replay_consumer_group(&group_id, records, now_ms));
            if value.is_none()
                && committed.is_empty()
                && open.is_empty()
                && consumer_group.is_none()
            {
                self.groups.remove(&group_id);
                continue;
            }
            let mut group = Group::new(&group_id, now_ms as i64);
            if let Some(c) = consumer_group {
                group.protocol_type = Some(crate::group::CONSUMER_PROTOCOL_TYPE.to_owned());
                group.consumer = Some(c);
            }
            // The log holds the newest of every offset: a commit planned before this
            // replay and replicated after it must not overwrite what was replayed. An
            // open transaction's offset is older or newer than the replayed one as its
            // record is, which decides whether its COMMIT replaces it.
            let older = self.token();
            let replayed_at = self.token();
            let newer = self.token();
            for (pid, key, (position, v)) in open {
                let order = match committed.get(&key) {
                    Some((at, _)) if *at > position => older,
                    _ => newer,
                };
                let txn = group.pending_txn_offsets.entry(pid).or_default();
                txn.insert(key, (order, v));
            }
            group.applied_commits = committed
                .keys()
                .map(|key| (key.clone(), replayed_at))
                .collect();
            group
                .offsets
                .extend(committed.into_iter().map(|(k, (_, v))| (k, v)));
            stats.offsets += group.offsets.len();
            if let Some(value) = value {
                self.restore_metadata(&mut group, value, now_ms);
            }
            stats.groups += 1;
            self.groups.insert(group_id, group);
        }
        self.loading.remove(&partition);
        self.owned.insert(partition);
        // Markers replicated between the log read and this replay; one the replay
        // already saw finds nothing pending (its producer's next transaction cannot
        // have offsets here: they are refused until the partition is loaded).
        for (producer_id, commit) in self
            .markers_before_load
            .remove(&partition)
            .unwrap_or_default()
        {
            self.complete_transaction(partition, producer_id, commit);
        }
        tracing::info!(
            partition,
            groups = stats.groups,
            offsets = stats.offsets,
            "loaded __consumer_offsets partition"
        );
        stats
    }

    fn restore_metadata(&mut self, group: &mut Group, value: GroupMetadataValue, now_ms: u64) {
        group.generation_id = value.generation;
        group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        group.protocol_name = value.protocol.clone();
        if value.current_state_timestamp >= 0 {
            group.state_timestamp_ms = value.current_state_timestamp;
        }
        let protocol = value.protocol.unwrap_or_default();
        for m in value.members {
            let token = self.token();
            let deadline = now_ms + m.session_timeout.max(0) as u64;
            group.add_member(Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout,
                session_timeout_ms: m.session_timeout,
                // Only the selected protocol's metadata is stored, as in Kafka.
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                join_version: 0,
                awaiting_join: false,
                awaiting_sync: false,
                is_new: false,
                session_deadline_ms: deadline,
                timer_token: token,
            });
            self.arm(
                &group.group_id,
                Timer::Session {
                    member_id: m.member_id,
                    token,
                },
                deadline,
            );
        }
        group.leader_id = value.leader.filter(|l| group.members.contains_key(l));
        if group.leader_id.is_none() {
            group.leader_id = group.members.keys().next().cloned();
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

/// A replayed offset with its record's position in the replay.
type Offset = (usize, OffsetCommitValue);

/// An offset of a transaction with no marker yet: (producer id, partition, offset).
type OpenOffset = (i64, (String, i32), Offset);

/// What a replay found, for the broker's startup log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub groups: usize,
    pub offsets: usize,
    /// Records of types this coordinator does not own (newer group types).
    pub skipped: usize,
    pub corrupt: usize,
}

enum Decoded {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
    },
    Group {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    Consumer(ConsumerKey, Option<Bytes>),
    Skip,
}

fn decode(key: Bytes, value: Option<Bytes>) -> Result<Decoded, crate::records::RecordError> {
    Ok(match RecordKey::decode(key)? {
        RecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } => {
            let value = value.map(OffsetCommitValue::decode).transpose()?;
            Decoded::Offset {
                group,
                topic,
                partition,
                value,
            }
        }
        RecordKey::GroupMetadata { group } => {
            let value = value.map(GroupMetadataValue::decode).transpose()?;
            Decoded::Group { group, value }
        }
        RecordKey::Consumer(key) => Decoded::Consumer(key, value),
        RecordKey::Other { .. } => Decoded::Skip,
    })
}
