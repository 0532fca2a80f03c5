//! Which `__consumer_offsets` partitions the coordinator serves, as the broker sees
//! it: replaying a partition when this broker becomes its leader (Kafka's
//! `GroupCoordinator.onElection`) and giving it up when it stops being the leader
//! (`onResignation`). The rules live in the core (`core::ownership`); this shell
//! only completes parked calls and cancels timers of the groups that left.

use super::GroupCoordinator;
use crate::backend::OffsetsRecord;
use crate::core::{Core, LoadStats, Unloaded};

impl GroupCoordinator {
    /// Marks `__consumer_offsets` partitions as loading before their replay, so their
    /// groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile (optional).
    pub fn begin_loading(&self, partitions: impl IntoIterator<Item = i32>) {
        self.lock().core.begin_loading(partitions);
    }

    /// Replays one `__consumer_offsets` partition's records (in offset order) at startup,
    /// so groups and committed offsets survive restarts. Records use Kafka's exact
    /// key/value schemas (OffsetCommitKey v1 / OffsetCommitValue v1-v4, GroupMetadataKey v2 /
    /// GroupMetadataValue v0-v4), so tools that read the topic (Burrow) work.
    ///
    /// Replaying makes the partition owned (Kafka's `onElection`): its groups are
    /// served from then on. The caller reads the partition's records up to its end
    /// first, as Kafka's loader does, so no committed offset is missed.
    pub fn load_partition(&self, partition: i32, records: Vec<OffsetsRecord>) {
        let _: LoadStats =
            self.with_core(|inner, now| inner.core.load_partition(partition, records, now));
    }

    /// Resigns a `__consumer_offsets` partition (Kafka's `onResignation`), called when
    /// this broker stops leading it: its groups and offsets leave memory (they stay
    /// in the log, where the new leader replays them), members parked in JoinGroup or
    /// SyncGroup for them are answered NOT_COORDINATOR at once, and their timers are
    /// cancelled. Every later request for these groups gets NOT_COORDINATOR until the
    /// partition is loaded again. Offset commits append under the same lock, so none
    /// is in flight here: one that ran first is durable and answered; one that runs
    /// after gets NOT_COORDINATOR. Must not be called from inside
    /// [`crate::OffsetsBackend::append`] (that runs under the coordinator's lock).
    pub fn unload_partition(&self, partition: i32) {
        self.unload_with(|core| Some(core.unload_partition(partition)));
    }

    /// [`GroupCoordinator::load_partition`] for the leadership this broker won at
    /// `leader_epoch` (the `__consumer_offsets` partition's leader epoch, Kafka's
    /// coordinator epoch). Returns false, changing nothing, when a later leadership
    /// change of the partition was already applied: replaying off the request path
    /// can finish after the broker already lost the partition again.
    pub fn load_partition_at_epoch(
        &self,
        partition: i32,
        leader_epoch: i32,
        records: Vec<OffsetsRecord>,
    ) -> bool {
        self.with_core(|inner, now| {
            inner
                .core
                .load_partition_at_epoch(partition, leader_epoch, records, now)
                .is_some()
        })
    }

    /// [`GroupCoordinator::unload_partition`] for the leadership change at
    /// `leader_epoch`; returns false, changing nothing, when it is stale.
    pub fn unload_partition_at_epoch(&self, partition: i32, leader_epoch: i32) -> bool {
        self.unload_with(|core| core.unload_partition_at_epoch(partition, leader_epoch))
    }

    fn unload_with(&self, unload: impl FnOnce(&mut Core) -> Option<Unloaded>) -> bool {
        self.ensure_driver();
        let mut inner = self.lock();
        let Some(unloaded) = unload(&mut inner.core) else {
            return false;
        };
        // First the answers the core shaped per member (its JoinGroup version) ...
        inner.run_effects(self.backend.as_ref(), &self.clock);
        // ... then whatever is left parked for these groups, and their timers.
        inner.forget_groups(&unloaded.groups);
        true
    }

    /// Whether this coordinator leads and has loaded `partition` (so its groups are
    /// served here). Single-node coordinators own every partition from the start.
    pub fn owns_partition(&self, partition: i32) -> bool {
        self.lock().core.owns_partition(partition)
    }

    /// Whether `partition` is marked by [`GroupCoordinator::begin_loading`] and not
    /// replayed yet (its groups answer COORDINATOR_LOAD_IN_PROGRESS). FindCoordinator
    /// should name this broker for such a partition too, as Kafka does: the client
    /// then retries here until the load completes.
    pub fn is_loading_partition(&self, partition: i32) -> bool {
        self.lock().core.is_loading_partition(partition)
    }
}
