//! KIP-890 transaction verification state of one partition (Kafka's
//! `VerificationStateEntry` and `VerificationGuard`): a leader about to append a
//! producer's first transactional batch here asks the transaction coordinator whether
//! this partition is in the producer's transaction. Before asking it takes a guard;
//! the append must show the same guard. A marker or a transactional batch of that
//! producer appended meanwhile drops the guard, so an answer that was true when asked
//! but stale when the append comes (the transaction ended in between) refuses the
//! append instead of opening a transaction no coordinator knows of (a hanging one).
//!
//! Nothing here is snapshotted: a leader that restarts or changes asks again.

use std::collections::HashMap;

/// Proof that a verification started here; only the append that carries the guard of
/// the producer's current entry may open its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerificationGuard(u64);

/// What a leader append demands of transactional batches that open a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnVerification {
    /// `transaction.partition.verification.enable=false`, or not a client's append.
    NotRequired,
    /// Each such batch's producer must hold this guard (`None`: the leader found the
    /// transaction open, so any batch that would open one is refused).
    Required(Option<VerificationGuard>),
}

/// The verifications in flight, per producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Verifications {
    /// Producer id -> (the epoch verified, its guard).
    entries: HashMap<i64, (i16, VerificationGuard)>,
    /// The next guard handed out (guards are never reused within a log's life).
    next: u64,
}

impl Verifications {
    /// The producer's guard: its current one when the epoch is not older than the
    /// entry's (a retry of the same verification), else a new one.
    pub(super) fn start(&mut self, producer_id: i64, producer_epoch: i16) -> VerificationGuard {
        match self.entries.get_mut(&producer_id) {
            Some((epoch, guard)) if *epoch <= producer_epoch => {
                *epoch = producer_epoch;
                *guard
            }
            _ => {
                self.next += 1;
                let guard = VerificationGuard(self.next);
                self.entries.insert(producer_id, (producer_epoch, guard));
                guard
            }
        }
    }

    /// Whether `guard` is the producer's current one.
    pub(super) fn verifies(&self, producer_id: i64, guard: Option<VerificationGuard>) -> bool {
        guard.is_some_and(|g| self.entries.get(&producer_id).is_some_and(|(_, c)| *c == g))
    }

    /// The producer's transaction started or ended here: its verification is spent.
    pub(super) fn clear(&mut self, producer_id: i64) {
        self.entries.remove(&producer_id);
    }
}
