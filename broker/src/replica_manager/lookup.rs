//! Which local replica serves a client request, or the precise Kafka error the client
//! must get: the leader checks of the data-path handlers (Produce, Fetch, ListOffsets,
//! OffsetForLeaderEpoch, DeleteRecords), KIP-320's leader-epoch fencing included.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use kafka_protocol::error::ResponseError as E;
use tidewater_storage::Log;

use super::fetch_sessions::FetchPartition;
use super::{Partition, ReplicaManager, Role};

/// A fetch session partition's local replica as last looked up, with the generation of
/// the partition map then ([`ReplicaManager::resolve_all`]). The session keeps its
/// requests between fetches, so an idle follower session's fetch reuses this instead
/// of hashing and comparing thousands of topic names every `replica.fetch.wait.max.ms`
/// (a fifth of an idle broker's CPU at 10,000 partitions). A cache, not part of what
/// the request asks: a clone starts empty and every slot equals every other.
#[derive(Default)]
pub struct ReplicaSlot(Mutex<Option<(u64, Option<Arc<Partition>>)>>);

impl ReplicaSlot {
    fn get(&self, generation: u64) -> Option<Option<Arc<Partition>>> {
        match &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((g, replica)) if *g == generation => Some(replica.clone()),
            _ => None,
        }
    }

    fn set(&self, generation: u64, replica: Option<Arc<Partition>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, replica));
    }
}

impl Clone for ReplicaSlot {
    fn clone(&self) -> Self {
        ReplicaSlot::default()
    }
}

impl PartialEq for ReplicaSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ReplicaSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplicaSlot")
    }
}

impl ReplicaManager {
    /// The local replicas of fetch session partitions, in order: each from its slot
    /// while no partition was added or removed since it was filled, else looked up
    /// (all under one read of the map) and remembered.
    pub fn resolve_all<'a>(
        &self,
        parts: impl Iterator<Item = &'a FetchPartition>,
    ) -> Vec<Option<Arc<Partition>>> {
        let generation = self.map_generation.load(Ordering::Acquire);
        let mut map = None;
        parts
            .map(|p| {
                if let Some(replica) = p.replica.get(generation) {
                    return replica;
                }
                let map = map.get_or_insert_with(|| {
                    self.partitions.read().unwrap_or_else(|p| p.into_inner())
                });
                let replica = map.get(&p.tp).cloned();
                // Filled with the generation read before the lookup: a change since
                // makes the slot stale for the next fetch, never a stale one current.
                p.replica.set(generation, replica.clone());
                replica
            })
            .collect()
    }

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tidewater_storage::TopicPartition;

    use super::*;
    use crate::handlers::test_support::broker;

    fn part(topic: &str, partition: i32) -> FetchPartition {
        FetchPartition {
            tp: TopicPartition::new(topic, partition),
            topic_id: uuid::Uuid::nil(),
            fetch_offset: 0,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            replica: ReplicaSlot::default(),
        }
    }

    #[test]
    fn a_session_partition_is_looked_up_again_only_after_the_map_changed() {
        let b = broker(&[("num.partitions", "1")]);
        b.broker.auto_create_topic("here").unwrap();
        let replicas = b.broker.replicas();
        let (here, later) = (part("here", 0), part("later", 0));
        let found = replicas.resolve_all([&here, &later].into_iter());
        let generation = replicas.map_generation.load(Ordering::Acquire);
        assert!(found[0].is_some() && found[1].is_none());
        // Both slots hold this generation's answer, the missing partition's included.
        assert!(here.replica.get(generation).is_some_and(|r| r.is_some()));
        assert!(later.replica.get(generation).is_some_and(|r| r.is_none()));
        // A partition created since is found: the slot that said "none" is stale now.
        b.broker
            .create_topic(
                "later",
                BTreeMap::from([(0, vec![1])]),
                BTreeMap::new(),
                false,
            )
            .unwrap();
        assert!(replicas.map_generation.load(Ordering::Acquire) > generation);
        let found = replicas.resolve_all([&here, &later].into_iter());
        assert!(found.iter().all(Option::is_some));
        assert!(Arc::ptr_eq(
            found[1].as_ref().unwrap(),
            &replicas.get(&later.tp).unwrap()
        ));
    }
}
