//! Log compaction (`cleanup.policy=compact`): keeps the latest record per key in the
//! non-active segments, preserving offsets, dropping tombstones older than
//! `delete.retention.ms`. Segments are rewritten into `.cleaned` files, renamed `.swap`,
//! then swapped in (the original renamed `.deleted`), so a crash at any point leaves
//! either the old or the new segment. Runs without the append lock: appends and reads
//! continue, and a segment that retention or truncation removed meanwhile is skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::{self, BatchHeader, BatchIter};
use crate::error::StorageError;
use crate::log::Log;
use crate::segment::Segment;
use crate::sync;

/// What one compaction pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn decode_err(h: &BatchHeader, reason: String) -> StorageError {
    StorageError::Decode {
        offset: h.base_offset,
        reason,
    }
}

/// Rewrites one segment's bytes keeping only what `keep` accepts; `None` when nothing
/// changes. `keep(offset, key, is_tombstone)`.
fn filter_segment(
    bytes: &[u8],
    keep: &dyn Fn(i64, &Bytes, bool) -> bool,
    removed: &mut u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    for (pos, h) in BatchIter::new(bytes) {
        let raw = &bytes[pos..pos + h.total_size()];
        if h.is_control() {
            out.extend_from_slice(raw);
            continue;
        }
        let set = batch::decode_records(raw).map_err(|e| decode_err(&h, e))?;
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
            out.extend_from_slice(raw);
            continue;
        }
        changed = true;
        *removed += (total - kept.len()) as u64;
        if kept.is_empty() {
            continue;
        }
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: set.compression,
        };
        RecordBatchEncoder::encode(&mut buf, kept.iter(), &opts)
            .map_err(|e| decode_err(&h, e.to_string()))?;
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
        out.extend_from_slice(&buf);
    }
    Ok(changed.then_some(out))
}

impl Log {
    /// One compaction pass if the policy includes compact and the dirty ratio reaches
    /// `min.cleanable.dirty.ratio`. Returns what was done, `None` when nothing was due.
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
        if total == 0 || dirty == 0 || (dirty as f64 / total as f64) < cfg.min_cleanable_dirty_ratio
        {
            return Ok(None);
        }
        // Pass 1: the latest offset of every key up to the end of the cleanable range.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in &cleanable {
            let bytes = seg.read(0, seg.size() as usize)?;
            for (pos, h) in BatchIter::new(&bytes) {
                if h.is_control() {
                    continue;
                }
                let set = batch::decode_records(&bytes[pos..pos + h.total_size()])
                    .map_err(|e| decode_err(&h, e))?;
                for r in set.records {
                    if let Some(k) = r.key {
                        latest.insert(k, r.offset);
                    }
                }
            }
        }
        // Pass 2: rewrite each segment that loses records.
        let mut stats = CleanStats::default();
        let tombstone_horizon = now_ms.saturating_sub(cfg.delete_retention_ms);
        for seg in &cleanable {
            let bytes = seg.read(0, seg.size() as usize)?;
            stats.bytes_before += bytes.len() as u64;
            let drop_tombstones = seg.max_timestamp() < tombstone_horizon;
            let keep = |offset: i64, key: &Bytes, tombstone: bool| {
                latest.get(key).is_none_or(|o| *o == offset) && !(tombstone && drop_tombstones)
            };
            let Some(cleaned) = filter_segment(&bytes, &keep, &mut stats.records_removed)? else {
                stats.bytes_after += bytes.len() as u64;
                continue;
            };
            stats.bytes_after += cleaned.len() as u64;
            self.swap_in(
                seg,
                &cleaned,
                cfg.index_interval_bytes,
                now_ms,
                cfg.file_delete_delay_ms,
            )?;
            stats.segments_rewritten += 1;
        }
        self.set_cleaner_offset(end);
        tracing::info!(partition = %self.topic_partition(), ?stats, "compacted log");
        Ok(Some(stats))
    }

    fn set_cleaner_offset(&self, end: i64) {
        self.first_dirty_offset_atomic()
            .fetch_max(end, Ordering::AcqRel);
    }

    /// Builds the cleaned segment in `.cleaned` files, fsyncs, renames to `.swap`, then
    /// replaces `old` in the segment map (if it is still there).
    fn swap_in(
        &self,
        old: &Arc<Segment>,
        cleaned: &[u8],
        interval: u64,
        now_ms: i64,
        delete_delay: i64,
    ) -> Result<(), StorageError> {
        let dir = self.dir();
        let new = Arc::new(Segment::create(&dir, old.base_offset, ".cleaned", now_ms)?);
        let headers: Vec<(usize, BatchHeader)> = BatchIter::new(cleaned).collect();
        new.append(cleaned, &headers, interval)?;
        new.seal();
        new.flush()?;
        new.rename_suffix(".swap")?;
        let mut map = self.segments_map_write();
        if !map
            .get(&old.base_offset)
            .is_some_and(|s| Arc::ptr_eq(s, old))
        {
            drop(map);
            return new.delete_files();
        }
        old.rename_suffix(".deleted")?;
        new.rename_suffix("")?;
        if new.is_empty() {
            map.remove(&old.base_offset);
            drop(map);
            new.delete_files()?;
        } else {
            map.insert(old.base_offset, new);
            drop(map);
        }
        self.schedule_delete_renamed(old.clone(), now_ms.saturating_add(delete_delay));
        Ok(())
    }
}
