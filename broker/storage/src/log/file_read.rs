//! Reads for a consumer's Fetch that hand out a range of a segment file instead of
//! its bytes, so the server can send it with `sendfile` (the kernel copies from
//! the page cache to the socket; the bytes never pass through the broker).
//!
//! Whole batches only, like [`Log::read`]: the range is found from the batch
//! headers (a header scan near the start and one near the end, using the offset
//! index both ways), never by reading the records themselves.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

use super::Log;
use crate::error::{ReadError, StorageError};
use crate::segment::Segment;

/// Stored batches as a byte range of one segment's `.log`. Holding it keeps the
/// segment's file open, so the range stays readable while retention or compaction
/// retire the segment; only a truncation below it (a follower's divergent tail)
/// can shorten it, which a sender notices as a short file.
#[derive(Clone)]
pub struct FileRecords {
    segment: Arc<Segment>,
    position: u64,
    len: usize,
}

impl std::fmt::Debug for FileRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecords")
            .field("segment", &self.segment.base_offset)
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}

impl FileRecords {
    /// The segment's `.log` (open for reading at any position).
    pub fn file(&self) -> &File {
        self.segment.log_file()
    }

    /// Where the first batch starts in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batches read into memory (small ranges, and writers without sendfile).
    pub fn read(&self) -> Result<Bytes, StorageError> {
        if self.len == 0 {
            return Ok(Bytes::new());
        }
        let buf = self.segment.read(self.position, self.len)?;
        if buf.len() < self.len {
            let short = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(StorageError::io(self.segment.path("log"), short));
        }
        Ok(Bytes::from(buf))
    }
}

/// A [`Log::read_file`] answer: the batches, or none.
#[derive(Clone, Debug)]
pub struct FileReadResult {
    pub records: Option<FileRecords>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

impl FileReadResult {
    pub fn len(&self) -> usize {
        self.records.as_ref().map_or(0, FileRecords::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Log {
    /// The batches [`Log::read`] would return for the same arguments, as a file range.
    pub fn read_file(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_message: bool,
    ) -> Result<FileReadResult, ReadError> {
        let log_end = self.check_read_offset(offset)?;
        let result = |records| FileReadResult {
            records,
            log_start_offset: self.log_start_offset(),
            log_end_offset: log_end,
            high_watermark: self.high_watermark(),
        };
        if offset == log_end || offset >= max_offset {
            return Ok(result(None));
        }
        for seg in self.segments_from(offset) {
            let Some((start, first)) = seg.find_batch(offset)? else {
                continue; // offset past this segment's data (a compaction gap)
            };
            let first_size = first.total_size();
            if first.base_offset >= max_offset || (first_size > max_bytes && !min_one_message) {
                break;
            }
            let limit = start + max_bytes.max(first_size) as u64;
            let end = batches_end(&seg, start + first_size as u64, limit, max_offset)?;
            let len = usize::try_from(end - start).unwrap_or(usize::MAX);
            return Ok(result(Some(FileRecords {
                segment: seg,
                position: start,
                len,
            })));
        }
        Ok(result(None))
    }
}

/// The end of the last whole batch from `from` (a batch boundary) that ends at or
/// before `limit` and starts below `max_offset`. Batches up to the index entry at
/// or below both bounds are known to qualify, so only the headers after it are read.
fn batches_end(seg: &Segment, from: u64, limit: u64, max_offset: i64) -> Result<u64, StorageError> {
    let mut end = from.max(
        seg.index_position_at_or_below(limit)
            .min(seg.index_position(max_offset)),
    );
    seg.scan_headers(end, &mut |at, h| {
        let batch_end = at + h.total_size() as u64;
        if h.base_offset >= max_offset || batch_end > limit {
            return false;
        }
        end = batch_end;
        true
    })?;
    Ok(end)
}
