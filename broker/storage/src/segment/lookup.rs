//! Finding batches in one segment: scanning batch headers from a position, the offset
//! and time indexes' lookups, and the batch that holds an offset or a timestamp.

use std::fs::File;

use super::{SCAN_CHUNK, Segment};
use crate::batch::{self, BatchHeader, HEADER_SIZE};
use crate::error::StorageError;
use crate::sync;

impl Segment {
    /// Calls `f(position, header)` for each batch from `pos` until it returns false or
    /// the committed end is reached.
    pub fn scan_headers(
        &self,
        mut pos: u64,
        f: &mut dyn FnMut(u64, &BatchHeader) -> bool,
    ) -> Result<(), StorageError> {
        let size = self.size();
        while pos + HEADER_SIZE as u64 <= size {
            let chunk = self.read(pos, SCAN_CHUNK)?;
            let mut at = 0usize;
            while let Some(h) = BatchHeader::parse(&chunk[at..]) {
                if h.check_shape().is_err() {
                    return Ok(());
                }
                let total = h.total_size() as u64;
                if pos + at as u64 + total > size {
                    return Ok(());
                }
                if !f(pos + at as u64, &h) {
                    return Ok(());
                }
                at += total as usize;
                if at >= chunk.len() {
                    break;
                }
            }
            if at == 0 {
                return Ok(());
            }
            pos += at as u64;
        }
        Ok(())
    }

    pub fn first_header(&self) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        let mut found = None;
        self.scan_headers(0, &mut |p, h| {
            found = Some((p, *h));
            false
        })?;
        Ok(found)
    }

    /// The batch containing `offset` or, in a gap, the first batch after it.
    /// Byte position of the index entry at or below `offset` (0 without one).
    pub fn index_position(&self, offset: i64) -> u64 {
        sync::read(&self.index).lookup(offset - self.base_offset)
    }

    /// Byte position of the last index entry at or below byte position `pos`
    /// (a batch boundary; 0 without one).
    pub fn index_position_at_or_below(&self, pos: u64) -> u64 {
        sync::read(&self.index).position_at_or_below(pos)
    }

    /// The `.log` file, for reads that hand out file ranges.
    pub fn log_file(&self) -> &File {
        &self.file
    }

    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        let start = self.index_position(offset);
        let mut found = None;
        self.scan_headers(start, &mut |p, h| {
            if h.last_offset() >= offset {
                found = Some((p, *h));
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }

    /// First record with timestamp >= `ts`: (timestamp, offset). LogAppendTime batches
    /// answer with the batch's time and base offset, as Kafka does.
    pub fn find_offset_by_timestamp(
        &self,
        ts: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let start = {
            let idx = sync::read(&self.index);
            if idx.max_timestamp < ts {
                return Ok(None);
            }
            idx.lookup_time(ts)
                .map_or(0, |rel| idx.lookup(i64::from(rel)))
        };
        let mut pos = start;
        loop {
            let mut hit = None;
            self.scan_headers(pos, &mut |p, h| {
                if h.max_timestamp >= ts && h.last_offset() >= min_offset {
                    hit = Some((p, *h));
                    false
                } else {
                    true
                }
            })?;
            let Some((at, h)) = hit else { return Ok(None) };
            if h.is_log_append_time() {
                return Ok(Some((h.max_timestamp, h.base_offset.max(min_offset))));
            }
            let bytes = self.read(at, h.total_size())?;
            let set = batch::decode_records(&bytes).map_err(|reason| StorageError::Decode {
                offset: h.base_offset,
                reason: reason.to_string(),
            })?;
            if let Some(r) = set
                .records
                .iter()
                .find(|r| r.timestamp >= ts && r.offset >= min_offset)
            {
                return Ok(Some((r.timestamp, r.offset)));
            }
            // The batch's newest record lies below `min_offset`: keep looking.
            pos = at + h.total_size() as u64;
        }
    }
}
