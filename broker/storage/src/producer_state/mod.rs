//! Idempotent-producer state per partition (Kafka's ProducerStateManager): per producer
//! id the epoch and the sequence ranges of its last 5 batches, used on leader appends to
//! spot duplicates, sequence gaps and fenced epochs, and the transactions open here
//! ([`txn`]), which hold the last stable offset back. Snapshotted to
//! `<20-digit offset>.snapshot` files so recovery only replays the log after the snapshot
//! (Apache Kafka's snapshots are read too, for a log dir Kafka wrote).

use std::collections::{HashMap, VecDeque};

use crate::batch::BatchHeader;
use crate::error::AppendError;
pub use marker::EndTransactionMarker;
pub use txn::CompletedTxn;
use txn::OpenTransactions;
use verification::Verifications;
pub use verification::{TxnVerification, VerificationGuard};

mod kafka_snapshot;
mod marker;
mod snapshot;
mod snapshot_reader;
mod txn;
mod verification;
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
    /// KIP-890 verifications in flight (not snapshotted).
    verifications: Verifications,
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
        ProducerStateManager {
            producers,
            txns,
            verifications: Verifications::default(),
        }
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
                // A marker has no sequence; its epoch (bumped by a fence or a
                // transaction version 2 end) is the newest, and a new one starts over.
                let last = if h.producer_epoch == cur_epoch {
                    cur_last
                } else {
                    -1
                };
                pending.insert(pid, (h.producer_epoch, last));
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

    /// Whether the producer has a transaction open here at this epoch: its batches need
    /// no verification (Kafka's `hasOngoingTransaction`).
    pub fn has_ongoing_txn(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.current_txn_first_offset >= 0 && e.producer_epoch == producer_epoch)
    }

    /// KIP-890: the guard a leader takes before asking the transaction coordinator
    /// about the producer's first transactional batch here; `None` when its
    /// transaction is open here already (nothing to ask).
    pub fn start_verification(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Option<VerificationGuard> {
        (!self.has_ongoing_txn(producer_id, producer_epoch))
            .then(|| self.verifications.start(producer_id, producer_epoch))
    }

    /// Refuses (INVALID_TXN_STATE) a transactional batch that would open its
    /// producer's transaction here without the producer's current guard: the
    /// coordinator was not asked, or the transaction ended since it answered (Kafka's
    /// `batchMissingRequiredVerification`).
    pub fn check_verification(
        &self,
        batches: &[BatchHeader],
        verification: TxnVerification,
    ) -> Result<(), AppendError> {
        let TxnVerification::Required(guard) = verification else {
            return Ok(());
        };
        for h in batches
            .iter()
            .filter(|h| h.has_producer_id() && h.is_transactional() && !h.is_control())
        {
            if !self.has_ongoing_txn(h.producer_id, h.producer_epoch)
                && !self.verifications.verifies(h.producer_id, guard)
            {
                return Err(AppendError::InvalidTxnState {
                    producer_id: h.producer_id,
                });
            }
        }
        Ok(())
    }

    /// Kafka's `checkCoordinatorEpoch` for a leader append of markers (`markers`: each
    /// control batch's producer id and marker, in order): one from a coordinator epoch
    /// older than the producer's last marker here comes from a zombie coordinator and
    /// is refused; the same or a newer epoch is accepted (a retry, a new coordinator).
    pub fn check_coordinator_epochs(
        &self,
        markers: &[(i64, EndTransactionMarker)],
    ) -> Result<(), AppendError> {
        let mut pending: HashMap<i64, i32> = HashMap::new();
        for (pid, marker) in markers {
            let current = pending
                .get(pid)
                .copied()
                .unwrap_or_else(|| self.producers.get(pid).map_or(-1, |e| e.coordinator_epoch));
            if marker.coordinator_epoch < current {
                return Err(AppendError::TransactionCoordinatorFenced {
                    producer_id: *pid,
                    current,
                    found: marker.coordinator_epoch,
                });
            }
            pending.insert(*pid, marker.coordinator_epoch);
        }
        Ok(())
    }

    /// [`ProducerStateManager::update_with_marker`] for a batch whose marker is not
    /// known (data batches, or a control batch whose coordinator epoch is not needed).
    pub fn update(&mut self, h: &BatchHeader) -> Option<CompletedTxn> {
        self.update_with_marker(h, None)
    }

    /// Records an appended batch (with its final offsets). Used by leader and follower
    /// appends and by recovery, so it never refuses anything. A transactional batch
    /// opens its producer's transaction here; a control batch (its marker) ends it, and
    /// the ended transaction is returned. The marker's coordinator epoch becomes the
    /// producer's, as Kafka's `appendEndTxnMarker` sets it whatever the origin.
    pub fn update_with_marker(
        &mut self,
        h: &BatchHeader,
        marker: Option<EndTransactionMarker>,
    ) -> Option<CompletedTxn> {
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
            // A new epoch starts its sequences over; a marker may bring it (a fence's,
            // or transaction version 2's bump on every end), and the producer's next
            // batch then starts at sequence 0 (Kafka's `maybeUpdateProducerEpoch`).
            entry.producer_epoch = h.producer_epoch;
            entry.batches.clear();
            entry.last_sequence = -1;
        }
        if h.is_control() {
            // A marker carries no sequence: the producer's sequences go on after it.
            entry.last_timestamp = h.max_timestamp;
            if let Some(m) = marker {
                entry.coordinator_epoch = m.coordinator_epoch;
            }
            let first =
                (entry.current_txn_first_offset >= 0).then_some(entry.current_txn_first_offset);
            entry.current_txn_first_offset = -1;
            // A verification that started before the transaction ended is stale.
            self.verifications.clear(h.producer_id);
            return Some(self.txns.end(h.producer_id, first, h.base_offset));
        }
        if h.is_transactional() && entry.current_txn_first_offset < 0 {
            entry.current_txn_first_offset = h.base_offset;
            self.txns.begin(h.producer_id, h.base_offset);
            self.verifications.clear(h.producer_id);
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
mod tests;
