//! One transactional id's state, and its two-step transitions as Kafka's
//! `TransactionMetadata` makes them: `prepare_*` checks the move, marks it pending
//! and returns the [`Transit`] to write to `__transaction_state`; only once that record
//! is durable does [`TxnMetadata::complete`] apply it ([`TxnMetadata::abandon`] drops
//! it when the write failed). While a move is pending no other may start, so two
//! requests of one producer can never both change it.
//!
//! Kafka's semantics of every transaction version: with 0 and 1 EndTxn keeps the
//! epoch; with 2 (KIP-890 part 2, [`Transit::client_transaction_version`]) every
//! commit or abort bumps it, and the bump past the last epoch moves the id to
//! [`Transit::next_producer_id`] once the markers are written. A broken invariant is an
//! [`TxnError::Illegal`] — a bug, answered UNKNOWN_SERVER_ERROR — never a panic.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

use crate::state::TxnState;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A partition in a transaction: (topic, partition).
pub type TopicPartition = (String, i32);

/// Why a transactional request or transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Kafka's answer to the client (PRODUCER_FENCED, CONCURRENT_TRANSACTIONS, ...).
    #[error("{0:?}")]
    Kafka(ResponseError),
    /// A transition Kafka treats as impossible (its IllegalStateException).
    #[error("illegal transaction state transition: {0}")]
    Illegal(String),
}

impl TxnError {
    /// The error code the client gets.
    pub fn code(&self) -> i16 {
        match self {
            TxnError::Kafka(e) => e.code(),
            TxnError::Illegal(_) => ResponseError::UnknownServerError.code(),
        }
    }
}

impl From<ResponseError> for TxnError {
    fn from(e: ResponseError) -> Self {
        TxnError::Kafka(e)
    }
}

/// What a transition writes: the transactional id's state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    pub producer_id: i64,
    /// The producer id before this transition (Kafka's `prevProducerId`).
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump: a retried InitProducerId that names it gets the
    /// current epoch back instead of PRODUCER_FENCED.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// When the first partition was added (-1: no transaction).
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The producer id an exhausted epoch rotates to when this transaction completes
    /// (Kafka's `nextProducerId`; -1 when none), so the markers still carry the old one.
    pub next_producer_id: i64,
    /// The `transaction.version` the client ended the transaction with: 2 bumps the
    /// epoch on every EndTxn and judges EndTxn retries by the bumped epoch.
    pub client_transaction_version: i16,
}

/// The transaction version whose EndTxn bumps the epoch (KIP-890 part 2).
pub const TRANSACTION_VERSION_2: i16 = 2;

impl Transit {
    /// Whether the client speaks transaction version 2 (epoch bump on every end).
    pub fn supports_epoch_bump(&self) -> bool {
        self.client_transaction_version >= TRANSACTION_VERSION_2
    }

    /// The producer id and epoch the client goes on with after this transit: the
    /// rotated-to id at epoch 0 when the epoch was exhausted (Kafka answers EndTxn v5
    /// with them), else its own.
    pub fn producer_for_client(&self) -> (i64, i16) {
        if self.next_producer_id == NO_PRODUCER_ID {
            (self.producer_id, self.producer_epoch)
        } else {
            (self.next_producer_id, 0)
        }
    }
}

/// A transactional id as its coordinator holds it: its durable state (what the last
/// completed transit wrote) plus the move in flight. Reads go through to the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    current: Transit,
    /// The state a prepared, not yet durable transition moves to.
    pending: Option<TxnState>,
    /// A fence's bumped epoch may not be in the log (its write failed): the next fence
    /// reuses it rather than bumping again (Kafka's `hasFailedEpochFence`).
    failed_epoch_fence: bool,
    /// The pending PrepareAbort is a fence's (its epoch is bumped in memory already).
    fencing: bool,
}

impl std::ops::Deref for TxnMetadata {
    type Target = Transit;

    fn deref(&self) -> &Transit {
        &self.current
    }
}

/// Kafka never hands out the last two epochs of a producer id, so a fence can always
/// bump once more: at this epoch InitProducerId rotates to a new producer id.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

