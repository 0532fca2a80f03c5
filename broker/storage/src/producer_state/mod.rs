//! Idempotent-producer state per partition (Kafka's ProducerStateManager): per producer
//! id the epoch and the sequence ranges of its last 5 batches, used on leader appends to
//! spot duplicates, sequence gaps and fenced epochs, and the transactions open here
//! ([`txn`]), which hold the last stable offset back. Snapshotted to
//! `<20-digit offset>.snapshot` files so recovery only replays the log after the snapshot
//! (Apache Kafka's snapshots are read too, for a log dir Kafka wrote).

use std::collections::{HashMap, VecDeque};

use crate::batch::BatchHeader;
use crate::error::AppendError;
pub use txn::CompletedTxn;
use txn::OpenTransactions;

mod kafka_snapshot;
mod snapshot;
mod snapshot_reader;
mod txn;
pub use snapshot::{
    list_snapshots, load_latest, read_latest, retain_latest, snapshot_path, write_snapshot,
};

/// Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN.
pub const BATCHES_TO_RETAIN: usize = 5;
/// Kafka's producer.id.expiration.ms default (1 day).
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// One appended batch of an idempotent producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// What the log knows about one producer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Sequence of the last record appended (-1 when none).
    pub last_sequence: i32,
    /// Offset of the last record appended (-1 when none).
    pub last_offset: i64,
    pub last_timestamp: i64,
    /// The last (up to) five batches, oldest first.
    pub batches: VecDeque<BatchMetadata>,
    /// First offset of its open transaction here (-1: none).
    pub current_txn_first_offset: i64,
    /// The transaction coordinator epoch of its last marker (-1: none yet).
    pub coordinator_epoch: i32,
}

/// The result of checking a leader append against producer state.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    Accept,
    /// The batch was already appended: answer with the original offsets.
    Duplicate(BatchMetadata),
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    txns: OpenTransactions,
}

impl ProducerStateManager {
    pub fn get(&self, producer_id: i64) -> Option<ProducerEntry> {
        self.producers.get(&producer_id).cloned()
    }

    pub fn entries(&self) -> impl Iterator<Item = &ProducerEntry> {
        self.producers.values()
    }

    /// The state of a snapshot: its producers, with their open transactions.
    pub(super) fn from_entries(producers: HashMap<i64, ProducerEntry>) -> Self {
        let mut txns = OpenTransactions::default();
        for e in producers
            .values()
            .filter(|e| e.current_txn_first_offset >= 0)
        {
            txns.begin(e.producer_id, e.current_txn_first_offset);
        }
        ProducerStateManager { producers, txns }
    }

