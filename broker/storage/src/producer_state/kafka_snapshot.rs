//! Apache Kafka's producer snapshot files (`ProducerStateManager.writeSnapshot`,
//! version 1), read so a log dir Kafka wrote keeps its idempotent producers' state
//! and `dump-log` prints it. Read only: Tidewater writes its own format, which keeps
//! the last five batches per producer where Kafka's keeps one.
//!
//! Layout (big-endian): version i16 (1), CRC-32C u32 of every byte after it, then an
//! i32 count of entries, each: producer id i64, epoch i16, last sequence i32, last
//! offset i64, offset delta i32, timestamp i64, coordinator epoch i32, first offset
//! of the open transaction i64 (-1 when none).

use std::collections::HashMap;

use super::snapshot_reader::{Reader, SnapshotError};
use super::{BatchMetadata, ProducerStateManager};

/// The only version Kafka writes (3.x and 4.x).
const VERSION: u16 = 1;
const HEADER: usize = 2 + 4;

/// Whether `bytes` begin like a Kafka snapshot rather than one of Tidewater's.
pub(super) fn looks_like_kafka(bytes: &[u8]) -> bool {
    bytes.get(..2) == Some(&VERSION.to_be_bytes()[..])
}

/// Kafka's snapshot as Tidewater's state: each producer's last batch (Kafka keeps no
/// older ones), its first sequence and offset from the offset delta as Kafka's
/// `ProducerStateEntry` derives them.
pub(super) fn decode(bytes: &[u8]) -> Result<ProducerStateManager, SnapshotError> {
    if bytes.len() < HEADER + 4 {
        return Err(SnapshotError::TooShort);
    }
    let crc = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    if crc32c::crc32c(&bytes[HEADER..]) != crc {
        return Err(SnapshotError::Crc);
    }
    let mut r = Reader::new(&bytes[HEADER..]);
    let count = r.u32()?;
    let mut producers = HashMap::new();
    for _ in 0..count {
        let mut entry = r.entry_head()?;
        let offset_delta = r.u32()? as i32;
        entry.last_timestamp = r.i64()?;
        entry.coordinator_epoch = r.u32()? as i32;
        entry.current_txn_first_offset = r.i64()?;
        // Kafka writes an entry without batches (last offset -1) for a producer whose
        // batches were all removed, e.g. by retention, but whose epoch still counts.
        if entry.last_offset >= 0 {
            entry.batches.push_back(BatchMetadata {
                first_sequence: decrement_sequence(entry.last_sequence, offset_delta),
                last_sequence: entry.last_sequence,
                first_offset: entry.last_offset - i64::from(offset_delta),
                last_offset: entry.last_offset,
                timestamp: entry.last_timestamp,
            });
        }
        producers.insert(entry.producer_id, entry);
    }
    if !r.at_end() {
        return Err(SnapshotError::TrailingBytes);
    }
    Ok(ProducerStateManager::from_entries(producers))
}

/// Kafka's `DefaultRecordBatch.decrementSequence`: sequences wrap from
/// `i32::MAX` to 0.
fn decrement_sequence(sequence: i32, by: i32) -> i32 {
    if sequence < by {
        (i64::from(sequence) - i64::from(by) + i64::from(i32::MAX) + 1) as i32
    } else {
        sequence - by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Apache Kafka 4.4.0 for an idempotent producer's partition: producer
    /// 0, epoch 0, its last batch offsets 2900..=2999 with sequences 2900..=2999.
    const KAFKA_SNAPSHOT: [u8; 56] = [
        0x00, 0x01, 0x82, 0x81, 0x5d, 0x4c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0xb7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0b, 0xb7, 0x00, 0x00, 0x00, 0x63, 0x00, 0x00, 0x01, 0xa2, 0x4b, 0x0a, 0x01, 0x24, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    /// Kafka's snapshot of a partition without idempotent producers.
    const KAFKA_EMPTY: [u8; 10] = [0x00, 0x01, 0x48, 0x67, 0x4b, 0xc7, 0x00, 0x00, 0x00, 0x00];

    #[test]
    fn reads_the_snapshots_kafka_wrote() {
        let state = ProducerStateManager::decode(&KAFKA_SNAPSHOT).unwrap();
        let entries: Vec<_> = state.entries().collect();
        assert_eq!(entries.len(), 1);
        let e = entries[0];
        assert_eq!((e.producer_id, e.producer_epoch), (0, 0));
        assert_eq!((e.last_sequence, e.last_offset), (2999, 2999));
        assert_eq!(e.last_timestamp, 1_796_555_276_580);
        assert_eq!(
            e.batches.iter().copied().collect::<Vec<_>>(),
            vec![BatchMetadata {
                first_sequence: 2900,
                last_sequence: 2999,
                first_offset: 2900,
                last_offset: 2999,
                timestamp: 1_796_555_276_580,
            }]
        );
        let empty = ProducerStateManager::decode(&KAFKA_EMPTY).unwrap();
        assert_eq!(empty.entries().count(), 0);
    }

    #[test]
    fn sequences_wrap_like_kafkas() {
        assert_eq!(decrement_sequence(2999, 99), 2900);
        assert_eq!(decrement_sequence(3, 5), i32::MAX - 1);
    }

    #[test]
    fn a_damaged_kafka_snapshot_is_refused() {
        let mut flipped = KAFKA_SNAPSHOT;
        flipped[20] ^= 0x10;
        assert_eq!(
            ProducerStateManager::decode(&flipped),
            Err(SnapshotError::Crc)
        );
        assert_eq!(
            ProducerStateManager::decode(&KAFKA_SNAPSHOT[..40]),
            Err(SnapshotError::Crc)
        );
        assert_eq!(
            ProducerStateManager::decode(&KAFKA_EMPTY[..7]),
            Err(SnapshotError::TooShort)
        );
    }
}
