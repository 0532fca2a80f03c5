//! The transaction coordinator on the broker (Kafka's `TransactionCoordinator` with its
//! `TransactionStateManager`): the sans-IO [`TxnCoordinator`] decides, this shell
//! writes each transition to `__transaction_state` through the partition's leader
//! replica and waits for the ISR (acks=all) before the client is answered, replays
//! the partition when this broker becomes its leader, and drives the markers of
//! ended transactions ([`markers`]).
//!
//! It owns no listener of its own: handlers call it. Markers for partitions led
//! elsewhere, and its leaders' KIP-890 requests to other coordinators, go out through
//! [`tidewater_client`] on one kept connection per broker ([`peers`]).

mod admin;
pub mod markers;
mod peers;
mod topic;
mod verify;

pub use verify::verification_error;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tidewater_group::GroupCoordinator;
use tidewater_storage::TopicPartition;
use tidewater_txn::{
    EndTxn, Ending, InitProducerId, Transit, TxnConfig, TxnCoordinator, TxnError, TxnState,
};
use tracing::{info, warn};

use super::now_ms;
use super::offsets_backend::{append_internal, encode_batch, read_partition, replicated};
use super::producer_ids::ProducerIdManager;
use crate::config::BrokerConfig;
use crate::kraft::Cluster;
use crate::replica_manager::ReplicaManager;

/// The internal topic holding every transactional id's state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// The transaction coordinator of the `__transaction_state` partitions this broker leads.
pub struct TxnHost {
    coordinator: Mutex<TxnCoordinator>,
    replicas: Arc<ReplicaManager>,
    /// The group coordinator, told of the markers written on this broker's
    /// `__consumer_offsets` partitions (they end TxnOffsetCommit's pending offsets).
    groups: Arc<GroupCoordinator>,
    /// Leaders of the partitions markers go to, and topic creation.
    cluster: Arc<Cluster>,
    node_id: i32,
    /// How long a `__transaction_state` write or a marker waits for the ISR.
    write_timeout: Duration,
    /// `__transaction_state` creation in flight (one at a time).
    creating: AtomicBool,
    /// `transaction.state.log.*`: the topic's partitions, replication factor, min ISR.
    topic: topic::TopicSettings,
    /// Its own `Arc`, for the tasks (markers, topic creation) a request starts.
    this: std::sync::Weak<TxnHost>,
    /// Kept connections to the coordinators this broker's leaders ask (KIP-890).
    verifications: peers::PeerConnections,
    /// Kept connections to the partition leaders markers go to.
    marker_channels: peers::PeerConnections,
}

