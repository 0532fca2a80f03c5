//! Log compaction (`cleanup.policy=compact`): keeps the latest record per key in the
//! non-active segments, preserving offsets, dropping tombstones older than
//! `delete.retention.ms`. Consecutive segments are grouped (up to `segment.bytes`, as
//! Kafka's cleaner does) and rewritten into one `.cleaned` segment, renamed `.swap`, then
//! swapped in (the originals renamed `.deleted`), so a crash at any point leaves either
//! the old or the new segments (load completes `.swap` files and drops segments a
//! completed swap covers). The cleaned segment keeps the group's first base offset even
//! when nothing survived, so compaction never moves the log start offset (only retention
//! and DeleteRecords do). Segments are streamed, never read whole into memory. Runs
//! without the append lock: appends and reads continue, and a group that retention or
//! truncation changed meanwhile is skipped.
//!
//! Transactions as Kafka's cleaner treats them: nothing at or past the last stable
//! offset is cleaned (an open transaction's records wait for its marker); records of
//! aborted transactions (the `.txnindex` entries) never count as a key's latest value
//! and are removed; a marker stays while data of its transaction remains, then gets a
//! delete horizon of `delete.retention.ms` and goes once that has passed; the last
//! batch of each producer the log still knows is kept (emptied if need be) so its
//! sequence and epoch survive a reload; each cleaned segment gets a `.txnindex` of the
//! aborted transactions whose marker it kept.

mod filter;
mod group;
mod txn;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::batch;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::index::{OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use crate::log::Log;
use crate::segment::Segment;
use crate::sync;
use filter::{control_type, decode_err, for_each_batch};
use group::BatchCleaner;
use txn::CleanedTxns;

/// How much of a segment the cleaner reads at once.
const READ_CHUNK: usize = 8 << 20;

/// What one compaction pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Kafka's groupSegmentsBySize: consecutive segments whose combined size, index entries
/// and offset range fit in one segment.
fn group_by_size(segs: &[Arc<Segment>], cfg: &LogConfig) -> Vec<Vec<Arc<Segment>>> {
    let mut groups: Vec<Vec<Arc<Segment>>> = Vec::new();
    let (mut bytes, mut index_entries) = (0u64, 0u64);
    let max_entries = cfg.segment_index_bytes / OFFSET_ENTRY_SIZE.max(TIME_ENTRY_SIZE);
    for seg in segs {
        let entries = seg.index_entries() as u64;
        let fits = groups.last().is_some_and(|g| {
            let base = g[0].base_offset;
            bytes + seg.size() <= cfg.segment_bytes
                && index_entries + entries <= max_entries
                && seg.next_offset() - 1 - base <= i64::from(i32::MAX)
        });
        if fits {
            bytes += seg.size();
            index_entries += entries;
            if let Some(g) = groups.last_mut() {
                g.push(seg.clone());
            }
        } else {
            bytes = seg.size();
            index_entries = entries;
            groups.push(vec![seg.clone()]);
        }
    }
    groups
}

impl Log {
    /// One compaction pass if the policy includes compact and the dirty ratio reaches
    /// `min.cleanable.dirty.ratio` (or dirty data is older than `max.compaction.lag.ms`).
    /// Returns what was done, `None` when nothing was due.
    pub fn compact(&self, now_ms: i64) -> Result<Option<CleanStats>, StorageError> {
        let cfg = self.config();
        if !cfg.cleanup_policy.compacts() {
            return Ok(None);
        }
        let _one_at_a_time = sync::lock(&self.cleaning);
        let segs = self.segments_snapshot();
        // Never the active segment, never at or past the last stable offset (Kafka's
        // firstUncleanableOffset: an open transaction may still abort), never data
        // younger than min.compaction.lag.ms.
        let lso = self.last_stable_offset();
        let lag_horizon = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        let cleanable: Vec<Arc<Segment>> = segs
            .iter()
            .take(segs.len().saturating_sub(1))
            .take_while(|s| s.next_offset() <= lso)
            .take_while(|s| cfg.min_compaction_lag_ms == 0 || s.max_timestamp() <= lag_horizon)
            .cloned()
            .collect();
        let (Some(first), Some(last)) = (cleanable.first(), cleanable.last()) else {
            return Ok(None);
        };
        let end = last.next_offset();
        let first_dirty = self.cleaner_offset().max(self.log_start_offset());
        let total: u64 = cleanable.iter().map(|s| s.size()).sum();
        let dirty: u64 = cleanable
            .iter()
            .filter(|s| s.next_offset() > first_dirty)
            .map(|s| s.size())
            .sum();
        // max.compaction.lag.ms: dirty data older than this is cleaned whatever the ratio.
        let overdue = cfg.max_compaction_lag_ms < i64::MAX
            && cleanable.iter().any(|s| {
                s.next_offset() > first_dirty
                    && s.largest_timestamp() < now_ms.saturating_sub(cfg.max_compaction_lag_ms)
            });
        if total == 0
            || dirty == 0
            || ((dirty as f64 / total as f64) < cfg.min_cleanable_dirty_ratio && !overdue)
        {
            return Ok(None);
        }
        let aborted = self.aborted_transactions(first.base_offset, end);
        // Pass 1: the latest offset of every key up to the end of the cleanable range,
        // aborted records left out.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        let mut txns = CleanedTxns::default();
        txns.add_aborted(aborted.iter().copied());
        for seg in &cleanable {
            for_each_batch(seg, &mut |h, raw| {
                if h.is_control() {
                    txns.on_control_batch(h, control_type(h, raw)?);
                    return Ok(());
                }
                if txns.on_data_batch(h) {
                    return Ok(());
                }
                let set = batch::decode_records(raw).map_err(|e| decode_err(h, e))?;
                for r in set.records {
                    if let Some(k) = r.key {
                        latest.insert(k, r.offset);
                    }
                }
                Ok(())
            })?;
        }
        // Pass 2: rewrite each group of segments into one; the transactions are
        // followed across groups (a marker may sit in a later group than its data).
        let mut stats = CleanStats::default();
        let mut txns = CleanedTxns::default();
        txns.add_aborted(aborted);
        let mut cleaner = BatchCleaner {
            latest: &latest,
            txns,
            producers: self.last_records_of_producers(),
            drop_tombstones: false,
            now_ms,
            delete_retention_ms: cfg.delete_retention_ms,
        };
        for group in group_by_size(&cleanable, &cfg) {
            self.clean_group(&group, &mut cleaner, &cfg, &mut stats)?;
        }
        self.first_dirty_offset_atomic()
            .fetch_max(end, Ordering::AcqRel);
        tracing::info!(partition = %self.topic_partition(), ?stats, "compacted log");
        Ok(Some(stats))
    }
}
