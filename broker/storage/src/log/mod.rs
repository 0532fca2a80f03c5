//! A partition's log: an ordered map of segments plus the offsets (log start, log end,
//! high watermark, recovery point), the leader-epoch cache and producer state. Appends
//! are serialized by one mutex per partition; reads only take the segment map's read
//! lock briefly and then use positional reads, so they run concurrently with appends.

mod append;
mod file_read;
mod load;
mod maintenance;
mod read;
pub(crate) mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use file_read::{FileReadResult, FileRecords};

use tidewater_replication::{EpochEntry, LeaderEpochCache};

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::producer_state::{ProducerEntry, ProducerStateManager};
use crate::segment::Segment;
use crate::sync;
use crate::topic_partition::TopicPartition;

/// The result of an append, for the Produce response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogAppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// The broker time written into the batches, -1 unless LogAppendTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub record_count: u64,
    /// An idempotent retry of a batch already in the log; offsets are the original ones.
    pub duplicate: bool,
}

/// The result of a read, for the Fetch response.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// Whole stored batches, never re-encoded.
    pub records: bytes::Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

/// An answer to ListOffsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: Option<i32>,
}

/// The last batch of a producer, as the cleaner must keep it (Kafka's `LastRecord`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

/// State changed only under the append lock.
struct AppendState {
    producers: ProducerStateManager,
    /// The partition's one leader-epoch cache; every change is checkpointed at once.
    epochs: LeaderEpochCache,
    /// The checkpoint holds entries an append assigned but no fsync made durable yet:
    /// it is synced before the recovery point moves past them.
    epochs_unsynced: bool,
    unflushed_messages: i64,
    last_flush_ms: i64,
    /// Every aborted transaction of the log, by marker offset: what the segments'
    /// `.txnindex` files hold, for `read_committed` fetches.
    aborted: Vec<crate::txn_index::AbortedTxn>,
}

/// How a log starts: what the log dir's checkpoints said about it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadParams {
    pub recovery_point: i64,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub cleaner_offset: i64,
    pub clean_shutdown: bool,
    pub now_ms: i64,
}

pub struct Log {
    tp: TopicPartition,
    dir: RwLock<PathBuf>,
    /// Shared so the append path takes a reference count, not a copy, per append.
    config: RwLock<Arc<LogConfig>>,
    append: Mutex<AppendState>,
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    log_start: AtomicI64,
    log_end: AtomicI64,
    high_watermark: AtomicI64,
    recovery_point: AtomicI64,
    /// First offset the compactor has not cleaned yet (Kafka's cleaner checkpoint).
    first_dirty_offset: AtomicI64,
    /// One compaction at a time per log.
    pub(crate) cleaning: Mutex<()>,
    /// Segments renamed `.deleted`, removed once their deadline (ms) passes.
    pending_deletes: Mutex<Vec<(i64, Arc<Segment>)>>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Log {
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> PathBuf {
        sync::read(&self.dir).clone()
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    /// Clamped to [log start, log end].
    pub fn update_high_watermark(&self, hw: i64) {
        let hw = hw.clamp(self.log_start_offset(), self.log_end_offset());
        self.high_watermark.store(hw, Ordering::Release);
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    pub(crate) fn cleaner_offset(&self) -> i64 {
        self.first_dirty_offset.load(Ordering::Acquire)
    }
    pub fn config(&self) -> LogConfig {
        LogConfig::clone(&sync::read(&self.config))
    }
    pub(crate) fn config_ref(&self) -> Arc<LogConfig> {
        sync::read(&self.config).clone()
    }
    pub fn update_config(&self, config: LogConfig) {
        *sync::write(&self.config) = Arc::new(config);
    }
    pub fn size_in_bytes(&self) -> u64 {
        sync::read(&self.segments).values().map(|s| s.size()).sum()
    }
    pub fn segment_count(&self) -> usize {
        sync::read(&self.segments).len()
    }
    /// Base offsets of the live segments, ascending.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        sync::read(&self.segments).keys().copied().collect()
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        sync::lock(&self.append).epochs.latest_epoch()
    }
    /// OffsetForLeaderEpoch (Kafka's `UnifiedLog.endOffsetForEpoch`): (largest epoch <=
    /// requested, its end offset); an epoch below the first known one answers with the
    /// first start offset; None when the cache cannot answer (undefined end offset).
    pub fn end_offset_for_epoch(&self, leader_epoch: i32) -> Option<(i32, i64)> {
        let st = sync::lock(&self.append);
        let end = st
            .epochs
            .end_offset_for(leader_epoch, self.log_end_offset());
        (!end.is_undefined()).then_some((end.epoch, end.end_offset))
    }
    pub fn leader_epoch_entries(&self) -> Vec<(i32, i64)> {
        sync::lock(&self.append)
            .epochs
            .entries()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }
    /// A copy of the leader-epoch cache for the replica state machines (a handful of
    /// entries; copied so no caller holds the append lock while deciding).
    pub fn leader_epoch_cache(&self) -> LeaderEpochCache {
        sync::lock(&self.append).epochs.clone()
    }
    /// `f` on the leader-epoch cache, without the copy `leader_epoch_cache` makes: a
    /// follower consults it for every partition on every fetch round.
    pub fn with_leader_epochs<R>(&self, f: impl FnOnce(&LeaderEpochCache) -> R) -> R {
        f(&sync::lock(&self.append).epochs)
    }
    /// The last stable offset (Kafka's LSO): the high watermark, or the first offset
    /// of a transaction whose outcome is not replicated yet when that is lower, but
    /// never below the log start offset (as Kafka's `maybeIncrementFirstUnstableOffset`:
    /// DeleteRecords may pass an open transaction's first offset, and its records
    /// there are gone). `read_committed` reads, the cleaner and retention stop here.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        let first = sync::lock(&self.append).producers.first_unstable_offset(hw);
        first.map_or(hw, |f| f.max(self.log_start_offset()).min(hw))
    }
    /// The aborted transactions a `read_committed` fetch from `fetch_offset` up to
    /// `upper_bound` must be told of (Kafka's `collectAbortedTransactions`): those
    /// whose marker is at or after the fetch offset and whose first record is below
    /// the bound.
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound: i64,
    ) -> Vec<crate::txn_index::AbortedTxn> {
        sync::lock(&self.append)
            .aborted
            .iter()
            .filter(|t| t.last_offset >= fetch_offset && t.first_offset < upper_bound)
            .copied()
            .collect()
    }