/// A positive `transaction.*` setting of the broker's config, else Kafka's default
/// (the config module accepts these keys without parsing them).
fn setting(config: &BrokerConfig, key: &str, default: i64) -> i64 {
    config
        .static_props
        .get(key)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// Kafka's `TransactionStateManager` answer for a failed `__transaction_state` append.
fn write_error(e: E) -> E {
    match e {
        E::UnknownTopicOrPartition
        | E::NotEnoughReplicas
        | E::NotEnoughReplicasAfterAppend
        | E::RequestTimedOut => E::CoordinatorNotAvailable,
        E::NotLeaderOrFollower | E::KafkaStorageError | E::NotCoordinator => E::NotCoordinator,
        E::MessageTooLarge | E::RecordListTooLarge => E::UnknownServerError,
        other => other,
    }
}

/// The client's error for a refused transition.
fn refused(e: TxnError) -> E {
    match e {
        TxnError::Kafka(e) => e,
        TxnError::Illegal(why) => {
            warn!(%why, "transaction coordinator refused an illegal transition");
            E::UnknownServerError
        }
    }
}

impl TxnHost {
    pub fn new(
        config: &BrokerConfig,
        replicas: Arc<ReplicaManager>,
        groups: Arc<GroupCoordinator>,
        cluster: Arc<Cluster>,
    ) -> Arc<Self> {
        let topic = topic::TopicSettings::from_config(config);
        let defaults = TxnConfig::default();
        let setting = |key: &str, default: i64| setting(config, key, default);
        Arc::new_cyclic(|this| TxnHost {
            this: this.clone(),
            coordinator: Mutex::new(TxnCoordinator::new(TxnConfig {
                partitions: topic.partitions,
                max_timeout_ms: i32::try_from(setting(
                    "transaction.max.timeout.ms",
                    i64::from(defaults.max_timeout_ms),
                ))
                .unwrap_or(defaults.max_timeout_ms),
                id_expiration_ms: setting(
                    "transactional.id.expiration.ms",
                    defaults.id_expiration_ms,
                ),
            })),
            replicas,
            groups,
            cluster,
            node_id: config.node_id,
            write_timeout: Duration::from_millis(
                u64::try_from(config.offsets_commit_timeout_ms).unwrap_or(5000),
            ),
            creating: AtomicBool::new(false),
            topic,
            verifications: peers::PeerConnections::new("txn-verification", config.node_id),
            marker_channels: peers::PeerConnections::new("txn-markers", config.node_id),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TxnCoordinator> {
        self.coordinator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (Kafka: 10 s).
    pub fn cleanup_interval(config: &BrokerConfig) -> Duration {
        let key = "transaction.abort.timed.out.transaction.cleanup.interval.ms";
        Duration::from_millis(u64::try_from(setting(config, key, 10_000)).unwrap_or(10_000))
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        self.lock().partition_for(transactional_id)
    }

    /// This broker became the leader of a `__transaction_state` partition: its ids are
    /// replayed, then the transactions that were ending get their markers again.
    pub fn elected(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        info!(
            partition,
            leader_epoch, "loading transaction metadata of {TXN_TOPIC} partition"
        );
        let records = read_partition(
            self.replicas.logs(),
            &TopicPartition::new(TXN_TOPIC, partition),
        );
        let ending = {
            let mut c = self.lock();
            c.elected(partition, leader_epoch);
            for (key, value) in records {
                let Ok(id) = tidewater_txn::records::decode_key(key) else {
                    continue;
                };
                match value.map(tidewater_txn::records::decode_value) {
                    None => c.replay(&id, None),
                    Some(Ok(t)) => c.replay(&id, Some(t)),
                    Some(Err(e)) => warn!(%id, error = %e, "undecodable {TXN_TOPIC} value skipped"),
                }
            }
            c.loaded(partition)
        };
        for (id, _) in ending {
            self.spawn_markers(id);
        }
    }

    /// This broker no longer leads the partition: its ids are forgotten here.
    pub fn resigned(&self, partition: i32, leader_epoch: i32) {
        info!(
            partition,
            leader_epoch, "unloading transaction metadata of {TXN_TOPIC} partition"
        );
        self.lock().resigned(partition);
    }

    /// Writes a transition's record (acks=all), then applies it; on failure the id
    /// stays as it was and the client gets Kafka's coordinator error.
    async fn write(&self, transactional_id: &str, t: &Transit) -> Result<(), E> {
        let partition = self.partition_for(transactional_id);
        let key = tidewater_txn::records::encode_key(transactional_id);
        let value = (t.state != TxnState::Dead).then(|| tidewater_txn::records::encode_value(t));
        let appended = encode_batch(&[(key, value)], now_ms())
            .map_err(|e| {
                warn!(error = %e, "cannot encode a {TXN_TOPIC} record");
                E::UnknownServerError
            })
            .and_then(|batch| {
                append_internal(
                    &self.replicas,
                    self.replicas.notifier(),
                    self.node_id,
                    &TopicPartition::new(TXN_TOPIC, partition),
                    &batch,
                    self.write_timeout,
                    false,
                )
            });
        let result = match appended {
            Ok(Some(ack)) => replicated(ack, self.write_timeout).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        let mut c = self.lock();
        match result {
            Ok(()) => c.complete(transactional_id, t).map_err(refused),
            Err(e) => {
                c.abandon(transactional_id, t);
                Err(write_error(e))
            }
        }
    }

    /// InitProducerId: the producer id and epoch to answer.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        producer_ids: &ProducerIdManager,
        transactional_id: Option<&str>,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), E> {
        let decision = self
            .lock()
            .init_producer_id(
                transactional_id,
                timeout_ms,
                expected,
                now_ms(),
                &mut || {
                    producer_ids.next_id().map_err(|e| {
                        warn!(error = %e, "cannot allocate a producer id");
                        E::CoordinatorNotAvailable
                    })
                },
            )
            .map_err(refused)?;
        let id = transactional_id.unwrap_or_default();
        match decision {
            InitProducerId::Idempotent { producer_id } => Ok((producer_id, 0)),
            InitProducerId::Write(t) => {
                self.write(id, &t).await?;
                Ok((t.producer_id, t.producer_epoch))
            }
            InitProducerId::AbortFirst(t) => {
                self.write(id, &t).await?;
                self.spawn_markers(id.to_string());
                Err(E::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn (v0-3) and AddOffsetsToTxn: the partitions join the
    /// transaction once the record saying so is durable.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), E> {
        let transit = self
            .lock()
            .add_partitions(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                now_ms(),
            )
            .map_err(refused)?;
        match transit {
            Some(t) => self.write(transactional_id, &t).await,
            None => Ok(()),
        }
    }

    /// EndTxn: once PrepareCommit/PrepareAbort is durable the client is answered and
    /// the markers go out in the background. The answer is the producer the client
    /// goes on with: from transaction version 2 (EndTxn v5) the bumped epoch, or the
    /// next producer id at epoch 0 when the bump exhausted the epoch.
    pub async fn end_txn(
        self: &Arc<Self>,
        producer_ids: &ProducerIdManager,
        transactional_id: &str,
        ending: Ending,
    ) -> Result<(i64, i16), E> {
        let decision = self
            .lock()
            .end_transaction(transactional_id, ending, now_ms(), &mut || {
                producer_ids.next_id().map_err(|e| {
                    warn!(error = %e, "cannot allocate a producer id");
                    E::CoordinatorNotAvailable
                })
            })
            .map_err(refused)?;
        match decision {
            EndTxn::Write(t) => {
                self.write(transactional_id, &t).await?;
                self.spawn_markers(transactional_id.to_string());
                Ok(t.producer_for_client())
            }
            EndTxn::Ended {
                producer_id,
                producer_epoch,
            } => Ok((producer_id, producer_epoch)),
        }
    }

    /// The coordinator's periodic work, every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s): abort the
    /// transactions past their timeout and remove the ids idle past
    /// `transactional.id.expiration.ms`. Ends when the broker drops the coordinator.
    pub async fn run_cleanup(this: std::sync::Weak<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let Some(host) = this.upgrade() else {
                return;
            };
            host.abort_timed_out().await;
            host.expire_ids().await;
        }
    }

    /// Writes the tombstones of the ids idle past `transactional.id.expiration.ms`.
    async fn expire_ids(&self) {
        let expired = self.lock().expire(now_ms());
        for (id, t) in expired {
            match self.write(&id, &t).await {
                Ok(()) => info!(transactional_id = %id, "transactional id expired"),
                Err(e) => {
                    warn!(transactional_id = %id, error = ?e, "cannot expire a transactional id yet")
                }
            }
        }
    }

    /// Aborts the transactions open longer than their timeout (Kafka's
    /// `abortTimedOutTransactions`), fencing their producers.
    pub async fn abort_timed_out(self: &Arc<Self>) {
        let now = now_ms();
        let expired = self.lock().timed_out(now);
        for (id, producer_id) in expired {
            let transit = self.lock().abort_timed_out(&id, producer_id, now);
            match transit {
                Ok(Some(t)) => {
                    info!(transactional_id = %id, producer_id, "aborting a timed-out transaction");
                    match self.write(&id, &t).await {
                        Ok(()) => self.spawn_markers(id),
                        Err(e) => {
                            warn!(transactional_id = %id, error = ?e, "cannot abort a timed-out transaction yet")
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(transactional_id = %id, error = %e, "cannot abort a timed-out transaction")
                }
            }
        }
    }
}
