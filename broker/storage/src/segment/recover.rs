//! Crash recovery of one segment: validating every batch (shape, CRC-32C, increasing
//! offsets) and truncating a torn or corrupt tail to the last valid batch, rebuilding the
//! indexes on the way; and the cheaper tail scan used after a clean shutdown.

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::{RECOVERY_CHUNK, Segment};
use crate::batch::{self, BatchHeader};
use crate::error::StorageError;
use crate::index::SegmentIndex;
use crate::sync;

impl Segment {
    /// Scans from `start` (the last indexed batch) to the end without CRC checks, as
    /// Kafka does after a clean shutdown, extending the loaded index; a malformed tail is
    /// cut off.
    pub(super) fn scan_tail(
        &self,
        start: u64,
        interval: u64,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), StorageError> {
        let mut batches = Vec::new();
        self.scan_headers(start, &mut |p, h| {
            batches.push((p, *h));
            true
        })?;
        let end = batches
            .last()
            .map_or(start, |(p, h)| p + h.total_size() as u64);
        {
            // bytes_since_last_entry starts at 0, so the already indexed batch at `start`
            // does not get a second entry.
            let mut idx = sync::write(&self.index);
            for (p, h) in &batches {
                idx.on_batch(
                    self.base_offset,
                    *p,
                    h.last_offset(),
                    h.max_timestamp,
                    h.total_size() as u64,
                    interval,
                );
                on_batch(h);
            }
        }
        if let Some((_, h)) = batches.last() {
            self.next_offset.store(h.next_offset(), Ordering::Release);
        }
        if end < self.size() {
            self.truncate_file(end, "unreadable tail after the last index entry")?;
        }
        Ok(())
    }

    /// Validates every batch (shape, CRC-32C, increasing offsets), rebuilds the indexes
    /// and truncates the file after the last valid batch. Returns the bytes cut off.
    pub fn recover(
        &self,
        interval: u64,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<u64, StorageError> {
        let size = self
            .file
            .metadata()
            .map_err(|e| StorageError::io(self.path("log"), e))?
            .len();
        let mut idx = SegmentIndex::new();
        let mut pos: u64 = 0;
        let mut expected_min = self.base_offset;
        let mut next = self.base_offset;
        let mut buf: Vec<u8> = Vec::new();
        let mut first_ts = -1;
        let mut problem: Option<String> = None;
        let mut valid_end: u64 = 0;
        'outer: while pos < size {
            let want = (RECOVERY_CHUNK as u64).min(size - pos) as usize;
            buf.resize(want, 0);
            self.file
                .read_exact_at(&mut buf, pos)
                .map_err(|e| StorageError::io(self.path("log"), e))?;
            let mut at = 0usize;
            loop {
                let rest = &buf[at..];
                if rest.is_empty() {
                    break;
                }
                let Some(h) = BatchHeader::parse(rest) else {
                    if pos + at as u64 + (rest.len() as u64) < size {
                        break; // header straddles the chunk: re-read from here
                    }
                    problem = Some("truncated batch header".into());
                    break 'outer;
                };
                if let Err(reason) = h.check_shape() {
                    problem = Some(reason.to_string());
                    break 'outer;
                }
                let total = h.total_size();
                if pos + (at + total) as u64 > size {
                    problem = Some(format!(
                        "batch of {total} bytes runs past the end of the file"
                    ));
                    break 'outer;
                }
                if total > rest.len() {
                    if at == 0 {
                        // A batch larger than the chunk: read exactly it.
                        buf.resize(total, 0);
                        self.file
                            .read_exact_at(&mut buf, pos)
                            .map_err(|e| StorageError::io(self.path("log"), e))?;
                        continue;
                    }
                    break;
                }
                if !batch::crc_valid(&rest[..total], &h) {
                    problem = Some(format!("CRC mismatch in batch at offset {}", h.base_offset));
                    break 'outer;
                }
                if h.base_offset < expected_min
                    || h.last_offset() - self.base_offset > i64::from(i32::MAX)
                {
                    problem = Some(format!(
                        "batch offset {} out of order (expected at least {expected_min})",
                        h.base_offset
                    ));
                    break 'outer;
                }
                if first_ts < 0 {
                    first_ts = h.max_timestamp;
                }
                idx.on_batch(
                    self.base_offset,
                    pos + at as u64,
                    h.last_offset(),
                    h.max_timestamp,
                    total as u64,
                    interval,
                );
                on_batch(&h);
                expected_min = h.next_offset();
                next = h.next_offset();
                at += total;
                valid_end = pos + at as u64;
            }
            if at == 0 {
                problem = Some("unreadable batch".into());
                break;
            }
            pos += at as u64;
        }
        // Index files are rewritten from scratch.
        self.clear_index_files()?;
        *sync::write(&self.index) = idx;
        self.next_offset.store(next, Ordering::Release);
        self.first_batch_timestamp
            .store(first_ts, Ordering::Relaxed);
        let cut = size - valid_end;
        if let Some(reason) = problem {
            self.truncate_file(valid_end, &reason)?;
        } else {
            self.size.store(valid_end, Ordering::Release);
        }
        Ok(cut)
    }

    pub(super) fn truncate_file(&self, pos: u64, reason: &str) -> Result<(), StorageError> {
        let path = self.path("log");
        tracing::warn!(file = %path.display(), position = pos, reason, "truncating corrupt or torn log tail");
        self.file
            .set_len(pos)
            .map_err(|e| StorageError::io(&path, e))?;
        self.size.store(pos, Ordering::Release);
        Ok(())
    }
}
