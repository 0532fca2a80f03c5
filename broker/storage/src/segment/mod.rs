//! One log segment: the `<base>.log` file of record batches plus its `.index` and
//! `.timeindex`. Appends come from one writer (the log's append lock); readers use
//! positional reads bounded by `size`, which is published only after the bytes and index
//! entries are in place, so reads never see a partial batch. Loading and crash recovery
//! live in `recover`; finding a batch by position, offset or timestamp in `lookup`;
//! rebuilding the `.txnindex` from the batches in `txn_recover`.

mod lookup;
mod recover;
mod txn_recover;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use crate::batch::{BatchHeader, HEADER_SIZE};
use crate::error::StorageError;
use crate::index::SegmentIndex;
use crate::sync;

/// Kafka's file name for a segment file: the base offset in 20 digits.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// How much of the `.log` recovery reads at once.
pub(super) const RECOVERY_CHUNK: usize = 8 << 20;
/// How much a header scan reads at once.
/// How much a header scan reads at once: one default index interval plus a header
/// covers the usual distance from an index entry to the wanted batch in one read.
const SCAN_CHUNK: usize = 4096 + HEADER_SIZE;

pub struct Segment {
    pub base_offset: i64,
    dir: PathBuf,
    /// "" for a live segment, ".cleaned"/".swap" while compaction builds it, ".deleted"
    /// once retired. File handles stay valid across renames, so in-flight reads are safe.
    suffix: Mutex<String>,
    file: File,
    /// Index entries written to the `.index`/`.timeindex` files but not yet fsynced.
    /// The index files themselves are opened only while entries are written (Kafka's
    /// `LazyIndex`): the entries live in memory, so an idle segment holds one handle,
    /// its `.log`, instead of three.
    index_unsynced: AtomicBool,
    size: AtomicU64,
    next_offset: AtomicI64,
    index: RwLock<SegmentIndex>,
    /// Wall-clock creation time, the segment.ms fallback when batches carry no timestamps.
    created_ms: i64,
    /// Max timestamp of the first batch (Kafka's rollingBasedTimestamp), -1 when empty.
    first_batch_timestamp: AtomicI64,
}

fn open_rw(path: &Path, create_new: bool) -> Result<File, StorageError> {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if create_new {
        o.create(true).truncate(true);
    } else {
        o.create(true);
    }
    o.open(path).map_err(|e| StorageError::io(path, e))
}

