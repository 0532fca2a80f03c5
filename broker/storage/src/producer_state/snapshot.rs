//! Producer-state snapshots: the binary encoding (CRC-32C protected) and the
//! `<20-digit offset>.snapshot` files written on roll and clean shutdown and read back
//! on load.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::snapshot_reader::{Reader, SnapshotError};
use super::{BatchMetadata, ProducerStateManager};
use crate::checkpoint::write_atomically;
use crate::error::StorageError;

const SNAPSHOT_MAGIC: &[u8; 4] = b"TWPS";
/// Version 2 adds each producer's open transaction and coordinator epoch. Version 1
/// is still written while no producer has either, so a release that reads only
/// version 1 (0.2.0, during a rollback) keeps its snapshots.
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_VERSION_TXN: u16 = 2;
const SNAPSHOT_EXT: &str = "snapshot";

impl ProducerStateManager {
    /// Serializes the state (binary, CRC-32C protected).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        let txn = self
            .producers
            .values()
            .any(|e| e.current_txn_first_offset >= 0 || e.coordinator_epoch >= 0);
        let version = if txn {
            SNAPSHOT_VERSION_TXN
        } else {
            SNAPSHOT_VERSION
        };
        out.extend_from_slice(&version.to_be_bytes());
        let sorted: BTreeMap<_, _> = self.producers.iter().collect();
        out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
        for e in sorted.values() {
            out.extend_from_slice(&e.producer_id.to_be_bytes());
            out.extend_from_slice(&e.producer_epoch.to_be_bytes());
            out.extend_from_slice(&e.last_sequence.to_be_bytes());
            out.extend_from_slice(&e.last_offset.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
            if txn {
                out.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
                out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            }
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_sequence.to_be_bytes());
                out.extend_from_slice(&b.last_sequence.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
                out.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot in Tidewater's format or in Apache Kafka's (a log dir Kafka
    /// wrote).
    pub fn decode(bytes: &[u8]) -> Result<ProducerStateManager, SnapshotError> {
        if super::kafka_snapshot::looks_like_kafka(bytes) {
            return super::kafka_snapshot::decode(bytes);
        }
        if bytes.len() < 14 {
            return Err(SnapshotError::TooShort);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(SnapshotError::Crc);
        }
        let mut r = Reader::new(body);
        if r.take(4)? != SNAPSHOT_MAGIC {
            return Err(SnapshotError::Magic);
        }
        let txn = match r.u16()? {
            SNAPSHOT_VERSION => false,
            SNAPSHOT_VERSION_TXN => true,
            _ => return Err(SnapshotError::Version),
        };
        let count = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..count {
            let mut entry = r.entry_head()?;
            entry.last_timestamp = r.i64()?;
            if txn {
                entry.current_txn_first_offset = r.i64()?;
                entry.coordinator_epoch = r.u32()? as i32;
            }
            let n = r.take(1)?[0];
            for _ in 0..n {
                entry.batches.push_back(BatchMetadata {
                    first_sequence: r.u32()? as i32,
                    last_sequence: r.u32()? as i32,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            producers.insert(entry.producer_id, entry);
        }
        if !r.at_end() {
            return Err(SnapshotError::TrailingBytes);
        }
        Ok(ProducerStateManager::from_entries(producers))
    }
}

pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(crate::segment::file_name(offset, SNAPSHOT_EXT))
}

pub fn write_snapshot(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
) -> Result<(), StorageError> {
    write_atomically(&snapshot_path(dir, offset), &state.encode())
}

/// Offsets of the snapshot files in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".snapshot")
            && stem.len() == 20
            && let Ok(o) = stem.parse::<i64>()
        {
            out.push(o);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Loads the newest readable snapshot at or below `max_offset`, deleting snapshots above
/// it (they describe a truncated log) and unreadable ones. Returns (offset, state).
pub fn load_latest(
    dir: &Path,
    max_offset: i64,
) -> Result<Option<(i64, ProducerStateManager)>, StorageError> {
    for o in list_snapshots(dir)?.into_iter().filter(|o| *o > max_offset) {
        let _ = std::fs::remove_file(snapshot_path(dir, o));
    }
    read_latest(dir, max_offset)
}

/// The newest readable snapshot at or below `max_offset`, leaving newer ones in place
/// (recovery reads the state a segment starts from); unreadable ones are deleted.
pub fn read_latest(
    dir: &Path,
    max_offset: i64,
) -> Result<Option<(i64, ProducerStateManager)>, StorageError> {
    let snaps = list_snapshots(dir)?;
    for &o in snaps.iter().rev().filter(|o| **o <= max_offset) {
        let path = snapshot_path(dir, o);
        let bytes = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        match ProducerStateManager::decode(&bytes) {
            Ok(s) => return Ok(Some((o, s))),
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "ignoring corrupt producer snapshot");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(None)
}

/// Keeps the newest `keep` snapshots, removing older ones.
pub fn retain_latest(dir: &Path, keep: usize) -> Result<(), StorageError> {
    let snaps = list_snapshots(dir)?;
    if snaps.len() > keep {
        for o in &snaps[..snaps.len() - keep] {
            let _ = std::fs::remove_file(snapshot_path(dir, *o));
        }
    }
    Ok(())
}