    pub fn producer_state(&self, producer_id: i64) -> Option<ProducerEntry> {
        sync::lock(&self.append).producers.get(producer_id)
    }

    pub(crate) fn segments_snapshot(&self) -> Vec<Arc<Segment>> {
        sync::read(&self.segments).values().cloned().collect()
    }
    fn active_segment(&self) -> Option<Arc<Segment>> {
        sync::read(&self.segments).values().next_back().cloned()
    }
    fn epoch_file(&self) -> PathBuf {
        self.dir().join(checkpoint::LEADER_EPOCH_FILE)
    }
    /// Persists the epoch cache (Kafka flushes the checkpoint on every change).
    fn write_epoch_checkpoint(&self, epochs: &LeaderEpochCache) -> Result<(), StorageError> {
        checkpoint::write_epochs(&self.epoch_file(), &epoch_entries(epochs))
    }

    /// Writes the epoch cache after an append assigned an epoch, without an fsync on the
    /// appending thread (see `checkpoint::write_epochs_unsynced`).
    fn note_assigned_epoch(&self, st: &mut AppendState) -> Result<(), StorageError> {
        checkpoint::write_epochs_unsynced(&self.epoch_file(), &epoch_entries(&st.epochs))?;
        st.epochs_unsynced = true;
        Ok(())
    }

    /// Makes the epoch checkpoint durable before the recovery point moves: entries
    /// below the recovery point are not re-derived from the batches by recovery.
    fn sync_epoch_checkpoint(&self, st: &mut AppendState) -> Result<(), StorageError> {
        if st.epochs_unsynced {
            self.write_epoch_checkpoint(&st.epochs)?;
            st.epochs_unsynced = false;
        }
        Ok(())
    }

    /// fsyncs every segment past the recovery point and moves the recovery point to the
    /// log end.
    pub fn flush(&self) -> Result<(), StorageError> {
        let end = self.log_end_offset();
        self.sync_epoch_checkpoint(&mut sync::lock(&self.append))?;
        let rp = self.recovery_point();
        for seg in self.segments_snapshot() {
            // An empty segment at the recovery point holds nothing to make durable.
            if seg.next_offset() > rp || (seg.base_offset >= rp && !seg.is_empty()) {
                seg.flush()?;
            }
        }
        self.recovery_point.fetch_max(end, Ordering::AcqRel);
        sync::lock(&self.append).unflushed_messages = 0;
        Ok(())
    }

    /// Flushes when `flush.ms` has passed since the last flush (the flush scheduler).
    /// Whether `flush.ms` has passed since the last flush with messages unflushed.
    pub(crate) fn flush_due(&self, now: i64) -> bool {
        let st = sync::lock(&self.append);
        let cfg = sync::read(&self.config);
        st.unflushed_messages > 0 && now.saturating_sub(st.last_flush_ms) >= cfg.flush_ms
    }

    pub(crate) fn flush_if_due(&self, now: i64) -> Result<(), StorageError> {
        if self.flush_due(now) {
            self.flush()?;
            sync::lock(&self.append).last_flush_ms = now;
        }
        Ok(())
    }

