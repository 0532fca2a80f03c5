//! Reads for Fetch and ListOffsets. Whole stored batches from the segment holding the
//! requested offset (one segment per read, as Kafka does), bounded by bytes and offsets.

use std::sync::Arc;

use bytes::Bytes;

use super::{Log, ReadResult, TimestampAndOffset};
use crate::batch::{BatchIter, HEADER_SIZE};
use crate::error::{ReadError, StorageError};
use crate::segment::Segment;
use crate::sync;

/// Bytes read past `max_bytes` so that the batch holding the offset, which starts at
/// most about one index interval after its index entry, is found in the same read.
const FIND_SLACK: usize = 4096 + HEADER_SIZE;

enum FastRead {
    Records(Bytes),
    /// The first batch is at or past `max_offset`, or does not fit and
    /// `min_one_message` is off.
    Nothing,
    /// Not settled by one read (batch far from its index entry, larger than the read,
    /// or not in this segment): take the scanning path.
    Fallback,
}

/// The common case in one positional read: from the index entry's position, read
/// `max_bytes` plus a little, find the batch holding `offset` in it and cut the answer
/// out of the same buffer without copying.
fn read_from_index_position(
    seg: &Segment,
    offset: i64,
    max_bytes: usize,
    max_offset: i64,
    min_one_message: bool,
) -> Result<FastRead, StorageError> {
    let start = seg.index_position(offset);
    let chunk = seg.read(start, max_bytes.saturating_add(FIND_SLACK))?;
    let Some((at, first)) = BatchIter::new(&chunk).find(|(_, h)| h.last_offset() >= offset) else {
        return Ok(FastRead::Fallback);
    };
    if first.base_offset >= max_offset {
        return Ok(FastRead::Nothing);
    }
    let mut end = at;
    for (b, h) in BatchIter::new(&chunk[at..]) {
        let fits = b + h.total_size() <= max_bytes;
        if h.base_offset >= max_offset || (b > 0 && !fits) || (b == 0 && !fits && !min_one_message)
        {
            break;
        }
        end = at + b + h.total_size();
    }
    if end == at {
        return Ok(FastRead::Nothing);
    }
    Ok(FastRead::Records(Bytes::from(chunk).slice(at..end)))
}

impl Log {
    /// Whole batches starting at the batch containing `offset`: at most `max_bytes`, but
    /// at least one batch when `min_one_message`; never a batch whose base offset is
    /// `>= max_offset`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_message: bool,
    ) -> Result<ReadResult, ReadError> {
        let log_end = self.check_read_offset(offset)?;
        let result = |records: Bytes| ReadResult {
            records,
            log_start_offset: self.log_start_offset(),
            log_end_offset: log_end,
            high_watermark: self.high_watermark(),
        };
        if offset == log_end || offset >= max_offset {
            return Ok(result(Bytes::new()));
        }
        for seg in self.segments_from(offset) {
            match read_from_index_position(&seg, offset, max_bytes, max_offset, min_one_message)? {
                FastRead::Records(records) => return Ok(result(records)),
                FastRead::Nothing => return Ok(result(Bytes::new())),
                FastRead::Fallback => {}
            }
            let Some((pos, first)) = seg.find_batch(offset)? else {
                continue; // offset past this segment's data (a compaction gap)
            };
            if first.base_offset >= max_offset {
                break;
            }
            let first_size = first.total_size();
            let want = if min_one_message {
                max_bytes.max(first_size)
            } else {
                max_bytes
            };
            if want < first_size {
                break;
            }
            let mut buf = seg.read(pos, want)?;
            let mut end = 0usize;
            let mut iter = BatchIter::new(&buf);
            for (at, h) in iter.by_ref() {
                if h.base_offset >= max_offset || (at > 0 && at + h.total_size() > max_bytes) {
                    break;
                }
                end = at + h.total_size();
            }
            buf.truncate(end);
            return Ok(result(Bytes::from(buf)));
        }
        Ok(result(Bytes::new()))
    }

    /// The log end offset, or OFFSET_OUT_OF_RANGE when `offset` is outside the log.
    pub(super) fn check_read_offset(&self, offset: i64) -> Result<i64, ReadError> {
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset < log_start || offset > log_end {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        Ok(log_end)
    }

    /// The segment holding `offset` and the ones after it, looked up one at a time so
    /// a read never copies the whole segment map.
    pub(super) fn segments_from(&self, offset: i64) -> impl Iterator<Item = Arc<Segment>> + '_ {
        let mut next = sync::read(&self.segments)
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        std::iter::from_fn(move || {
            let segs = sync::read(&self.segments);
            let (base, seg) = segs.range(next..).next()?;
            next = base.checked_add(1)?;
            Some(seg.clone())
        })
    }

    /// ListOffsets: `timestamp >= 0` the first offset whose timestamp is >= it; -1 the
    /// log end; -2 the log start; -3 the record with the largest timestamp.
    pub fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampAndOffset>, StorageError> {
        let with_epoch = |timestamp: i64, offset: i64| TimestampAndOffset {
            timestamp,
            offset,
            leader_epoch: self.epoch_for_offset(offset),
        };
        match timestamp {
            -1 => return Ok(Some(with_epoch(-1, self.log_end_offset()))),
            -2 => return Ok(Some(with_epoch(-1, self.log_start_offset()))),
            -3 => {
                return self
                    .max_timestamp_offset()
                    .map(|o| o.map(|(ts, off)| with_epoch(ts, off)));
            }
            t if t < 0 => return Ok(None),
            _ => {}
        }
        let log_start = self.log_start_offset();
        for seg in self.segments_snapshot() {
            if seg.next_offset() <= log_start || seg.max_timestamp() < timestamp {
                continue;
            }
            if let Some((ts, off)) = seg.find_offset_by_timestamp(timestamp, log_start)? {
                return Ok(Some(with_epoch(ts, off)));
            }
        }
        Ok(None)
    }

    fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let log_start = self.log_start_offset();
        let mut best: Option<(i64, Arc<Segment>)> = None;
        for seg in self.segments_snapshot() {
            let ts = seg.max_timestamp();
            if seg.next_offset() > log_start
                && ts >= 0
                && best.as_ref().is_none_or(|(b, _)| ts > *b)
            {
                best = Some((ts, seg));
            }
        }
        let Some((ts, seg)) = best else {
            return Ok(None);
        };
        seg.find_offset_by_timestamp(ts, log_start)
    }

    /// The leader epoch that wrote `offset`, from the epoch cache.
    pub(crate) fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let st = sync::lock(&self.append);
        st.epochs.epoch_for_offset(offset)
    }
}
