//! A segment's aborted-transaction index (`<base offset>.txnindex`, Kafka's
//! `TransactionIndex`): one 34-byte entry per transaction aborted in the segment —
//! version (int16, 0), producer id, first offset, last offset (its ABORT marker) and
//! the last stable offset once it ended (int64 each, big-endian) — in the order the
//! markers were appended. A `read_committed` fetch gets the aborted transactions that
//! overlap what it reads, so the consumer can drop their records.
//!
//! The file is written only when a transaction aborts; a segment without one has no
//! file, as in Kafka.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::StorageError;

const VERSION: i16 = 0;
/// Bytes of one entry.
pub const ENTRY_SIZE: usize = 34;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset right after the marker: a fetch below it
    /// needs no later entry of this index.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[..2].copy_from_slice(&VERSION.to_be_bytes());
        for (i, v) in [
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        ]
        .into_iter()
        .enumerate()
        {
            out[2 + i * 8..10 + i * 8].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let version = i16::from_be_bytes([b[0], b[1]]);
        let i64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[2 + i * 8..10 + i * 8]);
            i64::from_be_bytes(a)
        };
        (version == VERSION).then(|| AbortedTxn {
            producer_id: i64_at(0),
            first_offset: i64_at(1),
            last_offset: i64_at(2),
            last_stable_offset: i64_at(3),
        })
    }
}

/// What a `read_committed` fetch learns from one segment's index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbortedCollection {
    pub aborted: Vec<AbortedTxn>,
    /// An entry's last stable offset reached the upper bound: later segments hold
    /// nothing more for this fetch.
    pub complete: bool,
}

/// The `.txnindex` of one segment, its entries kept in memory (a handful per segment).
#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
}

fn io_err(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(path, e)
}

impl TxnIndex {
    /// Opens `path` (absent: an empty index). A size that is not whole entries, or an
    /// unknown version, is refused: recovery rebuilds the index from the log.
    pub fn open(path: &Path) -> Result<TxnIndex, StorageError> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(|e| io_err(path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, e)),
        }
        let corrupt = |reason: String| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() % ENTRY_SIZE != 0 {
            return Err(corrupt(format!(
                "{} bytes is not a whole number of {ENTRY_SIZE}-byte entries",
                bytes.len()
            )));
        }
        let entries = bytes
            .chunks_exact(ENTRY_SIZE)
            .map(|c| AbortedTxn::decode(c).ok_or_else(|| corrupt("unknown entry version".into())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TxnIndex {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Replaces the file with `entries` (recovery rebuilt them from the segment's
    /// batches), fsynced; no entries leave no file, as for a segment where nothing
    /// aborted.
    pub fn rewrite(path: &Path, entries: Vec<AbortedTxn>) -> Result<TxnIndex, StorageError> {
        if entries.is_empty() {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path, e)),
            }
        } else {
            let bytes: Vec<u8> = entries.iter().flat_map(|t| t.encode()).collect();
            let mut f = File::create(path).map_err(|e| io_err(path, e))?;
            f.write_all(&bytes).map_err(|e| io_err(path, e))?;
            f.sync_all().map_err(|e| io_err(path, e))?;
        }
        Ok(TxnIndex {
            path: path.to_path_buf(),
            entries,
        })
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Appends an entry; markers are appended in offset order, so a last offset below
    /// the previous one is refused (Kafka's check).
    pub fn append(&mut self, txn: AbortedTxn) -> Result<(), StorageError> {
        if let Some(last) = self.entries.last()
            && txn.last_offset < last.last_offset
        {
            return Err(StorageError::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "the last offset of appended transactions must increase, but {} < {}",
                    txn.last_offset, last.last_offset
                ),
            });
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, e))?;
        f.write_all(&txn.encode())
            .map_err(|e| io_err(&self.path, e))?;
        self.entries.push(txn);
        Ok(())
    }

    /// Kafka's `collectAbortedTxns`: the transactions that end at or after
    /// `fetch_offset` and begin below `upper_bound`.
    pub fn collect(&self, fetch_offset: i64, upper_bound: i64) -> AbortedCollection {
        let mut out = AbortedCollection::default();
        for t in &self.entries {
            if t.last_offset >= fetch_offset && t.first_offset < upper_bound {
                out.aborted.push(*t);
            }
            if t.last_stable_offset >= upper_bound {
                out.complete = true;
                break;
            }
        }
        out
    }

    /// Drops the entries whose marker is at or past `offset` (the log was truncated
    /// there).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        let keep = self
            .entries
            .iter()
            .take_while(|t| t.last_offset < offset)
            .count();
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        let f = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, e))?;
        f.set_len((keep * ENTRY_SIZE) as u64)
            .map_err(|e| io_err(&self.path, e))
    }

    /// fsyncs the file, if there is one.
    pub fn flush(&self) -> Result<(), StorageError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::open(&path).unwrap();
        assert!(index.entries().is_empty());
        assert!(!path.exists(), "no file until a transaction aborts");
        index.append(txn(7, 10, 15, 16)).unwrap();
        index.append(txn(8, 12, 20, 21)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * ENTRY_SIZE);
        assert_eq!(&bytes[..10], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(&bytes[26..34], &16i64.to_be_bytes());
        assert_eq!(TxnIndex::open(&path).unwrap().entries(), index.entries());
        // Markers come in offset order.
        assert!(index.append(txn(9, 1, 19, 30)).is_err());
    }

    #[test]
    fn a_fetch_collects_the_overlapping_aborts_and_stops_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::open(&dir.path().join("0.txnindex")).unwrap();
        index.append(txn(1, 0, 5, 6)).unwrap();
        index.append(txn(2, 3, 9, 10)).unwrap();
        index.append(txn(3, 12, 14, 15)).unwrap();
        // Reading 6..8: only transaction 2 overlaps, and its LSO (10) passes the bound.
        let c = index.collect(6, 8);
        assert_eq!(
            c.aborted.iter().map(|t| t.producer_id).collect::<Vec<_>>(),
            [2]
        );
        assert!(c.complete);
        // Reading 0..20: all three, and later segments may hold more.
        let c = index.collect(0, 20);
        assert_eq!(c.aborted.len(), 3);
        assert!(!c.complete);
    }

    #[test]
    fn truncation_drops_later_markers_and_a_torn_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.txnindex");
        let mut index = TxnIndex::open(&path).unwrap();
        index.append(txn(1, 0, 5, 6)).unwrap();
        index.append(txn(2, 3, 9, 10)).unwrap();
        index.truncate_to(9).unwrap();
        assert_eq!(TxnIndex::open(&path).unwrap().entries(), &[txn(1, 0, 5, 6)]);
        let mut torn = std::fs::read(&path).unwrap();
        torn.pop();
        std::fs::write(&path, &torn).unwrap();
        assert!(matches!(
            TxnIndex::open(&path),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