    /// Clean close: seal indexes, flush what is past the recovery point, snapshot
    /// producer state. An idle log costs no disk write: the epoch checkpoint is written
    /// on every change already, and (as Kafka's `takeSnapshot`) a producer snapshot is
    /// only taken when none exists at the log end.
    pub(crate) fn close(&self) -> Result<(), StorageError> {
        let st = sync::lock(&self.append);
        if let Some(active) = self.active_segment() {
            active.seal();
        }
        drop(st);
        self.flush()?;
        let st = sync::lock(&self.append);
        let dir = self.dir();
        let end = self.log_end_offset();
        if !crate::producer_state::snapshot_path(&dir, end).exists() {
            crate::producer_state::write_snapshot(&dir, end, &st.producers)?;
            crate::producer_state::retain_latest(&dir, 2)?;
        }
        Ok(())
    }

    /// The directory moved (delete_log renames it).
    pub(crate) fn set_dir(&self, dir: &Path) {
        *sync::write(&self.dir) = dir.to_path_buf();
    }
}

/// Hooks for the compactor, which lives in its own module.
impl Log {
    pub(crate) fn first_dirty_offset_atomic(&self) -> &AtomicI64 {
        &self.first_dirty_offset
    }
    /// Runs `swap` on the segment map under the append lock and the map's write lock
    /// (the order appends take them). When it swapped (`Ok(true)`), the aborted
    /// transactions whose marker is in `markers` become `kept` in the same step, so a
    /// `read_committed` fetch never pairs the new segments with entries whose marker
    /// the cleaning removed.
    pub(crate) fn swap_cleaned(
        &self,
        markers: std::ops::Range<i64>,
        kept: &[crate::txn_index::AbortedTxn],
        swap: impl FnOnce(&mut BTreeMap<i64, Arc<Segment>>) -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        let mut st = sync::lock(&self.append);
        let swapped = swap(&mut sync::write(&self.segments))?;
        if swapped {
            st.aborted.retain(|t| !markers.contains(&t.last_offset));
            st.aborted.extend_from_slice(kept);
            st.aborted.sort_by_key(|t| t.last_offset);
        }
        Ok(swapped)
    }
    /// The aborted transactions whose ABORT marker is in `markers`, in marker order.
    pub(crate) fn aborted_with_markers_in(
        &self,
        markers: std::ops::Range<i64>,
    ) -> Vec<crate::txn_index::AbortedTxn> {
        sync::lock(&self.append)
            .aborted
            .iter()
            .filter(|t| markers.contains(&t.last_offset))
            .copied()
            .collect()
    }
    /// Kafka's `lastRecordsOfActiveProducers`: per producer id the log knows, the last
    /// offset of its last data batch (`None` when it has none) and its epoch.
    pub(crate) fn last_records_of_producers(&self) -> std::collections::HashMap<i64, LastRecord> {
        sync::lock(&self.append)
            .producers
            .entries()
            .map(|e| {
                let last = LastRecord {
                    last_data_offset: (e.last_offset >= 0).then_some(e.last_offset),
                    producer_epoch: e.producer_epoch,
                };
                (e.producer_id, last)
            })
            .collect()
    }
    /// Queues an already renamed (`.deleted`) segment for removal.
    pub(crate) fn schedule_delete_renamed(&self, seg: Arc<Segment>, deadline: i64) {
        sync::lock(&self.pending_deletes).push((deadline, seg));
    }
}

/// Records that `epoch` starts at `start_offset` (Kafka's `assign`). Batches without a
/// partition leader epoch (-1, written before KIP-101 or by a client) leave the cache
/// alone, as Kafka's `maybeAssignEpochStartOffset` does. Returns whether it changed.
pub(crate) fn assign_epoch(epochs: &mut LeaderEpochCache, epoch: i32, start_offset: i64) -> bool {
    if epoch < 0 || start_offset < 0 {
        return false;
    }
    epochs.assign(epoch, start_offset).unwrap_or(false)
}

/// Rebuilds the cache from checkpointed entries. A non-monotonic file (never written by
/// this broker) keeps its monotonic prefix; the recovered batches fill in the rest.
fn epoch_entries(epochs: &LeaderEpochCache) -> Vec<(i32, i64)> {
    epochs
        .entries()
        .map(|e| (e.epoch, e.start_offset))
        .collect()
}

pub(crate) fn epochs_from_checkpoint(entries: Vec<(i32, i64)>) -> LeaderEpochCache {
    let mut cache = LeaderEpochCache::new();
    for (epoch, start_offset) in entries {
        let entry = EpochEntry {
            epoch,
            start_offset,
        };
        let monotonic = cache
            .latest_entry()
            .is_none_or(|l| l.epoch < entry.epoch && l.start_offset <= entry.start_offset);
        if !monotonic || !assign_epoch(&mut cache, epoch, start_offset) {
            tracing::warn!(
                epoch,
                start_offset,
                "ignoring a non-monotonic leader-epoch checkpoint entry"
            );
            break;
        }
    }
    cache
}
