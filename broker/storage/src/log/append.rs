//! The append path: validation, offset assignment (base offset, partition leader epoch,
//! LogAppendTime), idempotent-producer checks, segment rolling and flush policy.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::validate::{self, Origin};
use super::{AppendState, Log, LogAppendInfo};
use crate::batch::{self, BatchHeader, HEADER_SIZE};
use crate::config::{LogConfig, TimestampType};
use crate::error::{AppendError, StorageError};
use crate::producer_state::{
    self, EndTransactionMarker, SequenceCheck, TxnVerification, VerificationGuard,
};
use crate::segment::Segment;
use crate::sync;
use crate::txn_index::{AbortedTxn, TxnIndex};

/// The transaction marker of each validated batch that is a control batch (`None` for
/// data batches and unreadable markers).
fn control_markers(
    records: &[u8],
    batches: &[(usize, BatchHeader)],
) -> Vec<Option<EndTransactionMarker>> {
    batches
        .iter()
        .map(|(pos, h)| {
            h.is_control()
                .then(|| records.get(*pos..*pos + h.total_size()))
                .flatten()
                .and_then(EndTransactionMarker::parse)
        })
        .collect()
}

impl Log {
    /// Appends a Produce request's records (one or more magic-v2 batches) as leader.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LogAppendInfo, AppendError> {
        self.append_from(
            records,
            leader_epoch,
            now_ms,
            Origin::Client,
            TxnVerification::NotRequired,
        )
    }

    /// [`Log::append_as_leader`] with KIP-890 transaction verification: a batch that
    /// opens its producer's transaction here needs the guard of
    /// [`Log::start_txn_verification`], still current.
    pub fn append_verified_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        verification: TxnVerification,
    ) -> Result<LogAppendInfo, AppendError> {
        self.append_from(records, leader_epoch, now_ms, Origin::Client, verification)
    }

    /// The guard to take before asking the transaction coordinator whether this
    /// partition is in the producer's transaction; `None` when the producer's
    /// transaction is open here (no need to ask).
    pub fn start_txn_verification(
        &self,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Option<VerificationGuard> {
        sync::lock(&self.append)
            .producers
            .start_verification(producer_id, producer_epoch)
    }

    /// Appends transaction markers (control batches a WriteTxnMarkers request asks
    /// for) as leader: what clients may not write, with every other leader check.
    pub fn append_markers_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LogAppendInfo, AppendError> {
        self.append_from(
            records,
            leader_epoch,
            now_ms,
            Origin::Coordinator,
            TxnVerification::NotRequired,
        )
    }

    fn append_from(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: Origin,
        verification: TxnVerification,
    ) -> Result<LogAppendInfo, AppendError> {
        let cfg = self.config_ref();
        let batches = validate::validate(records, &cfg, now_ms, origin)?;
        let markers = control_markers(records, &batches);
        // Kafka's `EndTransactionMarker.deserialize` refuses a control record that is no
        // marker (clients never get here with one: validation refused it).
        if let Some(batch_index) = batches
            .iter()
            .zip(&markers)
            .position(|((_, h), m)| h.is_control() && m.is_none())
        {
            return Err(AppendError::InvalidRecord {
                batch_index,
                reason: "control batch holds no transaction marker".into(),
            });
        }
        if records.len() as u64 > cfg.segment_bytes {
            return Err(AppendError::RecordListTooLarge {
                size: records.len(),
                max: cfg.segment_bytes,
            });
        }
        let mut st = sync::lock(&self.append);
        let headers: Vec<BatchHeader> = batches.iter().map(|(_, h)| *h).collect();
        if let SequenceCheck::Duplicate(dup) = st
            .producers
            .check_leader_append(&headers, origin == Origin::Client)?
        {
            return Ok(LogAppendInfo {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset,
                log_append_time: -1,
                log_start_offset: self.log_start_offset(),
                record_count: (dup.last_offset - dup.first_offset + 1) as u64,
                duplicate: true,
            });
        }
        let ended: Vec<(i64, EndTransactionMarker)> = headers
            .iter()
            .zip(&markers)
            .filter_map(|(h, m)| m.map(|m| (h.producer_id, m)))
            .collect();
        st.producers.check_coordinator_epochs(&ended)?;
        st.producers.check_verification(&headers, verification)?;
        let log_append_time = cfg.message_timestamp_type == TimestampType::LogAppendTime;
        let mut next = self.log_end_offset();
        let first_offset = next;
        // Offsets, epoch and LogAppendTime live in the header: rewrite copies of the
        // headers only and write them beside the producer's bodies (one pwritev).
        let mut new_headers = Vec::with_capacity(batches.len());
        let mut assigned = Vec::with_capacity(batches.len());
        for (pos, h) in &batches {
            let bytes = &records[*pos..*pos + h.total_size()];
            let mut header = [0u8; HEADER_SIZE];
            header.copy_from_slice(&bytes[..HEADER_SIZE]);
            batch::set_base_offset(&mut header, next);
            batch::set_partition_leader_epoch(&mut header, leader_epoch);
            if log_append_time {
                batch::set_log_append_time_detached(&mut header, &bytes[HEADER_SIZE..], now_ms);
            } else if BatchHeader::parse(&header)
                .is_some_and(|raw| raw.max_timestamp != h.max_timestamp || raw.is_log_append_time())
            {
                batch::set_create_time_detached(
                    &mut header,
                    &bytes[HEADER_SIZE..],
                    h.max_timestamp,
                );
            }
            let mut h = BatchHeader::parse(&header).unwrap_or(*h);
            h.base_offset = next;
            next = h.next_offset();
            new_headers.push(header);
            assigned.push((*pos, h));
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * batches.len());
        for (header, (pos, h)) in new_headers.iter().zip(&batches) {
            parts.push(header);
            parts.push(&records[*pos + HEADER_SIZE..*pos + h.total_size()]);
        }
        self.write_batches(&mut st, &cfg, &parts, &assigned, &markers, now_ms)?;
        if super::assign_epoch(&mut st.epochs, leader_epoch, first_offset) {
            self.note_assigned_epoch(&mut st)?;
        }
        Ok(LogAppendInfo {
            first_offset,
            last_offset: next - 1,
            log_append_time: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset(),
            record_count: (next - first_offset) as u64,
            duplicate: false,
        })
    }

    /// [`Log::assign_leader_epoch`] for many logs at once (the replicas an image makes
    /// leaders), their checkpoint fsyncs in parallel: under write load each fsync waits
    /// for a journal commit (10-25 ms on ext4 with dirty segment data), and one after
    /// another they held a controlled shutdown's new leaders back for that much per
    /// partition. Concurrent fsyncs share commits. Returns the failures, by position.
    pub fn assign_leader_epochs(logs: &[(Arc<Log>, i32)]) -> Vec<(usize, StorageError)> {
        const THREADS: usize = 8;
        if logs.len() < 2 {
            return logs
                .iter()
                .enumerate()
                .filter_map(|(i, (log, epoch))| {
                    log.assign_leader_epoch(*epoch).err().map(|e| (i, e))
                })
                .collect();
        }
        let per_thread = logs.len().div_ceil(THREADS);
        std::thread::scope(|scope| {
            let workers: Vec<_> = logs
                .chunks(per_thread)
                .enumerate()
                .map(|(chunk, part)| {
                    scope.spawn(move || {
                        part.iter()
                            .enumerate()
                            .filter_map(|(i, (log, epoch))| {
                                log.assign_leader_epoch(*epoch)
                                    .err()
                                    .map(|e| (chunk * per_thread + i, e))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        })
    }

    /// Records that `leader_epoch` starts at the current log end. A new leader does this
    /// before its first append (Kafka's `becomeLeader`), so OffsetForLeaderEpoch answers
    /// followers of the new epoch correctly even while no record has been written in it.
    pub fn assign_leader_epoch(&self, leader_epoch: i32) -> Result<(), StorageError> {
        let mut st = sync::lock(&self.append);
        if super::assign_epoch(&mut st.epochs, leader_epoch, self.log_end_offset()) {
            self.note_assigned_epoch(&mut st)?;
        }
        Ok(())
    }

    /// Replication path: the batches carry their offsets; they must continue the log.
    pub fn append_as_follower(&self, records: &[u8]) -> Result<LogAppendInfo, AppendError> {
        let cfg = self.config_ref();
        let batches = validate::validate(records, &cfg, 0, Origin::Replication)?;
        let mut st = sync::lock(&self.append);
        let mut expected = self.log_end_offset();
        for (i, (_, h)) in batches.iter().enumerate() {
            if i == 0 && h.base_offset < expected {
                return Err(AppendError::UnexpectedAppendOffset {
                    first_offset: h.base_offset,
                    last_offset: h.next_offset() - 1,
                    log_end_offset: expected,
                });
            }
            if h.base_offset < expected {
                return Err(AppendError::InvalidRecord {
                    batch_index: i,
                    reason: format!(
                        "batch offset {} is below the log end offset {expected}",
                        h.base_offset
                    ),
                });
            }
            expected = h.next_offset();
        }
        let first_offset = batches.first().map_or(expected, |(_, h)| h.base_offset);
        let markers = control_markers(records, &batches);
        self.write_batches(
            &mut st,
            &cfg,
            &[records],
            &batches,
            &markers,
            super::now_ms(),
        )?;
        let mut changed = false;
        for (_, h) in &batches {
            changed |= super::assign_epoch(&mut st.epochs, h.partition_leader_epoch, h.base_offset);
        }
        if changed {
            self.note_assigned_epoch(&mut st)?;
        }
        Ok(LogAppendInfo {
            first_offset,
            last_offset: expected - 1,
            log_append_time: -1,
            log_start_offset: self.log_start_offset(),
            record_count: batches
                .iter()
                .map(|(_, h)| h.records_count.max(0) as u64)
                .sum(),
            duplicate: false,
        })
    }

    /// Writes batches with final offsets (rolling first when needed) and updates producer
    /// state, the log end offset and the flush policy. Caller holds the append lock.
    /// `markers[i]`: batch i's transaction marker; an ABORT's transaction goes to the
    /// segment's `.txnindex` first, so the index never misses a marker in the log
    /// (recovery cuts an entry whose marker did not make it).
    fn write_batches(
        &self,
        st: &mut AppendState,
        cfg: &LogConfig,
        parts: &[&[u8]],
        batches: &[(usize, BatchHeader)],
        markers: &[Option<EndTransactionMarker>],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let (Some((_, first)), Some((_, last))) = (batches.first(), batches.last()) else {
            return Ok(());
        };
        let max_ts = batches
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(-1);
        let segment = self.maybe_roll(
            st,
            cfg,
            size,
            first.base_offset,
            last.last_offset(),
            max_ts,
            now_ms,
        )?;
        let aborts = batches
            .iter()
            .zip(markers)
            .filter(|(_, m)| m.is_some_and(|m| !m.commit));
        for ((_, h), _) in aborts {
            let first = st
                .producers
                .get(h.producer_id)
                .map(|e| e.current_txn_first_offset)
                .filter(|o| *o >= 0)
                .unwrap_or(h.base_offset);
            let txn = AbortedTxn {
                producer_id: h.producer_id,
                first_offset: first,
                last_offset: h.base_offset,
                // At most the LSO right after the marker (a lower value only makes a
                // fetch look further).
                last_stable_offset: first,
            };
            let path = self
                .dir()
                .join(crate::segment::file_name(segment.base_offset, "txnindex"));
            TxnIndex::open(&path)?.append(txn)?;
            st.aborted.push(txn);
        }
        segment.append_parts(parts, batches, cfg.index_interval_bytes)?;
        let mut messages = 0i64;
        for ((_, h), marker) in batches.iter().zip(markers) {
            st.producers.update_with_marker(h, *marker);
            messages += i64::from(h.records_count.max(0));
        }
        self.log_end.store(last.next_offset(), Ordering::Release);
        st.unflushed_messages += messages;
        if st.unflushed_messages >= cfg.flush_messages {
            segment.flush()?;
            self.sync_epoch_checkpoint(st)?;
            self.recovery_point
                .fetch_max(last.next_offset(), Ordering::AcqRel);
            st.unflushed_messages = 0;
            st.last_flush_ms = now_ms;
        }
        Ok(())
    }

    /// Returns the segment to append to, rolling on segment.bytes, segment.ms, a full
    /// index, or a relative offset that would not fit in the index's i32.
    #[allow(clippy::too_many_arguments)]
    fn maybe_roll(
        &self,
        st: &mut AppendState,
        cfg: &LogConfig,
        size: u64,
        first_offset: i64,
        last_offset: i64,
        max_ts: i64,
        now_ms: i64,
    ) -> Result<Arc<Segment>, StorageError> {
        let active = match self.active_segment() {
            Some(s) => s,
            None => return self.roll(st, first_offset, now_ms),
        };
        if active.is_empty() {
            if active.base_offset == first_offset {
                return Ok(active);
            }
            // An empty segment whose base does not match (follower offsets jumped).
            return self.roll(st, first_offset, now_ms);
        }
        let reason = if active.size() + size > cfg.segment_bytes {
            Some("segment.bytes")
        } else if active.time_waited_for_roll(now_ms, max_ts) > cfg.segment_ms {
            Some("segment.ms")
        } else if active.index_is_full(cfg.segment_index_bytes) {
            Some("segment.index.bytes")
        } else if last_offset - active.base_offset > i64::from(i32::MAX) {
            Some("relative offset overflow")
        } else {
            None
        };
        match reason {
            None => Ok(active),
            Some(reason) => {
                tracing::debug!(partition = %self.tp, reason, offset = first_offset, "rolling segment");
                self.roll(st, first_offset, now_ms)
            }
        }
    }

    /// Seals and fsyncs the active segment, snapshots producer state at the new base
    /// offset, and starts a new segment there.
    pub(super) fn roll(
        &self,
        st: &mut AppendState,
        base: i64,
        now_ms: i64,
    ) -> Result<Arc<Segment>, StorageError> {
        let dir = self.dir();
        if let Some(active) = self.active_segment() {
            active.seal();
            active.flush()?;
            self.sync_epoch_checkpoint(st)?;
            self.recovery_point
                .fetch_max(active.next_offset(), Ordering::AcqRel);
            if active.is_empty() {
                sync::write(&self.segments).remove(&active.base_offset);
                active.delete_files()?;
            }
        }
        producer_state::write_snapshot(&dir, base, &st.producers)?;
        producer_state::retain_latest(&dir, 3)?;
        let seg = Arc::new(Segment::create(&dir, base, "", now_ms)?);
        sync::write(&self.segments).insert(base, seg.clone());
        Ok(seg)
    }

    /// Rolls now if the active segment holds data (retention deleting everything).
    pub(super) fn roll_if_not_empty(&self, now_ms: i64) -> Result<(), StorageError> {
        let mut st = sync::lock(&self.append);
        if self.active_segment().is_some_and(|s| !s.is_empty()) {
            let base = self.log_end_offset();
            self.roll(&mut st, base, now_ms)?;
        }
        Ok(())
    }
}
