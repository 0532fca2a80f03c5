//! The sparse per-segment indexes, Kafka's `.index` (relative offset i32, position i32)
//! and `.timeindex` (timestamp i64, relative offset i32) files. Entries live in memory
//! and are appended to their files on flush/roll/close; an index whose file fails the
//! sanity check is rebuilt from the `.log` by the segment.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::StorageError;

/// Why an index file fails the sanity check on load (the segment then rebuilds it
/// from the `.log`, as Kafka does).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has a partial entry", path.display())]
    PartialEntry { path: PathBuf },
    #[error("{} entries are not increasing", path.display())]
    NotIncreasing { path: PathBuf },
    #[error("{} points past the log", path.display())]
    PastTheLog { path: PathBuf },
}

pub const OFFSET_ENTRY_SIZE: u64 = 8;
pub const TIME_ENTRY_SIZE: u64 = 12;

/// Both indexes of one segment plus the bookkeeping that decides when to add entries.
#[derive(Debug, Default, Clone)]
pub struct SegmentIndex {
    /// (offset - base offset, byte position of the batch whose last offset this is).
    pub offsets: Vec<(u32, u32)>,
    /// (max timestamp so far, offset - base offset of the batch holding it).
    pub times: Vec<(i64, u32)>,
    persisted_offsets: usize,
    persisted_times: usize,
    /// Bytes appended since the last offset-index entry (Kafka's bytesSinceLastIndexEntry).
    pub bytes_since_last_entry: u64,
    /// Largest batch max timestamp in the segment (-1 when none).
    pub max_timestamp: i64,
    /// Last offset of the batch that holds `max_timestamp`.
    pub offset_of_max_timestamp: i64,
}

impl SegmentIndex {
    pub fn new() -> Self {
        SegmentIndex {
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            ..Default::default()
        }
    }

    /// Accounts for one appended batch (called in log order).
    pub fn on_batch(
        &mut self,
        base_offset: i64,
        position: u64,
        last_offset: i64,
        max_timestamp: i64,
        size: u64,
        interval: u64,
    ) {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_last_entry > interval {
            let rel = (last_offset - base_offset) as u32;
            self.offsets.push((rel, position as u32));
            // No entry while no record carries a timestamp (Kafka's empty time index
            // reads as NO_TIMESTAMP, and only larger timestamps are appended).
            if self.max_timestamp >= 0
                && self
                    .times
                    .last()
                    .is_none_or(|(ts, _)| self.max_timestamp > *ts)
            {
                let rel_ts = (self.offset_of_max_timestamp - base_offset) as u32;
                self.times.push((self.max_timestamp, rel_ts));
            }
            self.bytes_since_last_entry = 0;
        }
        self.bytes_since_last_entry += size;
    }

    /// Kafka appends the segment's max timestamp to the time index when a segment stops
    /// being active, so timestamp lookups can skip it without a scan.
    pub fn seal(&mut self, base_offset: i64) {
        if self.max_timestamp >= 0
            && self
                .times
                .last()
                .is_none_or(|(ts, _)| self.max_timestamp > *ts)
        {
            self.times.push((
                self.max_timestamp,
                (self.offset_of_max_timestamp - base_offset) as u32,
            ));
        }
    }

    /// Byte position to start scanning from for `offset` (relative to the base).
    pub fn lookup(&self, rel_offset: i64) -> u64 {
        let i = self
            .offsets
            .partition_point(|(rel, _)| i64::from(*rel) <= rel_offset);
        if i == 0 {
            0
        } else {
            u64::from(self.offsets[i - 1].1)
        }
    }

    /// The last entry's byte position at or below `pos` (0 without one): entries are
    /// in position order too, each at a batch boundary.
    pub fn position_at_or_below(&self, pos: u64) -> u64 {
        let i = self.offsets.partition_point(|(_, p)| u64::from(*p) <= pos);
        if i == 0 {
            0
        } else {
            u64::from(self.offsets[i - 1].1)
        }
    }

    /// Relative offset to start scanning from for the first record with timestamp >= ts:
    /// the last entry whose timestamp is < ts (all earlier data is older).
    pub fn lookup_time(&self, ts: i64) -> Option<u32> {
        let i = self.times.partition_point(|(t, _)| *t < ts);
        if i == 0 {
            None
        } else {
            Some(self.times[i - 1].1)
        }
    }

    pub fn is_full(&self, segment_index_bytes: u64) -> bool {
        self.offsets.len() as u64 >= segment_index_bytes / OFFSET_ENTRY_SIZE
            || self.times.len() as u64 >= segment_index_bytes / TIME_ENTRY_SIZE
    }

    /// Whether some entries are not yet in the index files.
    pub fn has_unpersisted(&self) -> bool {
        self.persisted_offsets < self.offsets.len() || self.persisted_times < self.times.len()
    }