impl Segment {
    /// Creates empty files for a new segment (`suffix` "" or ".cleaned").
    pub fn create(
        dir: &Path,
        base_offset: i64,
        suffix: &str,
        now_ms: i64,
    ) -> Result<Segment, StorageError> {
        let p = |ext: &str| dir.join(format!("{}{suffix}", file_name(base_offset, ext)));
        // Empty index files exist from the start (tools and recovery expect all three);
        // their handles are closed at once.
        open_rw(&p("index"), true)?;
        open_rw(&p("timeindex"), true)?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            suffix: Mutex::new(suffix.to_string()),
            file: open_rw(&p("log"), true)?,
            index_unsynced: AtomicBool::new(false),
            size: AtomicU64::new(0),
            next_offset: AtomicI64::new(base_offset),
            index: RwLock::new(SegmentIndex::new()),
            created_ms: now_ms,
            first_batch_timestamp: AtomicI64::new(-1),
        })
    }

    /// Opens an existing segment. With `recover`, the whole `.log` is validated and the
    /// indexes rebuilt (a corrupt tail is truncated); otherwise the index files are loaded
    /// (and rebuilt if they fail the sanity check) and only the tail after the last index
    /// entry is scanned. `on_batch` sees every batch header that was scanned.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        recover: bool,
        index_interval: u64,
        now_ms: i64,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<Segment, StorageError> {
        let p = |ext: &str| dir.join(file_name(base_offset, ext));
        let file = open_rw(&p("log"), false)?;
        let size = file
            .metadata()
            .map_err(|e| StorageError::io(p("log"), e))?
            .len();
        let modified_ms = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now_ms, |d| d.as_millis() as i64);
        let seg = Segment {
            base_offset,
            dir: dir.to_path_buf(),
            suffix: Mutex::new(String::new()),
            file,
            index_unsynced: AtomicBool::new(false),
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            index: RwLock::new(SegmentIndex::new()),
            created_ms: modified_ms,
            first_batch_timestamp: AtomicI64::new(-1),
        };
        let loaded = if recover {
            None
        } else {
            match SegmentIndex::load(&p("index"), &p("timeindex"), base_offset, size) {
                Ok(idx) => Some(idx),
                Err(reason) => {
                    tracing::warn!(segment = %p("log").display(), %reason, "rebuilding index");
                    None
                }
            }
        };
        match loaded {
            Some(idx) => {
                let start = idx.offsets.last().map_or(0, |(_, pos)| u64::from(*pos));
                *sync::write(&seg.index) = idx;
                seg.scan_tail(start, index_interval, on_batch)?;
            }
            None => {
                seg.recover(index_interval, on_batch)?;
            }
        }
        if let Some((_, h)) = seg.first_header()? {
            seg.first_batch_timestamp
                .store(h.max_timestamp, Ordering::Relaxed);
        }
        Ok(seg)
    }

    pub fn path(&self, ext: &str) -> PathBuf {
        let suffix = sync::lock(&self.suffix).clone();
        self.dir
            .join(format!("{}{suffix}", file_name(self.base_offset, ext)))
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }
    /// Last offset + 1 (the base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        sync::read(&self.index).max_timestamp
    }
    /// What retention.ms compares against: the largest record timestamp, or the `.log`
    /// file's modification time when no record carries one (Kafka's `largestTimestamp`:
    /// `lastModified`, which every append moves).
    pub fn largest_timestamp(&self) -> i64 {
        let ts = self.max_timestamp();
        if ts >= 0 {
            return ts;
        }
        self.file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms, |d| d.as_millis() as i64)
    }
    pub fn index_entries(&self) -> usize {
        let idx = sync::read(&self.index);
        idx.offsets.len().max(idx.times.len())
    }
    pub fn index_is_full(&self, segment_index_bytes: u64) -> bool {
        sync::read(&self.index).is_full(segment_index_bytes)
    }
    /// Milliseconds this segment has been "open" for segment.ms, Kafka-style: by record
    /// timestamps when there are any, else by wall clock.
    pub fn time_waited_for_roll(&self, now_ms: i64, incoming_max_ts: i64) -> i64 {
        let first = self.first_batch_timestamp.load(Ordering::Relaxed);
        if first >= 0 && incoming_max_ts >= 0 {
            incoming_max_ts.saturating_sub(first)
        } else {
            now_ms.saturating_sub(self.created_ms)
        }
    }

    /// Appends already-validated batches. `batches` holds each batch's position within
    /// `bytes` and its header. Called only under the log's append lock.
    pub fn append(
        &self,
        bytes: &[u8],
        batches: &[(usize, BatchHeader)],
        interval: u64,
    ) -> Result<(), StorageError> {
        let start = self.size.load(Ordering::Acquire);
        self.file
            .write_all_at(bytes, start)
            .map_err(|e| StorageError::io(self.path("log"), e))?;
        self.account(start, batches, interval);
        self.size
            .store(start + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    /// Like `append`, from pieces written with one `pwritev`: the leader path hands the
    /// rewritten batch headers and the producer's untouched bodies, so a produce request's
    /// bytes are not copied in user space before the kernel copies them into the page cache.
    pub fn append_parts(
        &self,
        parts: &[&[u8]],
        batches: &[(usize, BatchHeader)],
        interval: u64,
    ) -> Result<(), StorageError> {
        let start = self.size.load(Ordering::Acquire);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut slices: Vec<std::io::IoSlice<'_>> =
            parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut bufs = &mut slices[..];
        let mut at = start;
        while !bufs.is_empty() {
            let n = rustix::io::pwritev(&self.file, bufs, at)
                .map_err(|e| StorageError::io(self.path("log"), std::io::Error::from(e)))?;
            if n == 0 {
                return Err(StorageError::io(
                    self.path("log"),
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ));
            }
            at += n as u64;
            std::io::IoSlice::advance_slices(&mut bufs, n);
        }
        self.account(start, batches, interval);
        self.size.store(start + len as u64, Ordering::Release);
        Ok(())
    }

    fn account(&self, start: u64, batches: &[(usize, BatchHeader)], interval: u64) {
        let mut idx = sync::write(&self.index);
        let mut last_next = None;
        for (pos, h) in batches {
            if self.first_batch_timestamp.load(Ordering::Relaxed) < 0 && h.max_timestamp >= 0 {
                self.first_batch_timestamp
                    .store(h.max_timestamp, Ordering::Relaxed);
            }
            idx.on_batch(
                self.base_offset,
                start + *pos as u64,
                h.last_offset(),
                h.max_timestamp,
                h.total_size() as u64,
                interval,
            );
            last_next = Some(h.next_offset());
        }
        if let Some(n) = last_next {
            self.next_offset.store(n, Ordering::Release);
        }
    }

    /// Reads `len` bytes at `pos`, bounded by the committed size.
    pub fn read(&self, pos: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let size = self.size();
        let len = (len as u64).min(size.saturating_sub(pos)) as usize;
        // Read into spare capacity: zero-filling first cost as much as the read.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let at = pos + buf.len() as u64;
            match rustix::io::pread(&self.file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => {
                    let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(StorageError::io(self.path("log"), eof));
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(StorageError::io(self.path("log"), e.into())),
            }
        }
        // The capacity may exceed `len`: never hand out bytes past the committed size.
        buf.truncate(len);
        Ok(buf)
    }

    /// Drops every batch whose last offset is >= `offset` (Kafka truncates to a batch
    /// boundary) and rebuilds the index from the remaining bytes.
    pub fn truncate_to(&self, offset: i64, interval: u64) -> Result<(), StorageError> {
        let cut = match self.find_batch(offset)? {
            Some((pos, _)) => pos,
            None => return Ok(()),
        };
        self.file
            .set_len(cut)
            .map_err(|e| StorageError::io(self.path("log"), e))?;
        self.size.store(cut, Ordering::Release);
        self.recover(interval, &mut |_| {})?;
        Ok(())
    }

    /// Writes new index entries and fsyncs the log and both indexes.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(self.path("log"), e))?;
        self.write_index(true)
    }

    /// Writes index entries not yet on disk (no fsync; the next flush does it).
    pub fn persist_index(&self) -> Result<(), StorageError> {
        self.write_index(false)
    }

    /// Opens the index files only when there is something to write or fsync, and closes
    /// them again. The suffix lock is held so a concurrent rename cannot move the files
    /// between naming and opening them.
    fn write_index(&self, fsync: bool) -> Result<(), StorageError> {
        let suffix = sync::lock(&self.suffix);
        let mut idx = sync::write(&self.index);
        let pending = idx.has_unpersisted();
        let unsynced = self.index_unsynced.load(Ordering::Acquire);
        let must_sync = fsync && unsynced;
        if !(pending || must_sync) {
            return Ok(());
        }
        let path = |ext: &str| {
            self.dir
                .join(format!("{}{}", file_name(self.base_offset, ext), suffix))
        };
        let (op, tp) = (path("index"), path("timeindex"));
        let (of, tf) = (open_rw(&op, false)?, open_rw(&tp, false)?);
        idx.persist(&of, &tf, (&op, &tp))?;
        if fsync {
            of.sync_data().map_err(|e| StorageError::io(&op, e))?;
            tf.sync_data().map_err(|e| StorageError::io(&tp, e))?;
            self.index_unsynced.store(false, Ordering::Release);
        } else {
            self.index_unsynced.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Empties both index files (they are about to be rebuilt from the `.log`).
    fn clear_index_files(&self) -> Result<(), StorageError> {
        for ext in ["index", "timeindex"] {
            let p = self.path(ext);
            open_rw(&p, false)?
                .set_len(0)
                .map_err(|e| StorageError::io(&p, e))?;
        }
        self.index_unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// The segment stops being active: record its max timestamp in the time index.
    pub fn seal(&self) {
        sync::write(&self.index).seal(self.base_offset);
    }

    /// Gives the `.log` file `other`'s modification time (Kafka's
    /// `cleaned.lastModified = segments.last.lastModified`). Without a readable time on
    /// `other` there is nothing to copy and the file keeps its own.
    pub fn copy_last_modified_from(&self, other: &Segment) -> Result<(), StorageError> {
        let Ok(modified) = other.file.metadata().and_then(|m| m.modified()) else {
            return Ok(());
        };
        self.file
            .set_modified(modified)
            .map_err(|e| StorageError::io(self.path("log"), e))
    }

    /// Renames all its files (an absent `.txnindex` is fine) to carry `new_suffix` ("" to make a cleaned segment live).
    pub fn rename_suffix(&self, new_suffix: &str) -> Result<(), StorageError> {
        let mut suffix = sync::lock(&self.suffix);
        for ext in ["log", "index", "timeindex", "txnindex"] {
            let from = self
                .dir
                .join(format!("{}{}", file_name(self.base_offset, ext), suffix));
            let to = self
                .dir
                .join(format!("{}{new_suffix}", file_name(self.base_offset, ext)));
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(from, e)),
            }
        }
        *suffix = new_suffix.to_string();
        Ok(())
    }

    /// Removes the files (whatever their current suffix).
    pub fn delete_files(&self) -> Result<(), StorageError> {
        for ext in ["log", "index", "timeindex", "txnindex"] {
            let p = self.path(ext);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(p, e)),
            }
        }
        Ok(())
    }
}