impl TxnMetadata {
    /// A transactional id seen for the first time, with a fresh producer id.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self::loaded(
            transactional_id,
            Transit {
                producer_id,
                last_producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                next_producer_id: NO_PRODUCER_ID,
                client_transaction_version: 0,
            },
        )
    }

    /// A transactional id replayed from `__transaction_state` (nothing pending).
    pub fn loaded(transactional_id: &str, t: Transit) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            current: t,
            pending: None,
            failed_epoch_fence: false,
            fencing: false,
        }
    }

    pub fn pending(&self) -> Option<TxnState> {
        self.pending
    }

    pub fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// The state as it stands, as a transit (the start of every `prepare_*`).
    fn current(&self) -> Transit {
        self.current.clone()
    }

    /// Checks `to` against the current state and marks it pending.
    fn prepare(&mut self, to: Transit) -> Result<Transit, TxnError> {
        if let Some(p) = self.pending {
            return Err(TxnError::Illegal(format!(
                "{}: moving to {} while {p} is pending",
                self.transactional_id, to.state
            )));
        }
        if to.producer_id < 0 {
            return Err(TxnError::Illegal(format!(
                "{}: producer id {} is not valid",
                self.transactional_id, to.producer_id
            )));
        }
        if to.state != TxnState::Dead && to.producer_epoch < 0 {
            return Err(TxnError::Illegal(format!(
                "{}: producer epoch {} is not valid",
                self.transactional_id, to.producer_epoch
            )));
        }
        if !to.state.valid_previous().contains(&self.state) {
            return Err(TxnError::Illegal(format!(
                "{}: {} cannot follow {}",
                self.transactional_id, to.state, self.state
            )));
        }
        self.pending = Some(to.state);
        // As Kafka's transit: the producer id before it (the one a rotation replaced).
        Ok(Transit {
            last_producer_id: self.producer_id,
            ..to
        })
    }

    /// InitProducerId of an idle id: the epoch goes up by one (or, for a producer
    /// recovering with its last epoch, the retry gets the current one back).
    /// `expected_epoch` is the epoch the client names (KIP-360); a stale one is fenced.
    pub fn prepare_increment_epoch(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<Transit, TxnError> {
        if self.is_epoch_exhausted() {
            return Err(TxnError::Illegal(format!(
                "{}: producer id {} has no epoch left",
                self.transactional_id, self.producer_id
            )));
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            // A retry of a bump whose answer was lost.
            Some(e) if e == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Err(ResponseError::ProducerFenced.into()),
        };
        let mut to = self.current();
        to.state = TxnState::Empty;
        to.producer_epoch = epoch;
        to.last_producer_epoch = last;
        to.timeout_ms = timeout_ms;
        to.partitions.clear();
        to.start_ms = -1;
        to.last_update_ms = now_ms;
        self.prepare(to)
    }

    /// InitProducerId once the epoch is exhausted: a new producer id at epoch 0.
    pub fn prepare_rotate_producer_id(
        &mut self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        keep_last_epoch: bool,
    ) -> Result<Transit, TxnError> {
        if self.state.has_pending_transaction() {
            return Err(TxnError::Illegal(format!(
                "{}: rotating the producer id during a {} transaction",
                self.transactional_id, self.state
            )));
        }
        let mut to = self.current();
        to.state = TxnState::Empty;
        to.producer_id = new_producer_id;
        to.producer_epoch = 0;
        to.last_producer_epoch = if keep_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        to.timeout_ms = timeout_ms;
        to.partitions.clear();
        to.start_ms = -1;
        to.last_update_ms = now_ms;
        self.prepare(to)
    }

    /// A newer producer (or the timeout) fences the open transaction: the epoch goes up
    /// by one (unless a failed fence already took it) before the abort is written.
    pub fn prepare_fence_epoch(&mut self) -> Result<Transit, TxnError> {
        let epoch = if self.failed_epoch_fence || self.producer_epoch == i16::MAX {
            self.producer_epoch
        } else {
            self.producer_epoch + 1
        };
        let mut to = self.current();
        to.state = TxnState::PrepareEpochFence;
        to.producer_epoch = epoch;
        self.prepare(to)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is (now) open.
    pub fn prepare_add_partitions(
        &mut self,
        added: impl IntoIterator<Item = TopicPartition>,
        now_ms: i64,
    ) -> Result<Transit, TxnError> {
        let mut to = self.current();
        if !self.state.has_pending_transaction() {
            to.start_ms = now_ms;
        }
        to.state = TxnState::Ongoing;
        to.partitions.extend(added);
        to.last_update_ms = now_ms;
        self.prepare(to)
    }

    /// EndTxn: PrepareCommit or PrepareAbort, before the markers go out.
    pub fn prepare_end(&mut self, commit: bool, now_ms: i64) -> Result<Transit, TxnError> {
        self.prepare_end_as(commit, 0, NO_PRODUCER_ID, now_ms)
    }

    /// EndTxn of a client speaking `client_transaction_version`: from version 2 the
    /// epoch goes up by one (the markers carry it, fencing every batch of the ended
    /// transaction), and an exhausted epoch names the id it rotates to
    /// (`next_producer_id`, Kafka's `prepareAbortOrCommit`).
    pub fn prepare_end_as(
        &mut self,
        commit: bool,
        client_transaction_version: i16,
        next_producer_id: i64,
        now_ms: i64,
    ) -> Result<Transit, TxnError> {
        let mut to = self.current();
        to.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        to.client_transaction_version = client_transaction_version;
        to.next_producer_id = NO_PRODUCER_ID;
        if to.supports_epoch_bump() {
            if self.producer_epoch == i16::MAX {
                return Err(TxnError::Illegal(format!(
                    "{}: ending a transaction at the last epoch of producer id {}",
                    self.transactional_id, self.producer_id
                )));
            }
            to.last_producer_epoch = self.producer_epoch;
            to.producer_epoch = self.producer_epoch + 1;
            to.next_producer_id = next_producer_id;
        }
        to.last_update_ms = now_ms;
        self.prepare(to)
    }

    /// The fence's abort: the pending PrepareEpochFence gives way to PrepareAbort at
    /// the fenced epoch (Kafka changes the epoch in memory before it writes the abort).
    pub fn prepare_fenced_abort(&mut self, epoch: i16, now_ms: i64) -> Result<Transit, TxnError> {
        if self.pending != Some(TxnState::PrepareEpochFence) {
            return Err(TxnError::Illegal(format!(
                "{}: aborting for a fence that is not pending",
                self.transactional_id
            )));
        }
        self.pending = None;
        self.current.producer_epoch = epoch;
        self.current.last_producer_epoch = NO_PRODUCER_EPOCH;
        let transit = self.prepare_end(false, now_ms)?;
        self.fencing = true;
        Ok(transit)
    }

    /// Every marker is written: CompleteCommit or CompleteAbort.
    pub fn prepare_complete(&mut self, now_ms: i64) -> Result<Transit, TxnError> {
        let mut to = self.current();
        to.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => {
                return Err(TxnError::Illegal(format!(
                    "{}: completing markers in state {other}",
                    self.transactional_id
                )));
            }
        };
        // An exhausted epoch's markers are written: the id moves to its next producer
        // id, at epoch 0 (Kafka's `prepareComplete`).
        if to.supports_epoch_bump() && self.next_producer_id != NO_PRODUCER_ID {
            to.producer_id = self.next_producer_id;
            to.producer_epoch = 0;
            to.last_producer_epoch = self.producer_epoch;
        }
        to.next_producer_id = NO_PRODUCER_ID;
        to.partitions.clear();
        to.last_update_ms = now_ms;
        let transit = self.prepare(to)?;
        self.failed_epoch_fence = false;
        Ok(transit)
    }

    /// The id expired: a tombstone removes it.
    pub fn prepare_dead(&mut self) -> Result<Transit, TxnError> {
        let mut to = self.current();
        to.state = TxnState::Dead;
        to.partitions.clear();
        self.prepare(to)
    }

    /// The transit's record is durable: the metadata becomes it. Checks what Kafka's
    /// `completeTransitionTo` checks, so a transit of another state, producer or
    /// epoch is never applied.
    pub fn complete(&mut self, t: &Transit) -> Result<(), TxnError> {
        let illegal = |why: &str| {
            TxnError::Illegal(format!(
                "{}: cannot complete {:?} from {}: {why}",
                self.transactional_id, t.state, self.state
            ))
        };
        if self.pending != Some(t.state) {
            return Err(illegal("it is not the pending transition"));
        }
        let same_producer =
            t.producer_id == self.producer_id && t.producer_epoch == self.producer_epoch;
        match t.state {
            TxnState::Empty => {
                let bumped = t.producer_epoch == self.producer_epoch.wrapping_add(1)
                    || (t.producer_epoch == 0 && t.producer_id != self.producer_id);
                // A retry that got its epoch back keeps it.
                if !(bumped || same_producer) || !t.partitions.is_empty() || t.start_ms != -1 {
                    return Err(illegal("not an epoch bump of an idle id"));
                }
            }
            TxnState::Ongoing => {
                if !same_producer
                    || !t.partitions.is_superset(&self.partitions)
                    || t.timeout_ms != self.timeout_ms
                {
                    return Err(illegal(
                        "partitions may only be added, by the same producer",
                    ));
                }
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                // Transaction version 2 ends with the epoch one up.
                let bumped = t.supports_epoch_bump()
                    && t.producer_id == self.producer_id
                    && t.producer_epoch == self.producer_epoch.wrapping_add(1);
                if !(same_producer || bumped)
                    || t.partitions != self.partitions
                    || t.timeout_ms != self.timeout_ms
                    || t.start_ms != self.start_ms
                {
                    return Err(illegal("the transaction changed under its end"));
                }
            }
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotated = self.next_producer_id != NO_PRODUCER_ID
                    && t.producer_id == self.next_producer_id
                    && t.producer_epoch == 0;
                if !(same_producer || rotated)
                    || t.timeout_ms != self.timeout_ms
                    || t.start_ms == -1
                {
                    return Err(illegal("not the end of this transaction"));
                }
            }
            TxnState::PrepareEpochFence | TxnState::Dead => {
                return Err(illegal("this state is never completed"));
            }
        }
        self.current = t.clone();
        self.pending = None;
        self.fencing = false;
        Ok(())
    }

    /// The transit's record could not be written: nothing changes, and a failed fence
    /// is remembered so its epoch is not bumped twice.
    pub fn abandon(&mut self, t: &Transit) {
        if self.pending == Some(t.state) {
            self.pending = None;
        }
        if self.fencing {
            self.failed_epoch_fence = true;
            self.fencing = false;
        }
    }
}