    /// Appends the entries not yet on disk to the index files.
    pub fn persist(
        &mut self,
        offset_file: &File,
        time_file: &File,
        paths: (&Path, &Path),
    ) -> Result<(), StorageError> {
        if self.persisted_offsets < self.offsets.len() {
            let mut buf = Vec::with_capacity((self.offsets.len() - self.persisted_offsets) * 8);
            for (rel, pos) in &self.offsets[self.persisted_offsets..] {
                buf.extend_from_slice(&rel.to_be_bytes());
                buf.extend_from_slice(&pos.to_be_bytes());
            }
            let at = self.persisted_offsets as u64 * OFFSET_ENTRY_SIZE;
            offset_file
                .write_all_at(&buf, at)
                .map_err(|e| StorageError::io(paths.0, e))?;
            self.persisted_offsets = self.offsets.len();
        }
        if self.persisted_times < self.times.len() {
            let mut buf = Vec::with_capacity((self.times.len() - self.persisted_times) * 12);
            for (ts, rel) in &self.times[self.persisted_times..] {
                buf.extend_from_slice(&ts.to_be_bytes());
                buf.extend_from_slice(&rel.to_be_bytes());
            }
            let at = self.persisted_times as u64 * TIME_ENTRY_SIZE;
            time_file
                .write_all_at(&buf, at)
                .map_err(|e| StorageError::io(paths.1, e))?;
            self.persisted_times = self.times.len();
        }
        Ok(())
    }

    /// Loads both index files and checks them against the log size. `Err(reason)` means
    /// "rebuild from the log", as Kafka does when an index fails its sanity check.
    pub fn load(
        offset_path: &Path,
        time_path: &Path,
        base_offset: i64,
        log_size: u64,
    ) -> Result<SegmentIndex, IndexError> {
        let offset_bytes = read_all(offset_path)?;
        let time_bytes = read_all(time_path)?;
        if !(offset_bytes.len() as u64).is_multiple_of(OFFSET_ENTRY_SIZE) {
            return Err(IndexError::PartialEntry {
                path: offset_path.into(),
            });
        }
        if !(time_bytes.len() as u64).is_multiple_of(TIME_ENTRY_SIZE) {
            return Err(IndexError::PartialEntry {
                path: time_path.into(),
            });
        }
        let mut idx = SegmentIndex::new();
        for e in offset_bytes.chunks_exact(8) {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            if let Some((prel, ppos)) = idx.offsets.last()
                && (rel <= *prel || pos <= *ppos)
            {
                return Err(IndexError::NotIncreasing {
                    path: offset_path.into(),
                });
            }
            if u64::from(pos) >= log_size || rel > i32::MAX as u32 {
                return Err(IndexError::PastTheLog {
                    path: offset_path.into(),
                });
            }
            idx.offsets.push((rel, pos));
        }
        for e in time_bytes.chunks_exact(12) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[0..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            if let Some((pts, prel)) = idx.times.last()
                && (ts <= *pts || rel < *prel)
            {
                return Err(IndexError::NotIncreasing {
                    path: time_path.into(),
                });
            }
            idx.times.push((ts, rel));
        }
        idx.persisted_offsets = idx.offsets.len();
        idx.persisted_times = idx.times.len();
        if let Some((ts, rel)) = idx.times.last() {
            idx.max_timestamp = *ts;
            idx.offset_of_max_timestamp = base_offset + i64::from(*rel);
        }
        Ok(idx)
    }
}

fn read_all(path: &Path) -> Result<Vec<u8>, IndexError> {
    let read_error = |source| IndexError::Read {
        path: path.into(),
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(read_error)?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(read_error)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_floor_entry() {
        let mut idx = SegmentIndex::new();
        // 10 batches of 100 bytes, 10 records each, interval 150 bytes.
        for i in 0..10u64 {
            idx.on_batch(
                1000,
                i * 100,
                1000 + i as i64 * 10 + 9,
                50 + i as i64,
                100,
                150,
            );
        }
        assert!(!idx.offsets.is_empty());
        assert_eq!(idx.lookup(0), 0);
        for (rel, pos) in idx.offsets.clone() {
            assert_eq!(idx.lookup(i64::from(rel)), u64::from(pos));
            // a batch at `pos` ends at `rel`, so it never starts after the target
            assert!(u64::from(pos) <= (u64::from(rel) / 10) * 100);
        }
        assert_eq!(idx.max_timestamp, 59);
        assert_eq!(idx.lookup_time(0), None);
        assert!(idx.lookup_time(1000).is_some());
    }

    #[test]
    fn persisted_index_loads_back_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (op, tp) = (dir.path().join("a.index"), dir.path().join("a.timeindex"));
        let of = File::create(&op).unwrap();
        let tf = File::create(&tp).unwrap();
        let mut idx = SegmentIndex::new();
        for i in 0..20u64 {
            idx.on_batch(0, i * 64, i as i64, i as i64, 64, 100);
        }
        idx.seal(0);
        idx.persist(&of, &tf, (&op, &tp)).unwrap();
        let loaded = SegmentIndex::load(&op, &tp, 0, 20 * 64).unwrap();
        assert_eq!(loaded.offsets, idx.offsets);
        assert_eq!(loaded.times, idx.times);
        let past = SegmentIndex::load(&op, &tp, 0, 64).unwrap_err();
        assert!(
            matches!(&past, IndexError::PastTheLog { path } if *path == op),
            "{past:?}"
        );
        assert_eq!(
            past.to_string(),
            format!("{} points past the log", op.display())
        );
        std::fs::write(&op, [0u8; 5]).unwrap();
        let partial = SegmentIndex::load(&op, &tp, 0, 20 * 64).unwrap_err();
        assert!(
            matches!(&partial, IndexError::PartialEntry { path } if *path == op),
            "{partial:?}"
        );
        let missing = dir.path().join("missing.index");
        let unreadable = SegmentIndex::load(&missing, &tp, 0, 20 * 64).unwrap_err();
        assert!(
            matches!(&unreadable, IndexError::Read { path, .. } if *path == missing),
            "{unreadable:?}"
        );
    }
}
