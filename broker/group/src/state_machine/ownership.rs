//! Which `__consumer_offsets` partitions this coordinator leads, and giving one up.
//!
//! Like Kafka's `GroupMetadataManager` (`ownedPartitions` / `loadingPartitions`), a
//! coordinator answers only for groups whose partition ([`Core::partition_for`]) it
//! has loaded. Winning a partition's leadership is [`Core::load_partition`] (Kafka's
//! `onElection`); losing it is [`Core::unload_partition`] (Kafka's `onResignation`,
//! `removeGroupsAndOffsets` + `onGroupUnloaded`). This module owns the ownership
//! checks every group API starts with; it must not decide anything else about a group.

use super::responses::{join_error, sync_error};
use super::{Core, Effect};
use kafka_protocol::ResponseError;

/// What resigning a partition dropped from memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unloaded {
    /// Ids of the dropped groups, sorted, so the shell can cancel their timers and
    /// answer any call still parked for them.
    pub groups: Vec<String>,
    /// Committed offsets dropped with them (they stay in the log for the next leader).
    pub offsets: usize,
}

impl Core {
    /// Whether this coordinator has loaded `partition` and leads it.
    pub fn owns_partition(&self, partition: i32) -> bool {
        self.owned.contains(&partition)
    }

    /// Whether `partition` was marked by [`Core::begin_loading`] and is not replayed yet.
    pub fn is_loading_partition(&self, partition: i32) -> bool {
        self.loading.contains(&partition)
    }

    /// The owned partitions, ascending (for logs and metrics).
    pub fn owned_partitions(&self) -> Vec<i32> {
        let mut owned: Vec<i32> = self.owned.iter().copied().collect();
        owned.sort_unstable();
        owned
    }

    /// Kafka's `validateGroupStatus` after the group id check: a partition being
    /// replayed answers COORDINATOR_LOAD_IN_PROGRESS (the client retries here), one
    /// this coordinator does not lead answers NOT_COORDINATOR (the client looks the
    /// coordinator up again).
    pub(super) fn check_coordinator(&self, group_id: &str) -> Result<(), ResponseError> {
        let partition = self.partition_for(group_id);
        if self.loading.contains(&partition) {
            Err(ResponseError::CoordinatorLoadInProgress)
        } else if !self.owned.contains(&partition) {
            Err(ResponseError::NotCoordinator)
        } else {
            Ok(())
        }
    }

    /// Kafka's `maybeUpdateCoordinatorEpoch`: whether a leadership change of
    /// `partition` at `leader_epoch` is current (not older than one already applied),
    /// recording it if so. Leadership changes can reach the coordinator out of order
    /// when the broker replays a partition off its request path; a stale one is ignored.
    pub fn accept_leader_epoch(&mut self, partition: i32, leader_epoch: i32) -> bool {
        match self.leader_epochs.get(&partition) {
            Some(&current) if leader_epoch < current => {
                tracing::info!(
                    partition,
                    leader_epoch,
                    current,
                    "ignoring stale __consumer_offsets leadership change"
                );
                false
            }
            _ => {
                self.leader_epochs.insert(partition, leader_epoch);
                true
            }
        }
    }

    /// [`Core::load_partition`] for the leadership won at `leader_epoch`; `None` (and
    /// nothing changed) if a later leadership change was already applied.
    pub fn load_partition_at_epoch<R: Into<crate::backend::LoadRecord>>(
        &mut self,
        partition: i32,
        leader_epoch: i32,
        records: impl IntoIterator<Item = R>,
        now_ms: u64,
    ) -> Option<super::LoadStats> {
        self.accept_leader_epoch(partition, leader_epoch)
            .then(|| self.load_partition(partition, records, now_ms))
    }

    /// [`Core::unload_partition`] for the leadership change at `leader_epoch`; `None`
    /// (and nothing changed) if a later one was already applied.
    pub fn unload_partition_at_epoch(
        &mut self,
        partition: i32,
        leader_epoch: i32,
    ) -> Option<Unloaded> {
        self.accept_leader_epoch(partition, leader_epoch)
            .then(|| self.unload_partition(partition))
    }

    /// Resigns `partition`: every group stored in it leaves memory, and each member
    /// parked in JoinGroup or SyncGroup is answered NOT_COORDINATOR (queued as
    /// [`Effect::Join`] / [`Effect::Sync`]) so its client finds the new coordinator
    /// at once instead of waiting out its rebalance timeout. Later requests for
    /// these groups get NOT_COORDINATOR until the partition is loaded again. Timers
    /// still armed for the groups find no group when they fire; the shell cancels
    /// them using [`Unloaded::groups`].
    pub fn unload_partition(&mut self, partition: i32) -> Unloaded {
        self.owned.remove(&partition);
        self.loading.remove(&partition);
        self.markers_before_load.remove(&partition);
        let mut ids: Vec<String> = self
            .groups
            .keys()
            .filter(|id| self.partition_for(id) == partition)
            .cloned()
            .collect();
        ids.sort();
        let mut offsets = 0;
        for id in &ids {
            let Some(group) = self.groups.remove(id) else {
                continue;
            };
            offsets += group.offsets.len();
            for member in group.members.values() {
                if member.awaiting_join {
                    self.effects.push(Effect::Join {
                        group: id.clone(),
                        member_id: member.member_id.clone(),
                        response: join_error(
                            ResponseError::NotCoordinator,
                            &member.member_id,
                            member.join_version,
                        ),
                    });
                }
                if member.awaiting_sync {
                    self.effects.push(Effect::Sync {
                        group: id.clone(),
                        member_id: member.member_id.clone(),
                        response: sync_error(ResponseError::NotCoordinator),
                    });
                }
            }
        }
        tracing::info!(
            partition,
            groups = ids.len(),
            offsets,
            "unloaded __consumer_offsets partition"
        );
        Unloaded {
            groups: ids,
            offsets,
        }
    }
}
