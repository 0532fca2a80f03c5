//! The requests that open a transaction or ask about one: InitProducerId (a
//! producer's epoch bump, fencing, rotation to a new producer id), AddPartitionsToTxn
//! and AddOffsetsToTxn, and the partition leaders' KIP-890 verification.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;

use super::{InitProducerId, TxnCoordinator, kafka};
use crate::metadata::{NO_PRODUCER_EPOCH, TopicPartition, Transit, TxnError, TxnMetadata};
use crate::state::TxnState;

impl TxnCoordinator {
    /// InitProducerId. `expected` is the (producer id, epoch) a recovering producer
    /// names (KIP-360); `new_producer_id` allocates one when needed.
    pub fn init_producer_id(
        &mut self,
        transactional_id: Option<&str>,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        new_producer_id: &mut dyn FnMut() -> Result<i64, ResponseError>,
    ) -> Result<InitProducerId, TxnError> {
        let Some(id) = transactional_id else {
            return Ok(InitProducerId::Idempotent {
                producer_id: new_producer_id()?,
            });
        };
        if id.is_empty() {
            return kafka(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return kafka(ResponseError::InvalidTransactionTimeout);
        }
        self.check_owned(id)?;
        if !self.txns.contains_key(id) {
            let m = TxnMetadata::new(id, new_producer_id()?, timeout_ms, now_ms);
            self.txns.insert(id.to_string(), m);
        }
        let Some(m) = self.txns.get_mut(id) else {
            return Err(TxnError::Illegal(format!("{id}: inserted and gone")));
        };
        if m.pending().is_some() {
            return kafka(ResponseError::ConcurrentTransactions);
        }
        // The producer the client names may go on unless a newer one took the id:
        // a just-created id, the current producer id, or the one a rotation replaced
        // (a retry whose answer was lost).
        let valid = |(pid, epoch): (i64, i16)| {
            m.producer_epoch == NO_PRODUCER_EPOCH
                || pid == m.producer_id
                || (pid == m.last_producer_id && crate::metadata::is_epoch_exhausted(epoch))
        };
        if !expected.is_none_or(valid) {
            return kafka(ResponseError::ProducerFenced);
        }
        match m.state {
            TxnState::PrepareAbort | TxnState::PrepareCommit => {
                kafka(ResponseError::ConcurrentTransactions)
            }
            TxnState::Empty | TxnState::CompleteAbort | TxnState::CompleteCommit => {
                let transit = if m.is_epoch_exhausted()
                    && expected.is_none_or(|(_, e)| e == m.producer_epoch)
                {
                    let pid = new_producer_id()?;
                    m.prepare_rotate_producer_id(pid, timeout_ms, now_ms, expected.is_some())?
                } else {
                    m.prepare_increment_epoch(timeout_ms, expected.map(|(_, e)| e), now_ms)?
                };
                Ok(InitProducerId::Write(transit))
            }
            TxnState::Ongoing => {
                // The fenced epoch is never given to a client: the abort carries it,
                // and the client's retry bumps once more.
                let fence = m.prepare_fence_epoch()?;
                let abort = m.prepare_fenced_abort(fence.producer_epoch, now_ms)?;
                Ok(InitProducerId::AbortFirst(abort))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(TxnError::Illegal(format!(
                "{id}: InitProducerId found state {}",
                m.state
            ))),
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition).
    /// `None`: the partitions are in the transaction already, nothing to write.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
        now_ms: i64,
    ) -> Result<Option<Transit>, TxnError> {
        let m = self.existing(transactional_id)?;
        if m.producer_id != producer_id {
            return kafka(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return kafka(ResponseError::ProducerFenced);
        }
        if m.pending().is_some()
            || matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return kafka(ResponseError::ConcurrentTransactions);
        }
        let partitions: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if m.state == TxnState::Ongoing && partitions.is_subset(&m.partitions) {
            return Ok(None);
        }
        m.prepare_add_partitions(partitions, now_ms).map(Some)
    }

    /// KIP-890 verification (AddPartitionsToTxn v4 with `verify_only`, from a partition
    /// leader about to append a producer's first transactional batch): each
    /// partition's error, `None` when it is in the ongoing transaction. Nothing changes
    /// (Kafka's `handleVerifyPartitionsInTransaction`).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<BTreeMap<TopicPartition, Option<ResponseError>>, TxnError> {
        if transactional_id.is_empty() {
            return kafka(ResponseError::InvalidRequest);
        }
        self.check_owned(transactional_id)?;
        let Some(m) = self.txns.get(transactional_id) else {
            return kafka(ResponseError::InvalidProducerIdMapping);
        };
        if m.producer_id != producer_id {
            return kafka(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return kafka(ResponseError::ProducerFenced);
        }
        if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return kafka(ResponseError::ConcurrentTransactions);
        }
        // Partitions join when AddPartitions is durable and leave at Complete*, so an
        // ended transaction has none: a late batch is TRANSACTION_ABORTABLE.
        Ok(partitions
            .into_iter()
            .map(|tp| {
                let error =
                    (!m.partitions.contains(&tp)).then_some(ResponseError::TransactionAbortable);
                (tp, error)
            })
            .collect())
    }
}
