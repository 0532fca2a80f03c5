//! Which local replica serves a client request, or the precise Kafka error the client
//! must get: the leader checks of the data-path handlers (Produce, Fetch, ListOffsets,
//! OffsetForLeaderEpoch, DeleteRecords), KIP-320's leader-epoch fencing included.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use tidewater_storage::Log;

use super::{Partition, ReplicaManager, Role};

impl ReplicaManager {
    /// The local replica of a partition this broker leads, or the Kafka error a
    /// client must get (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION).
    pub fn leader_replica(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, E> {
        match self.local_replica(topic, partition)? {
            p if matches!(p.lock().role, Role::Leader(_)) => Ok(p),
            _ => Err(E::NotLeaderOrFollower),
        }
    }

    /// This broker's replica of a partition in any role, or the Kafka error for a
    /// partition hosted elsewhere (NOT_LEADER_OR_FOLLOWER) or unknown.
    pub fn local_replica(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, E> {
        match self.get_by_name(topic, partition) {
            Some(p) => Ok(p),
            None if self
                .cluster
                .image()
                .topic(topic)
                .is_some_and(|t| t.partitions.contains_key(&partition)) =>
            {
                Err(E::NotLeaderOrFollower)
            }
            None => Err(E::UnknownTopicOrPartition),
        }
    }

    /// The log a client may read or write here: only a partition this broker leads.
    pub fn leader_log(&self, topic: &str, partition: i32) -> Result<Arc<Log>, E> {
        self.leader_replica(topic, partition).map(|p| p.log.clone())
    }

    /// The leader log plus Kafka's KIP-320 check of a request's `current_leader_epoch`
    /// (-1 = not given): older than ours FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
    pub fn leader_log_at_epoch(
        &self,
        topic: &str,
        partition: i32,
        current_epoch: i32,
    ) -> Result<Arc<Log>, E> {
        let log = self.leader_log(topic, partition)?;
        let ours = match self.get_by_name(topic, partition) {
            Some(p) => p.lock().role.leader_epoch(),
            None => 0,
        };
        if current_epoch >= 0 && current_epoch < ours {
            return Err(E::FencedLeaderEpoch);
        }
        if current_epoch > ours {
            return Err(E::UnknownLeaderEpoch);
        }
        Ok(log)
    }
}
