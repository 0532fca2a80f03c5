//! Operations that remove data: retention (`cleanup.policy=delete`), DeleteRecords,
//! truncation for replication, and the delayed removal of `.deleted` segment files.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Log;
use crate::error::{ReadError, StorageError};
use crate::producer_state;
use crate::segment::Segment;
use crate::sync;

impl Log {
    /// Drops everything from the batch containing `offset` on. Producer state and leader
    /// epochs follow. At or past the log end no data goes, but the epoch cache is still
    /// cut at the log end (Kafka's `UnifiedLog.truncateTo`): a replica that became leader
    /// and assigned an epoch without writing in it keeps an entry at its log end that no
    /// leader has, and would report the same divergence on every fetch.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        non_negative(offset, "cannot truncate to a negative offset")?;
        let mut st = sync::lock(&self.append);
        let log_end = self.log_end_offset();
        if offset >= log_end {
            let before = st.epochs.latest_entry();
            st.epochs.truncate_from_end(log_end);
            if st.epochs.latest_entry() != before {
                self.write_epoch_checkpoint(&st.epochs)?;
                tracing::info!(partition = %self.tp, offset, log_end, "dropped leader epochs at the log end");
            }
            return Ok(());
        }
        let cfg = self.config();
        let now = super::now_ms();
        let removed: Vec<Arc<Segment>> = {
            let mut segs = sync::write(&self.segments);
            let doomed: Vec<i64> = segs.range(offset..).map(|(b, _)| *b).collect();
            doomed.iter().filter_map(|b| segs.remove(b)).collect()
        };
        for seg in &removed {
            self.schedule_delete(seg.clone(), now + cfg.file_delete_delay_ms)?;
        }
        let floor = self.active_segment();
        let new_end = match floor {
            Some(seg) => {
                seg.truncate_to(offset, cfg.index_interval_bytes)?;
                seg.next_offset()
            }
            None => {
                // Everything went: start over empty at `offset`.
                let seg = Arc::new(Segment::create(&self.dir(), offset, "", now)?);
                sync::write(&self.segments).insert(offset, seg);
                self.log_start.store(offset, Ordering::Release);
                offset
            }
        };
        self.log_end.store(new_end, Ordering::Release);
        self.high_watermark.fetch_min(new_end, Ordering::AcqRel);
        self.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        self.first_dirty_offset.fetch_min(new_end, Ordering::AcqRel);
        st.epochs.truncate_from_end(new_end);
        self.write_epoch_checkpoint(&st.epochs)?;
        // Producer state: newest snapshot at or below the new end, then replay.
        let dir = self.dir();
        let (snap, mut producers) = match producer_state::load_latest(&dir, new_end)? {
            Some((o, s)) => (o, s),
            None => (i64::MIN, Default::default()),
        };
        for seg in self.segments_snapshot() {
            if seg.next_offset() <= snap {
                continue;
            }
            seg.scan_headers(0, &mut |pos, h| {
                if h.base_offset >= snap {
                    super::load::replay_batch(&mut producers, &seg, Some(pos), h);
                }
                true
            })?;
        }
        st.producers = producers;
        // Aborted transactions whose marker went with the tail go from the indexes too.
        st.aborted.retain(|t| t.last_offset < new_end);
        for seg in self.segments_snapshot() {
            let path = dir.join(crate::segment::file_name(seg.base_offset, "txnindex"));
            crate::txn_index::TxnIndex::open(&path)?.truncate_to(new_end)?;
        }
        tracing::info!(partition = %self.tp, offset, new_end, "truncated log");
        Ok(())
    }

    /// Kafka's `truncateFullyAndStartAt`: a follower whose log end is below the leader's
    /// log start can never fetch what it misses, so every segment goes (renamed
    /// `.deleted`, removed after `file.delete.delay.ms` like any other), the log restarts
    /// empty at `offset`, and the epoch cache and producer state (with their files) are
    /// cleared; the next fetched batches fill them again.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), StorageError> {
        non_negative(offset, "cannot restart a log at a negative offset")?;
        let mut st = sync::lock(&self.append);
        let cfg = self.config();
        let now = super::now_ms();
        let removed: Vec<Arc<Segment>> = std::mem::take(&mut *sync::write(&self.segments))
            .into_values()
            .collect();
        for seg in &removed {
            self.schedule_delete(seg.clone(), now + cfg.file_delete_delay_ms)?;
        }
        let seg = Arc::new(Segment::create(&self.dir(), offset, "", now)?);
        sync::write(&self.segments).insert(offset, seg);
        self.log_start.store(offset, Ordering::Release);
        self.log_end.store(offset, Ordering::Release);
        self.high_watermark.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.first_dirty_offset.store(offset, Ordering::Release);
        st.epochs.clear();
        self.write_epoch_checkpoint(&st.epochs)?;
        st.producers = Default::default();
        st.aborted.clear();
        producer_state::retain_latest(&self.dir(), 0)?;
        tracing::info!(partition = %self.tp, offset, segments = removed.len(), "truncated the whole log; it restarts at the new log start offset");
        Ok(())
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1 = the high watermark);
    /// whole segments below it are removed by the next retention pass.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ReadError> {
        let hw = self.high_watermark();
        let offset = if offset == -1 { hw } else { offset };
        if offset < 0 || offset > hw {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                log_end: hw,
            });
        }
        let mut st = sync::lock(&self.append);
        let prev = self.log_start.fetch_max(offset, Ordering::AcqRel);
        if offset > prev {
            st.epochs.truncate_from_start(offset);
            self.write_epoch_checkpoint(&st.epochs)?;
        }
        Ok(self.log_start_offset())
    }

    /// One retention pass: removes the oldest segments that are below the log start
    /// offset or, with `cleanup.policy` including delete, past `retention.ms` or beyond
    /// `retention.bytes` and wholly below the last stable offset. Whole segments only;
    /// returns how many were removed.
    pub fn delete_old_segments(&self, now_ms: i64) -> Result<usize, StorageError> {
        let cfg = self.config();
        let log_start = self.log_start_offset();
        // Retention removes only what every reader may have read: segments wholly below
        // the last stable offset (so below the high watermark, as Kafka's
        // deletableSegments, and never an open transaction's records).
        let lso = self.last_stable_offset();
        let log_end = self.log_end_offset();
        let segs = self.segments_snapshot();
        let total: u64 = segs.iter().map(|s| s.size()).sum();
        let mut remaining = total as i64;
        let mut doomed = 0usize;
        for (i, seg) in segs.iter().enumerate() {
            let next_base = segs.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
            let below_start = next_base <= log_start;
            let stable = segs.get(i + 1).map_or(log_end, |s| s.base_offset) <= lso;
            // Only an empty active segment is spared: an empty one before it (a group
            // that compaction cleaned to nothing keeps its segment) ages by its mtime like
            // any other, or it would hold back retention of everything after it.
            let deletable = !seg.is_empty() || i + 1 < segs.len();
            let too_old = cfg.cleanup_policy.deletes()
                && stable
                && cfg.retention_ms >= 0
                && deletable
                && now_ms.saturating_sub(seg.largest_timestamp()) > cfg.retention_ms;
            let too_big = cfg.cleanup_policy.deletes()
                && stable
                && cfg.retention_bytes >= 0
                && remaining - seg.size() as i64 >= cfg.retention_bytes
                && deletable;
            if !(below_start || too_old || too_big) {
                break;
            }
            remaining -= seg.size() as i64;
            doomed += 1;
        }
        if doomed == 0 {
            return Ok(0);
        }
        if doomed == segs.len() {
            // Kafka rolls so the active segment can go too; the new empty one stays.
            self.roll_if_not_empty(now_ms)?;
        }
        let mut removed = 0;
        let mut st = sync::lock(&self.append);
        for seg in segs.iter().take(doomed) {
            let mut map = sync::write(&self.segments);
            if map.len() <= 1 {
                break;
            }
            // The segment may have been swapped by compaction meanwhile: only remove the
            // exact one we judged.
            if !map
                .get(&seg.base_offset)
                .is_some_and(|s| Arc::ptr_eq(s, seg))
            {
                break;
            }
            map.remove(&seg.base_offset);
            let new_start = map.keys().next().copied().unwrap_or(seg.next_offset());
            drop(map);
            self.log_start.fetch_max(new_start, Ordering::AcqRel);
            self.schedule_delete(seg.clone(), now_ms.saturating_add(cfg.file_delete_delay_ms))?;
            removed += 1;
        }
        if removed > 0 {
            let start = self.log_start_offset();
            self.high_watermark.fetch_max(start, Ordering::AcqRel);
            self.first_dirty_offset.fetch_max(start, Ordering::AcqRel);
            st.epochs.truncate_from_start(start);
            self.write_epoch_checkpoint(&st.epochs)?;
            tracing::info!(partition = %self.tp, removed, log_start = start, "retention removed segments");
        }
        Ok(removed)
    }

    /// Forgets idle producer ids (producer.id.expiration.ms); run with retention.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        sync::lock(&self.append)
            .producers
            .remove_expired(now_ms, producer_state::PRODUCER_ID_EXPIRATION_MS)
    }

    /// Renames the segment's files `.deleted`; they are removed once `deadline` passes,
    /// so reads that already hold the segment finish safely.
    pub(crate) fn schedule_delete(
        &self,
        seg: Arc<Segment>,
        deadline: i64,
    ) -> Result<(), StorageError> {
        seg.rename_suffix(".deleted")?;
        sync::lock(&self.pending_deletes).push((deadline, seg));
        Ok(())
    }

    /// Removes `.deleted` files whose delay has passed (or all with `force`).
    pub fn delete_pending_files(&self, now_ms: i64, force: bool) -> Result<(), StorageError> {
        let due: Vec<Arc<Segment>> = {
            let mut pending = sync::lock(&self.pending_deletes);
            let (due, keep): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|(d, _)| force || *d <= now_ms);
            *pending = keep;
            due.into_iter().map(|(_, s)| s).collect()
        };
        for seg in due {
            seg.delete_files()?;
        }
        Ok(())
    }
}

fn non_negative(offset: i64, reason: &str) -> Result<(), StorageError> {
    if offset < 0 {
        return Err(StorageError::InvalidOffset {
            offset,
            reason: reason.into(),
        });
    }
    Ok(())
}
