//! The transaction coordinator's decisions, sans IO: which transactional ids this
//! broker coordinates (the `__transaction_state` partitions it leads), and for each
//! transactional request either Kafka's error or the [`Transit`] to write. The IO
//! shell writes that record to `__transaction_state` (acks=all), then calls
//! [`TxnCoordinator::complete`] (or [`TxnCoordinator::abandon`] if the write failed)
//! and answers; for an ended transaction it sends the markers of
//! [`TxnCoordinator::markers`] and, once every partition has them,
//! [`TxnCoordinator::markers_written`] gives the Complete* record.
//!
//! Error codes follow Kafka's `TransactionCoordinator` for transaction versions 0
//! and 1, request by request.

mod end;
mod requests;

pub use end::{EndTxn, Ending};

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;

use crate::metadata::{TopicPartition, Transit, TxnError, TxnMetadata};
use crate::state::TxnState;

/// Kafka's transaction coordinator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest timeout a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an idle id is forgotten after this long.
    pub id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`.
    pub partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            partitions: 50,
        }
    }
}

/// What InitProducerId does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitProducerId {
    /// No transactional id (an idempotent producer): this id at epoch 0, nothing written.
    Idempotent { producer_id: i64 },
    /// Write the transit; once durable, answer its producer id and epoch.
    Write(Transit),
    /// An open transaction of an older producer is fenced: write this abort (then its
    /// markers) and answer CONCURRENT_TRANSACTIONS, so the client retries and finds the
    /// id idle.
    AbortFirst(Transit),
}

/// The markers an ended transaction needs on each of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: BTreeSet<TopicPartition>,
}

/// A `__transaction_state` partition this broker leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owned {
    /// Its leader epoch: markers of an older epoch are not this coordinator's.
    coordinator_epoch: i32,
    /// Still replaying the partition: requests get COORDINATOR_LOAD_IN_PROGRESS.
    loading: bool,
}

/// The coordinator of every transactional id whose partition this broker leads.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    owned: BTreeMap<i32, Owned>,
    txns: BTreeMap<String, TxnMetadata>,
}

fn kafka<T>(e: ResponseError) -> Result<T, TxnError> {
    Err(TxnError::Kafka(e))
}

impl TxnCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator {
            config,
            ..TxnCoordinator::default()
        }
    }

    /// The `__transaction_state` partition of a transactional id (Kafka's
    /// `Utils.abs(transactionalId.hashCode) % partitions`).
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        tidewater_group::partition::partition_for(transactional_id, self.config.partitions)
    }

    /// This broker became the leader of `partition`: its records are replayed next.
    pub fn elected(&mut self, partition: i32, coordinator_epoch: i32) {
        self.resigned(partition);
        self.owned.insert(
            partition,
            Owned {
                coordinator_epoch,
                loading: true,
            },
        );
    }

    /// One replayed record: a transactional id's state, or its tombstone.
    pub fn replay(&mut self, transactional_id: &str, value: Option<Transit>) {
        match value {
            Some(t) => {
                self.txns.insert(
                    transactional_id.to_string(),
                    TxnMetadata::loaded(transactional_id, t),
                );
            }
            None => {
                self.txns.remove(transactional_id);
            }
        }
    }

    /// The partition is replayed: its ids are served, and the transactions that were
    /// ending when the last coordinator stopped need their markers (sent again).
    pub fn loaded(&mut self, partition: i32) -> Vec<(String, Markers)> {
        if let Some(o) = self.owned.get_mut(&partition) {
            o.loading = false;
        }
        let ending: Vec<String> = self
            .txns
            .iter()
            .filter(|(id, m)| {
                self.partition_for(id) == partition
                    && matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ending
            .into_iter()
            .filter_map(|id| self.markers(&id).map(|m| (id, m)))
            .collect()
    }

    /// This broker no longer leads `partition`: its ids are dropped.
    pub fn resigned(&mut self, partition: i32) {
        self.owned.remove(&partition);
        let config = self.config.clone();
        self.txns.retain(|id, _| {
            tidewater_group::partition::partition_for(id, config.partitions) != partition
        });
    }

    /// The coordinator epoch for markers of `transactional_id`, if coordinated here.
    pub fn coordinator_epoch(&self, transactional_id: &str) -> Option<i32> {
        self.owned
            .get(&self.partition_for(transactional_id))
            .map(|o| o.coordinator_epoch)
    }

    /// Whether requests for this id are served here (else NOT_COORDINATOR or
    /// COORDINATOR_LOAD_IN_PROGRESS).
    fn check_owned(&self, transactional_id: &str) -> Result<(), TxnError> {
        match self.owned.get(&self.partition_for(transactional_id)) {
            None => kafka(ResponseError::NotCoordinator),
            Some(o) if o.loading => kafka(ResponseError::CoordinatorLoadInProgress),
            Some(_) => Ok(()),
        }
    }

    /// The id's metadata, for a request naming a transactional id.
    fn existing(&mut self, transactional_id: &str) -> Result<&mut TxnMetadata, TxnError> {
        if transactional_id.is_empty() {
            return kafka(ResponseError::InvalidRequest);
        }
        self.check_owned(transactional_id)?;
        match self.txns.get_mut(transactional_id) {
            Some(m) => Ok(m),
            None => kafka(ResponseError::InvalidProducerIdMapping),
        }
    }

    /// The transit's record is durable: apply it (a Dead one removes the id).
    pub fn complete(&mut self, transactional_id: &str, t: &Transit) -> Result<(), TxnError> {
        if t.state == TxnState::Dead {
            self.txns.remove(transactional_id);
            return Ok(());
        }
        match self.txns.get_mut(transactional_id) {
            Some(m) => m.complete(t),
            None => kafka(ResponseError::NotCoordinator),
        }
    }

    /// The transit's record could not be written: the id stays as it was.
    pub fn abandon(&mut self, transactional_id: &str, t: &Transit) {
        if let Some(m) = self.txns.get_mut(transactional_id) {
            m.abandon(t);
        }
    }

    /// Idle ids past `transactional.id.expiration.ms`: each one's tombstone to write.
    pub fn expire(&mut self, now_ms: i64) -> Vec<(String, Transit)> {
        let expiration = self.config.id_expiration_ms;
        let mut out = Vec::new();
        for (id, m) in &mut self.txns {
            if m.state.expiration_allowed()
                && m.pending().is_none()
                && m.last_update_ms.saturating_add(expiration) <= now_ms
                && let Ok(t) = m.prepare_dead()
            {
                out.push((id.clone(), t));
            }
        }
        out
    }

    /// DescribeTransactions of one id.
    pub fn describe(&self, transactional_id: &str) -> Result<&TxnMetadata, TxnError> {
        if transactional_id.is_empty() {
            return kafka(ResponseError::InvalidRequest);
        }
        self.check_owned(transactional_id)?;
        match self.txns.get(transactional_id) {
            Some(m) if m.state != TxnState::Dead => Ok(m),
            _ => kafka(ResponseError::TransactionalIdNotFound),
        }
    }

    /// ListTransactions: ids coordinated here, filtered by producer ids and state
    /// names when given (unknown state names match nothing, as in Kafka).
    pub fn list(&self, producer_ids: &[i64], states: &[&str]) -> Vec<&TxnMetadata> {
        self.txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|m| states.is_empty() || states.contains(&m.state.name()))
            .collect()
    }
}
