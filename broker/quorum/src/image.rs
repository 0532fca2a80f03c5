//! The metadata image: the state you get by applying the metadata log in order.
//!
//! Owns the in-memory view every broker and controller reads (KRaft's `MetadataImage`):
//! brokers, topics by name and id with their partitions, dynamic configs and finalized
//! features, plus the log index it reflects. `apply` is pure and deterministic, so any
//! two nodes that applied the same log prefix hold equal images; the image is also the
//! snapshot payload. It must not decide anything: validation lives in the controller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acl::AclIndex;
use crate::records::{
    ConfigResourceType, FeatureRange, Listener, MetadataRecord, PartitionChange, PartitionRecord,
    TopicId, UserScramCredential,
};

/// The feature whose level gates the metadata log format (Kafka's `metadata.version`).
pub const METADATA_VERSION: &str = "metadata.version";

/// KIP-853's feature. Every Tidewater quorum is dynamic (AddRaftVoter / RemoveRaftVoter
/// always accepted), so it is finalized at [`KRAFT_VERSION_DYNAMIC`] without a record.
pub const KRAFT_VERSION: &str = "kraft.version";
/// `kraft.version` 1: a dynamic controller quorum.
pub const KRAFT_VERSION_DYNAMIC: u16 = 1;

/// A registered broker as the quorum knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    pub incarnation_id: u128,
    pub broker_epoch: i64,
    pub rack: Option<String>,
    pub listeners: Vec<Listener>,
    pub features: BTreeMap<String, FeatureRange>,
    /// Fenced brokers lead nothing and join no ISR (new registrations start fenced).
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

impl BrokerRegistration {
    /// A broker that may lead partitions and be added to ISRs.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// One topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: TopicId,
    pub partitions: BTreeMap<i32, PartitionRecord>,
}

/// Everything the metadata log has established so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Log index of the last applied entry (0 = nothing applied).
    pub offset: u64,
    /// Highest broker epoch ever handed out, so new epochs only grow.
    pub last_broker_epoch: i64,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics_by_id: BTreeMap<TopicId, TopicImage>,
    pub topic_ids_by_name: BTreeMap<String, TopicId>,
    /// resource type -> resource name -> key -> value.
    pub configs: BTreeMap<ConfigResourceType, BTreeMap<String, BTreeMap<String, String>>>,
    pub features: BTreeMap<String, u16>,
    /// Preferred-leader handoffs under way: topic id -> partition -> (leader epoch, to).
    /// Omitted when empty, so an image without any reads the same as before 4.1-IV0.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leader_handoffs: BTreeMap<TopicId, BTreeMap<i32, (i32, i32)>>,
    /// SCRAM credentials: user -> mechanism type -> credential. Omitted when empty,
    /// like `leader_handoffs`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram_credentials: BTreeMap<String, BTreeMap<i8, UserScramCredential>>,
    /// ACLs by id, indexed for the authorizer. Omitted when empty, like
    /// `leader_handoffs`.
    #[serde(default, skip_serializing_if = "AclIndex::is_empty")]
    pub acls: AclIndex,
}

impl MetadataImage {
    /// Applies one log entry (all its records, in order) found at `index`.
    pub fn apply_entry(&mut self, index: u64, records: &[MetadataRecord]) {
        for record in records {
            self.apply(record);
        }
        self.offset = index;
    }

