//! Cleaning one group of segments into one: what becomes of each batch (Kafka's
//! `cleanInto` filter: batch retention first, then records), the cleaned segment's
//! `.txnindex`, and the swap.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::CleanStats;
use super::filter::{control_type, empty_batch, filter_batch, for_each_batch, with_delete_horizon};
use super::txn::CleanedTxns;
use crate::batch::{BatchHeader, BatchIter};
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::log::{LastRecord, Log};
use crate::segment::Segment;
use crate::txn_index::TxnIndex;

/// The state one cleaning carries from batch to batch and group to group.
pub(super) struct BatchCleaner<'a> {
    /// Pass 1's latest offset of each key.
    pub latest: &'a HashMap<Bytes, i64>,
    pub txns: CleanedTxns,
    /// The last batch of each producer the log knows, kept so reloads see its state.
    pub producers: HashMap<i64, LastRecord>,
    /// The segment being read is older than `delete.retention.ms`.
    pub drop_tombstones: bool,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
}

impl BatchCleaner<'_> {
    /// Kafka's three cases for keeping a batch whatever its records: the producer's
    /// last data batch (its last sequence), or, when it has none, its last marker (its
    /// epoch, for fencing).
    fn last_of_producer(&self, h: &BatchHeader) -> bool {
        h.has_producer_id()
            && self
                .producers
                .get(&h.producer_id)
                .is_some_and(|l| match l.last_data_offset {
                    Some(offset) => h.last_offset() == offset,
                    None => h.is_control() && h.producer_epoch == l.producer_epoch,
                })
    }

    /// The batch with all its records gone: nothing, or its bare header when its
    /// producer's state needs it (`None`: it is that already).
    fn emptied(&self, h: &BatchHeader, raw: &[u8]) -> Option<Vec<u8>> {
        if !self.last_of_producer(h) {
            return Some(Vec::new());
        }
        let empty = empty_batch(raw);
        (empty != raw).then_some(empty)
    }

    /// What the cleaned segment holds of one batch: `None` to copy it as it is, else
    /// its replacement (empty: dropped). Counts removed records into `removed`.
    pub(super) fn clean_batch(
        &mut self,
        h: &BatchHeader,
        raw: &[u8],
        removed: &mut u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let count = h.records_count.max(0) as u64;
        if h.is_control() {
            if !self.txns.on_control_batch(h, control_type(h, raw)?) {
                return Ok(None);
            }
            // Nothing of its transaction is left: like a tombstone, the marker stays
            // for delete.retention.ms from now (written into the batch), then goes.
            return Ok(match h.delete_horizon_ms() {
                Some(horizon) if horizon <= self.now_ms => {
                    *removed += count;
                    self.emptied(h, raw)
                }
                Some(_) => None,
                None => with_delete_horizon(
                    h,
                    raw,
                    self.now_ms.saturating_add(self.delete_retention_ms),
                ),
            });
        }
        if self.txns.on_data_batch(h) {
            *removed += count;
            return Ok(self.emptied(h, raw));
        }
        if count == 0 {
            return Ok(self.emptied(h, raw));
        }
        let drop_tombstones = self.drop_tombstones;
        let latest = self.latest;
        let keep = |offset: i64, key: &Bytes, tombstone: bool| {
            latest.get(key).is_none_or(|o| *o == offset) && !(tombstone && drop_tombstones)
        };
        Ok(match filter_batch(h, raw, &keep, removed)? {
            Some(v) if v.is_empty() => self.emptied(h, raw),
            other => other,
        })
    }
}

/// Writes the cleaned segment's `.txnindex`. An empty file is written when an
/// original had one, so a swap finished by a restart replaces its entries too.
fn write_txn_index(
    new: &Segment,
    group: &[Arc<Segment>],
    kept: &[crate::txn_index::AbortedTxn],
) -> Result<(), StorageError> {
    let had_index = group.iter().any(|s| s.path("txnindex").exists());
    if kept.is_empty() && !had_index {
        return Ok(());
    }
    let path = new.path("txnindex");
    std::fs::File::create(&path).map_err(|e| StorageError::io(&path, e))?;
    let mut index = TxnIndex::open(&path)?;
    for t in kept {
        index.append(*t)?;
    }
    index.flush()
}

