//! Which `__consumer_offsets` partitions the coordinator serves, as the broker sees
//! it: replaying a partition when this broker becomes its leader (Kafka's
//! `GroupCoordinator.onElection`) and giving it up when it stops being the leader
//! (`onResignation`). The rules live in the core (`state_machine::ownership`); this shell
//! only completes parked calls and cancels timers of the groups that left, and
//! keeps a lock-free view of ownership for FindCoordinator.

use std::sync::atomic::{AtomicU8, Ordering};

use super::GroupCoordinator;
use crate::backend::LoadRecord;
use crate::state_machine::{Core, LoadStats, Unloaded};

const OWNED: u8 = 1;
const LOADING: u8 = 2;

/// Each partition's ownership as of the last change, readable without the core's
/// lock: that lock is held across `__consumer_offsets` appends (disk, replication),
/// and FindCoordinator must neither wait for them nor deadlock when asked from
/// inside one. Written only under the core's lock, right after the core changed.
pub(super) struct OwnershipView {
    states: Box<[AtomicU8]>,
}

impl OwnershipView {
    pub(super) fn of(core: &Core) -> Self {
        let partitions = core.config().offsets_topic_partitions.max(1);
        let view = Self {
            states: (0..partitions).map(|_| AtomicU8::new(0)).collect(),
        };
        view.refresh(core);
        view
    }

    fn refresh(&self, core: &Core) {
        for (partition, state) in (0..).zip(self.states.iter()) {
            let owned = if core.owns_partition(partition) {
                OWNED
            } else {
                0
            };
            let loading = if core.is_loading_partition(partition) {
                LOADING
            } else {
                0
            };
            state.store(owned | loading, Ordering::Release);
        }
    }

    fn has(&self, partition: i32, flag: u8) -> bool {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.states.get(p))
            .is_some_and(|state| state.load(Ordering::Acquire) & flag != 0)
    }
}

impl GroupCoordinator {
    /// Marks `__consumer_offsets` partitions as loading before their replay, so their
    /// groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile (optional).
    pub fn begin_loading(&self, partitions: impl IntoIterator<Item = i32>) {
        let mut inner = self.lock();
        inner.core.begin_loading(partitions);
        self.ownership.refresh(&inner.core);
    }

    /// Replays one `__consumer_offsets` partition's records (in offset order) at startup,
    /// so groups and committed offsets survive restarts. Records use Kafka's exact
    /// key/value schemas (OffsetCommitKey v1 / OffsetCommitValue v1-v4, GroupMetadataKey v2 /
    /// GroupMetadataValue v0-v4), so tools that read the topic (Burrow) work.
    ///
    /// Replaying makes the partition owned (Kafka's `onElection`): its groups are
    /// served from then on. The caller reads the partition's records up to its end
    /// first, as Kafka's loader does, so no committed offset is missed.
    pub fn load_partition<R: Into<LoadRecord>>(
        &self,
        partition: i32,
        records: impl IntoIterator<Item = R>,
    ) {
        let _: LoadStats = self.with_core(|inner, now| {
            let stats = inner.core.load_partition(partition, records, now);
            self.ownership.refresh(&inner.core);
            stats
        });
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
    pub fn load_partition_at_epoch<R: Into<LoadRecord>>(
        &self,
        partition: i32,
        leader_epoch: i32,
        records: impl IntoIterator<Item = R>,
    ) -> bool {
        self.with_core(|inner, now| {
            let loaded = inner
                .core
                .load_partition_at_epoch(partition, leader_epoch, records, now);
            self.ownership.refresh(&inner.core);
            loaded.is_some()
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
        self.ownership.refresh(&inner.core);
        // First the answers the core shaped per member (its JoinGroup version) ...
        inner.run_effects(self.backend.as_ref(), &self.clock);
        self.await_replication(&mut inner);
        // ... then whatever is left parked for these groups, and their timers.
        inner.forget_groups(&unloaded.groups);
        true
    }

    /// Whether this coordinator leads and has loaded `partition` (so its groups are
    /// served here). Single-node coordinators own every partition from the start.
    /// Never waits for the coordinator's lock, which appends hold, so it may be
    /// asked from anywhere, even from inside [`crate::OffsetsBackend::append`].
    pub fn owns_partition(&self, partition: i32) -> bool {
        self.ownership.has(partition, OWNED)
    }

    /// Whether `partition` is marked by [`GroupCoordinator::begin_loading`] and not
    /// replayed yet (its groups answer COORDINATOR_LOAD_IN_PROGRESS). FindCoordinator
    /// should name this broker for such a partition too, as Kafka does: the client
    /// then retries here until the load completes. Never waits for the lock either.
    pub fn is_loading_partition(&self, partition: i32) -> bool {
        self.ownership.has(partition, LOADING)
    }
}