    /// The first offset `read_committed` readers may not read past, if a transaction
    /// holds it (the last stable offset is this or the high watermark, the lower).
    pub fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        self.txns.first_unstable_offset(high_watermark)
    }

    /// Forgets producers whose last write is older than `expiration_ms` (Kafka's
    /// producer.id.expiration.ms), so the map does not grow forever. Returns how many.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // A producer with a transaction open here is kept until its marker ends it.
        self.producers.retain(|_, e| {
            e.current_txn_first_offset >= 0
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks the batches of one leader append in order. The first duplicate answers the
    /// whole append (as Kafka does); otherwise every batch must be in sequence, counting
    /// the earlier batches of the same request. Only a client's batches are checked
    /// for duplicates and sequences (Kafka's `AppendOrigin.CLIENT`); the coordinators'
    /// own (markers, TxnOffsetCommit batches) only for the producer epoch.
    pub fn check_leader_append(
        &self,
        batches: &[BatchHeader],
        client: bool,
    ) -> Result<SequenceCheck, AppendError> {
        // (epoch, last sequence) as the earlier batches of this request leave it.
        let mut pending: HashMap<i64, (i16, i32)> = HashMap::new();
        for h in batches.iter().filter(|h| h.has_producer_id()) {
            let pid = h.producer_id;
            let current = self.producers.get(&pid);
            if client
                && let Some(entry) = current
                && entry.producer_epoch == h.producer_epoch
                && !pending.contains_key(&pid)
                && let Some(dup) = entry.batches.iter().find(|b| {
                    b.first_sequence == h.base_sequence && b.last_sequence == h.last_sequence()
                })
            {
                return Ok(SequenceCheck::Duplicate(*dup));
            }
            let (cur_epoch, cur_last) = match pending.get(&pid) {
                Some(p) => *p,
                None => current.map_or((-1, -1), |e| (e.producer_epoch, e.last_sequence)),
            };
            if cur_epoch >= 0 && h.producer_epoch < cur_epoch {
                return Err(AppendError::InvalidProducerEpoch {
                    producer_id: pid,
                    current: cur_epoch,
                    found: h.producer_epoch,
                });
            }
            if h.is_control() || !client {
                // A marker has no sequence; its epoch (bumped by a fence) is the newest.
                pending.insert(pid, (h.producer_epoch, cur_last));
                continue;
            }
            if h.producer_epoch != cur_epoch {
                // A new epoch starts over at sequence 0 (unless the producer is unknown,
                // e.g. its state was removed with old segments: then anything goes).
                if cur_epoch >= 0 && h.base_sequence != 0 {
                    return Err(AppendError::OutOfOrderSequence {
                        producer_id: pid,
                        expected: 0,
                        found: h.base_sequence,
                    });
                }
            } else if cur_epoch >= 0 && !in_sequence(cur_last, h.base_sequence) {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: cur_last.wrapping_add(1),
                    found: h.base_sequence,
                });
            }
            pending.insert(pid, (h.producer_epoch, h.last_sequence()));
        }
        Ok(SequenceCheck::Accept)
    }

    /// Records an appended batch (with its final offsets). Used by leader and follower
    /// appends and by recovery, so it never refuses anything. A transactional batch
    /// opens its producer's transaction here; a control batch (its marker) ends it, and
    /// the ended transaction is returned.
    pub fn update(&mut self, h: &BatchHeader) -> Option<CompletedTxn> {
        if !h.has_producer_id() {
            return None;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                last_sequence: -1,
                last_offset: -1,
                last_timestamp: -1,
                batches: VecDeque::new(),
                current_txn_first_offset: -1,
                coordinator_epoch: -1,
            });
        if h.producer_epoch != entry.producer_epoch {
            entry.producer_epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.is_control() {
            // A marker carries no sequence: the producer's sequences go on after it.
            entry.last_timestamp = h.max_timestamp;
            let first =
                (entry.current_txn_first_offset >= 0).then_some(entry.current_txn_first_offset);
            entry.current_txn_first_offset = -1;
            return Some(self.txns.end(h.producer_id, first, h.base_offset));
        }
        if h.is_transactional() && entry.current_txn_first_offset < 0 {
            entry.current_txn_first_offset = h.base_offset;
            self.txns.begin(h.producer_id, h.base_offset);
        }
        entry.last_sequence = h.last_sequence();
        entry.last_offset = h.last_offset();
        entry.last_timestamp = h.max_timestamp;
        if h.base_sequence >= 0 {
            entry.batches.push_back(BatchMetadata {
                first_sequence: h.base_sequence,
                last_sequence: h.last_sequence(),
                first_offset: h.base_offset,
                last_offset: h.last_offset(),
                timestamp: h.max_timestamp,
            });
            while entry.batches.len() > BATCHES_TO_RETAIN {
                entry.batches.pop_front();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::HEADER_SIZE;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        let mut h = BatchHeader::parse(&[0u8; HEADER_SIZE]).unwrap();
        h.producer_id = pid;
        h.producer_epoch = epoch;
        h.base_sequence = seq;
        h.last_offset_delta = count - 1;
        h.records_count = count;
        h.base_offset = base_offset;
        h
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let mut s = ProducerStateManager::default();
        for i in 0..7 {
            let h = header(1, 0, i * 2, 2, i64::from(i) * 2);
            assert_eq!(
                s.check_leader_append(&[h], true).unwrap(),
                SequenceCheck::Accept
            );
            s.update(&h);
        }
        // batches 2..=6 are retained; 0 and 1 are too old to recognise
        assert!(matches!(
            s.check_leader_append(&[header(1, 0, 4, 2, 0)], true)
                .unwrap(),
            SequenceCheck::Duplicate(BatchMetadata {
                first_offset: 4,
                last_offset: 5,
                ..
            })
        ));
        assert!(matches!(
            s.check_leader_append(&[header(1, 0, 0, 2, 0)], true),
            Err(AppendError::OutOfOrderSequence {
                expected: 14,
                found: 0,
                ..
            })
        ));
        // several batches of one request are checked against each other
        assert_eq!(
            s.check_leader_append(&[header(1, 0, 14, 1, 0), header(1, 0, 15, 1, 0)], true)
                .unwrap(),
            SequenceCheck::Accept
        );
        assert!(
            s.check_leader_append(&[header(1, 0, 14, 1, 0), header(1, 0, 16, 1, 0)], true)
                .is_err()
        );
        // expiry forgets producers idle for longer than the expiration
        let mut t = s.clone();
        t.update(&{
            let mut h = header(9, 0, 0, 1, 20);
            h.max_timestamp = 1_000;
            h
        });
        assert_eq!(
            t.remove_expired(
                1_000 + PRODUCER_ID_EXPIRATION_MS - 1,
                PRODUCER_ID_EXPIRATION_MS
            ),
            1
        );
        assert!(t.get(9).is_some() && t.get(1).is_none());
        // an unknown producer may start anywhere; sequences wrap at i32::MAX
        assert_eq!(
            s.check_leader_append(&[header(2, 3, 77, 1, 0)], true)
                .unwrap(),
            SequenceCheck::Accept
        );
        let wrap = header(3, 0, i32::MAX, 1, 0);
        s.update(&wrap);
        assert_eq!(
            s.check_leader_append(&[header(3, 0, 0, 1, 1)], true)
                .unwrap(),
            SequenceCheck::Accept
        );
    }

    #[test]
    fn a_coordinators_batches_are_checked_for_the_epoch_only() {
        // TxnOffsetCommit batches all start at sequence 0, as Kafka writes them.
        let mut s = ProducerStateManager::default();
        let first = transactional(header(1, 2, 0, 1, 0));
        assert_eq!(
            s.check_leader_append(&[first], false).unwrap(),
            SequenceCheck::Accept
        );
        s.update(&first);
        // The same sequence again is no duplicate, and no sequence is out of order.
        let again = transactional(header(1, 2, 0, 1, 1));
        assert_eq!(
            s.check_leader_append(&[again], false).unwrap(),
            SequenceCheck::Accept
        );
        assert!(matches!(
            s.check_leader_append(&[again], true),
            Ok(SequenceCheck::Duplicate(_))
        ));
        assert!(matches!(
            s.check_leader_append(&[transactional(header(1, 2, 7, 1, 1))], false),
            Ok(SequenceCheck::Accept)
        ));
        // A fenced producer (older epoch) is refused whoever writes for it.
        assert!(matches!(
            s.check_leader_append(&[transactional(header(1, 1, 0, 1, 1))], false),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
    }

    fn transactional(mut h: BatchHeader) -> BatchHeader {
        h.attributes |= crate::batch::ATTR_TRANSACTIONAL;
        h
    }

    /// A COMMIT or ABORT marker of `pid` at `offset` (no sequence).
    fn marker(pid: i64, epoch: i16, offset: i64) -> BatchHeader {
        let mut h = transactional(header(pid, epoch, -1, 1, offset));
        h.attributes |= crate::batch::ATTR_CONTROL;
        h
    }

    #[test]
    fn transactions_hold_the_last_stable_offset_until_their_marker_is_replicated() {
        let mut s = ProducerStateManager::default();
        // A plain idempotent batch opens nothing.
        assert_eq!(s.update(&header(9, 0, 0, 2, 0)), None);
        assert_eq!(s.first_unstable_offset(2), None);
        // Producer 1's transaction starts at 10, producer 2's at 12.
        s.update(&transactional(header(1, 0, 0, 2, 10)));
        s.update(&transactional(header(1, 0, 2, 1, 11)));
        s.update(&transactional(header(2, 0, 0, 1, 12)));
        assert_eq!(s.get(1).unwrap().current_txn_first_offset, 10);
        assert_eq!(s.first_unstable_offset(13), Some(10));
        // Producer 1's marker at 13 ends its transaction, which holds the last stable
        // offset until the high watermark passes the marker.
        let done = s.update(&marker(1, 0, 13)).unwrap();
        assert_eq!(
            done,
            CompletedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 13
            }
        );
        let p1 = s.get(1).unwrap();
        assert_eq!((p1.current_txn_first_offset, p1.last_sequence), (-1, 2));
        assert_eq!(s.first_unstable_offset(13), Some(10));
        assert_eq!(s.first_unstable_offset(14), Some(12));
        // The next transaction of producer 1 goes on with its sequences.
        assert_eq!(
            s.check_leader_append(&[transactional(header(1, 0, 3, 1, 14))], true)
                .unwrap(),
            SequenceCheck::Accept
        );
        let done = s.update(&marker(2, 0, 15)).unwrap();
        assert_eq!((done.first_offset, done.last_offset), (12, 15));
        assert_eq!(s.first_unstable_offset(16), None);
        // A marker for a transaction with no records here ends at itself.
        let done = s.update(&marker(3, 0, 16)).unwrap();
        assert_eq!((done.first_offset, done.last_offset), (16, 16));
        assert_eq!(s.first_unstable_offset(16), Some(16));
        assert_eq!(s.first_unstable_offset(17), None);
    }

    #[test]
    fn open_transactions_survive_snapshots_and_expiration() {
        let mut s = ProducerStateManager::default();
        s.update(&header(9, 0, 0, 1, 0));
        // Without a transaction the snapshot stays version 1 (0.2.0 reads it).
        assert_eq!(&s.encode()[4..6], &1u16.to_be_bytes());
        let mut open = header(1, 0, 0, 1, 5);
        open.attributes |= crate::batch::ATTR_TRANSACTIONAL;
        open.max_timestamp = 1;
        s.update(&open);
        let encoded = s.encode();
        assert_eq!(&encoded[4..6], &2u16.to_be_bytes());
        let mut back = ProducerStateManager::decode(&encoded).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.first_unstable_offset(6), Some(5));
        // Idle for longer than the expiration: only the producer with an open
        // transaction stays.
        assert_eq!(
            back.remove_expired(i64::MAX / 2, PRODUCER_ID_EXPIRATION_MS),
            1
        );
        assert!(back.get(1).is_some() && back.get(9).is_none());
    }

    #[test]
    fn snapshots_round_trip_and_reject_corruption() {
        let seed = 0x5eed_u64;
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        let strategy = prop::collection::vec((0i64..5, 0i16..3, 0i32..1000, 1i32..10), 0..40);
        let result = runner.run(&strategy, |batches| {
            let mut s = ProducerStateManager::default();
            let mut offset = 0;
            for (pid, epoch, seq, count) in batches {
                s.update(&header(pid, epoch, seq, count, offset));
                offset += i64::from(count);
            }
            let encoded = s.encode();
            prop_assert_eq!(&ProducerStateManager::decode(&encoded).unwrap(), &s);
            for cut in [0, encoded.len() / 2, encoded.len() - 1] {
                prop_assert!(ProducerStateManager::decode(&encoded[..cut]).is_err());
            }
            let mut flipped = encoded.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x10;
            prop_assert!(ProducerStateManager::decode(&flipped).is_err());
            Ok(())
        });
        if let Err(e) = result {
            panic!("seed {seed:#x}: {e}");
        }
    }
}
