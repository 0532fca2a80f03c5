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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::{self, BatchHeader, BatchIter};
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::index::{OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use crate::log::Log;
use crate::segment::Segment;
use crate::sync;

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

fn decode_err(h: &BatchHeader, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Decode {
        offset: h.base_offset,
        reason: reason.to_string(),
    }
}

/// A visitor of one batch: its header and its stored bytes.
type BatchVisitor<'a> = dyn FnMut(&BatchHeader, &[u8]) -> Result<(), StorageError> + 'a;

/// Calls `f` with every batch of `seg`, reading a chunk at a time.
fn for_each_batch(seg: &Segment, f: &mut BatchVisitor<'_>) -> Result<(), StorageError> {
    let size = seg.size();
    let mut pos = 0u64;
    while pos < size {
        let chunk = seg.read(pos, READ_CHUNK)?;
        let mut consumed = 0usize;
        for (at, h) in BatchIter::new(&chunk) {
            f(&h, &chunk[at..at + h.total_size()])?;
            consumed = at + h.total_size();
        }
        if consumed == 0 {
            // A batch larger than the chunk, or nothing readable.
            let Some(h) = BatchHeader::parse(&chunk) else {
                break;
            };
            if h.check_shape().is_err() || h.total_size() <= chunk.len() {
                break;
            }
            let whole = seg.read(pos, h.total_size())?;
            if whole.len() < h.total_size() {
                break;
            }
            f(&h, &whole)?;
            consumed = h.total_size();
        }
        pos += consumed as u64;
    }
    Ok(())
}

/// The batch with only the records `keep(offset, key, is_tombstone)` accepts: `None`
/// when all are kept (the stored bytes are reused as they are), else the re-encoded
/// batch (same offsets and codec; empty when nothing is left).
fn filter_batch(
    h: &BatchHeader,
    raw: &[u8],
    keep: &dyn Fn(i64, &Bytes, bool) -> bool,
    removed: &mut u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    if h.is_control() {
        return Ok(None);
    }
    let set = batch::decode_records(raw).map_err(|e| decode_err(h, e))?;
    let total = set.records.len();
    let kept: Vec<_> = set
        .records
        .into_iter()
        .filter(|r| match &r.key {
            Some(k) => keep(r.offset, k, r.value.is_none()),
            None => true,
        })
        .collect();
    if kept.len() == total {
        return Ok(None);
    }
    *removed += (total - kept.len()) as u64;
    if kept.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: set.compression,
    };
    RecordBatchEncoder::encode(&mut buf, kept.iter(), &opts).map_err(|e| decode_err(h, e))?;
    let mut buf = buf.to_vec();
    if h.is_log_append_time() {
        // The encoder writes CreateTime; restore the broker's time as stored.
        let mut at = 0;
        while let Some(nh) = BatchHeader::parse(&buf[at..]) {
            let end = at + nh.total_size();
            batch::set_max_timestamp_and_attributes(
                &mut buf[at..end],
                nh.attributes | (1 << 3),
                h.max_timestamp,
            );
            at = end;
        }
    }
    Ok(Some(buf))
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
        // Never the active segment; never data younger than min.compaction.lag.ms.
        let lag_horizon = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        let cleanable: Vec<Arc<Segment>> = segs
            .iter()
            .take(segs.len().saturating_sub(1))
            .take_while(|s| cfg.min_compaction_lag_ms == 0 || s.max_timestamp() <= lag_horizon)
            .cloned()
            .collect();
        let Some(last) = cleanable.last() else {
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
        // Pass 1: the latest offset of every key up to the end of the cleanable range.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in &cleanable {
            for_each_batch(seg, &mut |h, raw| {
                if h.is_control() {
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
        // Pass 2: rewrite each group of segments into one.
        let mut stats = CleanStats::default();
        let tombstone_horizon = now_ms.saturating_sub(cfg.delete_retention_ms);
        for group in group_by_size(&cleanable, &cfg) {
            self.clean_group(&group, &latest, tombstone_horizon, &cfg, now_ms, &mut stats)?;
        }
        self.first_dirty_offset_atomic()
            .fetch_max(end, Ordering::AcqRel);
        tracing::info!(partition = %self.topic_partition(), ?stats, "compacted log");
        Ok(Some(stats))
    }

    fn clean_group(
        &self,
        group: &[Arc<Segment>],
        latest: &HashMap<Bytes, i64>,
        tombstone_horizon: i64,
        cfg: &LogConfig,
        now_ms: i64,
        stats: &mut CleanStats,
    ) -> Result<(), StorageError> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let new = Arc::new(Segment::create(
            &self.dir(),
            first.base_offset,
            ".cleaned",
            now_ms,
        )?);
        let mut changed = group.len() > 1;
        let (mut before, mut after) = (0u64, 0u64);
        for seg in group {
            let drop_tombstones = seg.max_timestamp() < tombstone_horizon;
            let keep = |offset: i64, key: &Bytes, tombstone: bool| {
                latest.get(key).is_none_or(|o| *o == offset) && !(tombstone && drop_tombstones)
            };
            for_each_batch(seg, &mut |h, raw| {
                before += raw.len() as u64;
                let filtered = filter_batch(h, raw, &keep, &mut stats.records_removed)?;
                let bytes: &[u8] = match &filtered {
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
        if !changed {
            return new.delete_files();
        }
        new.seal();
        new.flush()?;
        // Kafka gives the cleaned segment the last original's modification time: an
        // empty (or timestamp-less) segment's age for retention.ms is its mtime, which the
        // rewrite must not reset. Only a warning when it fails: a newer mtime merely
        // delays retention, not worth abandoning the cleaning for.
        if let Some(last) = group.last()
            && let Err(e) = new.copy_last_modified_from(last)
        {
            tracing::warn!(partition = %self.topic_partition(), error = %e, "could not keep the cleaned segment's modification time");
        }
        new.rename_suffix(".swap")?;
        let mut map = self.segments_map_write();
        let intact = group.iter().all(|old| {
            map.get(&old.base_offset)
                .is_some_and(|s| Arc::ptr_eq(s, old))
        });
        if !intact {
            drop(map);
            return new.delete_files();
        }
        // The first original carries the same file name as the new segment: move it
        // aside before the new one takes the name.
        for old in group {
            old.rename_suffix(".deleted")?;
            map.remove(&old.base_offset);
        }
        new.rename_suffix("")?;
        // Kept even when nothing survived, as Kafka's cleaner does: the group's first base
        // offset must stay a segment. Dropping it would make the next segment's base the
        // first one, and load takes the log start as at least the first base offset, so
        // compaction would move the log start and consumers between the two would get
        // OFFSET_OUT_OF_RANGE. A read in the gap moves on to the next segment, and the
        // next pass merges the empty segment into the group that follows it.
        map.insert(first.base_offset, new);
        drop(map);
        let deadline = now_ms.saturating_add(cfg.file_delete_delay_ms);
        for old in group {
            self.schedule_delete_renamed(old.clone(), deadline);
        }
        stats.segments_rewritten += group.len();
        Ok(())
    }
}