impl Log {
    pub(super) fn clean_group(
        &self,
        group: &[Arc<Segment>],
        cleaner: &mut BatchCleaner<'_>,
        cfg: &LogConfig,
        stats: &mut CleanStats,
    ) -> Result<(), StorageError> {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            return Ok(());
        };
        let now_ms = cleaner.now_ms;
        let new = Arc::new(Segment::create(
            &self.dir(),
            first.base_offset,
            ".cleaned",
            now_ms,
        )?);
        let mut changed = group.len() > 1;
        let (mut before, mut after) = (0u64, 0u64);
        let tombstone_horizon = now_ms.saturating_sub(cfg.delete_retention_ms);
        for seg in group {
            cleaner.drop_tombstones = seg.max_timestamp() < tombstone_horizon;
            for_each_batch(seg, &mut |h, raw| {
                before += raw.len() as u64;
                let cleaned = cleaner.clean_batch(h, raw, &mut stats.records_removed)?;
                let bytes: &[u8] = match &cleaned {
                    Some(v) => {
                        changed = true;
                        v
                    }
                    None => raw,
                };
                if !bytes.is_empty() {
                    let headers: Vec<(usize, BatchHeader)> = BatchIter::new(bytes).collect();
                    new.append(bytes, &headers, cfg.index_interval_bytes)?;
                }
                after += bytes.len() as u64;
                Ok(())
            })?;
        }
        stats.bytes_before += before;
        stats.bytes_after += after;
        // The aborted transactions whose marker this group holds: those it kept.
        let markers = first.base_offset..last.next_offset();
        let kept = cleaner.txns.take_kept_aborts();
        changed |= self.aborted_with_markers_in(markers.clone()) != kept;
        if !changed {
            return new.delete_files();
        }
        write_txn_index(&new, group, &kept)?;
        new.seal();
        new.flush()?;
        // Kafka gives the cleaned segment the last original's modification time: an
        // empty (or timestamp-less) segment's age for retention.ms is its mtime, which the
        // rewrite must not reset. Only a warning when it fails: a newer mtime merely
        // delays retention, not worth abandoning the cleaning for.
        if let Err(e) = new.copy_last_modified_from(last) {
            tracing::warn!(partition = %self.topic_partition(), error = %e, "could not keep the cleaned segment's modification time");
        }
        new.rename_suffix(".swap")?;
        let swapped = self.swap_cleaned(markers, &kept, |map| {
            let intact = group.iter().all(|old| {
                map.get(&old.base_offset)
                    .is_some_and(|s| Arc::ptr_eq(s, old))
            });
            if !intact {
                return Ok(false);
            }
            // The first original carries the same file name as the new segment: move
            // it aside before the new one takes the name.
            for old in group {
                old.rename_suffix(".deleted")?;
                map.remove(&old.base_offset);
            }
            new.rename_suffix("")?;
            // Kept even when nothing survived, as Kafka's cleaner does: the group's
            // first base offset must stay a segment. Dropping it would make the next
            // segment's base the first one, and load takes the log start as at least
            // the first base offset, so compaction would move the log start and
            // consumers between the two would get OFFSET_OUT_OF_RANGE. A read in the
            // gap moves on to the next segment, and the next pass merges the empty
            // segment into the group that follows it.
            map.insert(first.base_offset, new.clone());
            Ok(true)
        })?;
        if !swapped {
            return new.delete_files();
        }
        let deadline = now_ms.saturating_add(cfg.file_delete_delay_ms);
        for old in group {
            self.schedule_delete_renamed(old.clone(), deadline);
        }
        stats.segments_rewritten += group.len();
        Ok(())
    }
}
