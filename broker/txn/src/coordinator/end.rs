//! The end of a transaction: EndTxn from the client, the coordinator's own abort of a
//! timed-out one, the markers each needs and the Complete* record once they are
//! written.

use kafka_protocol::ResponseError;

use super::{Markers, TxnCoordinator, kafka};
use crate::metadata::{NO_PRODUCER_ID, TRANSACTION_VERSION_2, Transit, TxnError};
use crate::state::TxnState;

/// Who ends a transaction, and how (EndTxn's fields and its transaction version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// False for the coordinator's own abort of a timed-out or fenced transaction.
    pub from_client: bool,
    /// 2 for EndTxn v5 (KIP-890 part 2: the epoch is bumped), else 0.
    pub client_transaction_version: i16,
}

/// What EndTxn does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndTxn {
    /// Write the PrepareCommit/PrepareAbort transit, then send its markers; the client
    /// goes on with [`Transit::producer_for_client`].
    Write(Transit),
    /// Already ended that way (a retry): nothing to write; the producer to answer.
    Ended {
        producer_id: i64,
        producer_epoch: i16,
    },
}

impl TxnCoordinator {
    /// EndTxn of a transaction version 0/1 client, or (`from_client` false) the
    /// coordinator's own abort of a timed-out or fenced transaction. `None`: already
    /// ended that way, nothing to write (a retry).
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        from_client: bool,
        now_ms: i64,
    ) -> Result<Option<Transit>, TxnError> {
        let ending = Ending {
            producer_id,
            producer_epoch,
            commit,
            from_client,
            client_transaction_version: 0,
        };
        let end = self.end_transaction(transactional_id, ending, now_ms, &mut || {
            Err(ResponseError::UnknownServerError)
        })?;
        Ok(match end {
            EndTxn::Write(t) => Some(t),
            EndTxn::Ended { .. } => None,
        })
    }

    /// EndTxn of any transaction version (Kafka's `endTransaction`). From version 2
    /// every end bumps the epoch, so a retry names the epoch before it: a retry of a
    /// finished end gets the current producer back, one still writing its markers
    /// CONCURRENT_TRANSACTIONS. `new_producer_id` is asked only when the bump
    /// exhausts the epoch.
    pub fn end_transaction(
        &mut self,
        transactional_id: &str,
        e: Ending,
        now_ms: i64,
        new_producer_id: &mut dyn FnMut() -> Result<i64, ResponseError>,
    ) -> Result<EndTxn, TxnError> {
        let m = self.existing(transactional_id)?;
        let fencing = m.pending() == Some(TxnState::PrepareEpochFence);
        // The metadata's own version judges a retry (its last end may have been v2).
        let v2 = !fencing && m.supports_epoch_bump();
        let retry_on_bump = v2 && m.producer_epoch == e.producer_epoch.wrapping_add(1);
        let retry_on_overflow = v2
            && m.last_producer_id == e.producer_id
            && e.producer_epoch == i16::MAX - 1
            && m.producer_epoch == 0;
        let valid_epoch = if v2 {
            match m.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
                TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    retry_on_bump || retry_on_overflow
                }
                _ => e.producer_epoch == m.producer_epoch,
            }
        } else {
            // A client must name the current epoch; the coordinator's own abort may
            // carry a fence's bumped one.
            (!e.from_client || e.producer_epoch == m.producer_epoch)
                && e.producer_epoch >= m.producer_epoch
        };
        if m.producer_id != e.producer_id && !retry_on_overflow {
            return kafka(ResponseError::InvalidProducerIdMapping);
        }
        if !valid_epoch {
            return kafka(ResponseError::ProducerFenced);
        }
        if m.pending().is_some() && !fencing {
            return kafka(ResponseError::ConcurrentTransactions);
        }
        let invalid = || kafka(ResponseError::InvalidTxnState);
        match (m.state, e.commit) {
            (TxnState::Ongoing, false) if fencing => m
                .prepare_fenced_abort(e.producer_epoch, now_ms)
                .map(EndTxn::Write),
            (TxnState::Ongoing, commit) => {
                let version = e.client_transaction_version;
                let next_producer_id = if version >= TRANSACTION_VERSION_2 && m.is_epoch_exhausted()
                {
                    new_producer_id()?
                } else {
                    NO_PRODUCER_ID
                };
                m.prepare_end_as(commit, version, next_producer_id, now_ms)
                    .map(EndTxn::Write)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndTxn::Ended {
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                })
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                kafka(ResponseError::ConcurrentTransactions)
            }
            (
                TxnState::CompleteCommit
                | TxnState::CompleteAbort
                | TxnState::PrepareCommit
                | TxnState::PrepareAbort
                | TxnState::Empty,
                _,
            ) => invalid(),
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(TxnError::Illegal(format!(
                "{transactional_id}: EndTxn found state {}",
                m.state
            ))),
        }
    }

    /// The markers an ending transaction (PrepareCommit/PrepareAbort) still needs.
    pub fn markers(&self, transactional_id: &str) -> Option<Markers> {
        let m = self.txns.get(transactional_id)?;
        let commit = match m.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return None,
        };
        Some(Markers {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
            partitions: m.partitions.clone(),
        })
    }

    /// Every marker is written: the Complete* record to write.
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        now_ms: i64,
    ) -> Result<Transit, TxnError> {
        match self.txns.get_mut(transactional_id) {
            Some(m) => m.prepare_complete(now_ms),
            None => kafka(ResponseError::NotCoordinator),
        }
    }

    /// Open transactions past their timeout, with no move pending: (id, producer id).
    pub fn timed_out(&self, now_ms: i64) -> Vec<(String, i64)> {
        self.txns
            .values()
            .filter(|m| {
                m.state == TxnState::Ongoing
                    && m.pending().is_none()
                    && m.start_ms.saturating_add(i64::from(m.timeout_ms)) < now_ms
            })
            .map(|m| (m.transactional_id.clone(), m.producer_id))
            .collect()
    }

    /// Aborts a timed-out transaction: the epoch is bumped (fencing its producer)
    /// and the abort written. `None` when it moved on meanwhile.
    pub fn abort_timed_out(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        now_ms: i64,
    ) -> Result<Option<Transit>, TxnError> {
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return Ok(None);
        };
        if m.producer_id != producer_id || m.pending().is_some() || m.state != TxnState::Ongoing {
            return Ok(None);
        }
        let fence = m.prepare_fence_epoch()?;
        m.prepare_fenced_abort(fence.producer_epoch, now_ms)
            .map(Some)
    }
}