    /// Applies one record. Records refer to state the controller saw; a record that does
    /// not fit (e.g. a stale broker epoch) is ignored with a warning, never a panic.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                rack,
                listeners,
                features,
            } => {
                self.last_broker_epoch = self.last_broker_epoch.max(*broker_epoch);
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        broker_id: *broker_id,
                        incarnation_id: *incarnation_id,
                        broker_epoch: *broker_epoch,
                        rack: rack.clone(),
                        listeners: listeners.clone(),
                        features: features.clone(),
                        fenced: true,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                if self.broker_at_epoch(*broker_id, *broker_epoch).is_some() {
                    self.brokers.remove(broker_id);
                }
            }
            MetadataRecord::BrokerFence {
                broker_id,
                broker_epoch,
            } => {
                if let Some(b) = self.broker_at_epoch(*broker_id, *broker_epoch) {
                    b.fenced = true;
                }
            }
            MetadataRecord::BrokerUnfence {
                broker_id,
                broker_epoch,
            } => {
                if let Some(b) = self.broker_at_epoch(*broker_id, *broker_epoch) {
                    b.fenced = false;
                }
            }
            MetadataRecord::ControlledShutdown {
                broker_id,
                broker_epoch,
            } => {
                if let Some(b) = self.broker_at_epoch(*broker_id, *broker_epoch) {
                    b.in_controlled_shutdown = true;
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                self.topic_ids_by_name.insert(name.clone(), *topic_id);
                self.topics_by_id.insert(
                    *topic_id,
                    TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                self.leader_handoffs.remove(topic_id);
                if let Some(topic) = self.topics_by_id.remove(topic_id) {
                    self.topic_ids_by_name.remove(&topic.name);
                    if let Some(topics) = self.configs.get_mut(&ConfigResourceType::Topic) {
                        topics.remove(&topic.name);
                        if topics.is_empty() {
                            self.configs.remove(&ConfigResourceType::Topic);
                        }
                    }
                }
            }
            MetadataRecord::Partition(p) => match self.topics_by_id.get_mut(&p.topic_id) {
                Some(topic) => {
                    topic.partitions.insert(p.partition, p.clone());
                }
                None => tracing::warn!(topic_id = p.topic_id, "partition record for unknown topic"),
            },
            MetadataRecord::PartitionChange(change) => self.apply_partition_change(change),
            MetadataRecord::Config {
                resource_type,
                resource_name,
                key,
                value,
            } => self.apply_config(*resource_type, resource_name, key, value.as_deref()),
            MetadataRecord::FeatureLevel { name, level } => {
                if *level == 0 {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
            }
            MetadataRecord::LeaderHandoff(h) => self.apply_leader_handoff(h),
            MetadataRecord::UserScramCredential(c) => {
                self.scram_credentials
                    .entry(c.name.clone())
                    .or_default()
                    .insert(c.mechanism, c.clone());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(user) = self.scram_credentials.get_mut(name) {
                    user.remove(mechanism);
                    if user.is_empty() {
                        self.scram_credentials.remove(name);
                    }
                }
            }
            MetadataRecord::AccessControlEntry(r) => self.acls.add(r.id, r.binding()),
            MetadataRecord::RemoveAccessControlEntry { id } => {
                self.acls.remove(*id);
            }
        }
    }

    fn broker_at_epoch(&mut self, broker_id: i32, epoch: i64) -> Option<&mut BrokerRegistration> {
        let broker = self.brokers.get_mut(&broker_id)?;
        if broker.broker_epoch == epoch {
            Some(broker)
        } else {
            tracing::warn!(
                broker = broker_id,
                epoch,
                "record for a stale broker epoch ignored"
            );
            None
        }
    }

    fn apply_partition_change(&mut self, change: &PartitionChange) {
        let Some(p) = self
            .topics_by_id
            .get_mut(&change.topic_id)
            .and_then(|t| t.partitions.get_mut(&change.partition))
        else {
            tracing::warn!(
                topic_id = change.topic_id,
                partition = change.partition,
                "partition change for unknown partition"
            );
            return;
        };
        if let Some(replicas) = &change.replicas {
            p.replicas = replicas.clone();
        }
        if let Some(isr) = &change.isr {
            p.isr = isr.clone();
        }
        if let Some(adding) = &change.adding_replicas {
            p.adding_replicas = adding.clone();
        }
        if let Some(removing) = &change.removing_replicas {
            p.removing_replicas = removing.clone();
        }
        if let Some(leader) = change.leader {
            p.leader = leader;
            p.leader_epoch += 1;
        }
        p.partition_epoch += 1;
        if change.leader.is_some() {
            self.end_leader_handoff(change.topic_id, change.partition);
        }
    }

    fn apply_config(
        &mut self,
        rtype: ConfigResourceType,
        name: &str,
        key: &str,
        value: Option<&str>,
    ) {
        let resources = self.configs.entry(rtype).or_default();
        match value {
            Some(v) => {
                resources
                    .entry(name.to_string())
                    .or_default()
                    .insert(key.to_string(), v.to_string());
            }
            None => {
                if let Some(keys) = resources.get_mut(name) {
                    keys.remove(key);
                    if keys.is_empty() {
                        resources.remove(name);
                    }
                }
            }
        }
        if resources.is_empty() {
            self.configs.remove(&rtype);
        }
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids_by_name
            .get(name)
            .and_then(|id| self.topics_by_id.get(id))
    }

    pub fn partition(&self, topic_id: TopicId, partition: i32) -> Option<&PartitionRecord> {
        self.topics_by_id.get(&topic_id)?.partitions.get(&partition)
    }

    /// All partitions, in (topic id, partition) order.
    pub fn partitions(&self) -> impl Iterator<Item = &PartitionRecord> {
        self.topics_by_id
            .values()
            .flat_map(|t| t.partitions.values())
    }

    pub fn is_active_broker(&self, broker_id: i32) -> bool {
        self.brokers
            .get(&broker_id)
            .is_some_and(BrokerRegistration::is_active)
    }

    /// A dynamic config value, if set.
    pub fn config(&self, rtype: ConfigResourceType, name: &str, key: &str) -> Option<&str> {
        self.configs
            .get(&rtype)?
            .get(name)?
            .get(key)
            .map(String::as_str)
    }

    /// The finalized level of a feature (0 = not finalized).
    pub fn feature_level(&self, name: &str) -> u16 {
        self.features.get(name).copied().unwrap_or(0)
    }

    /// Serialized form used as the snapshot payload.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

mod handoff;
#[cfg(test)]
mod tests;
