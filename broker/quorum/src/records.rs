//! Metadata records: the entries of the replicated metadata log.
//!
//! Mirrors KRaft's `__cluster_metadata` record types (RegisterBrokerRecord,
//! PartitionRecord, PartitionChangeRecord, ...). Records are facts the controller has
//! already decided; applying them (see [`crate::image`]) never fails on a record the
//! controller produced. This module owns only the shapes, not their validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Kafka's "no leader" marker (`LeaderAndIsr.NO_LEADER`).
pub const NO_LEADER: i32 = -1;

/// Topic ids are UUIDs; stored as the u128 of their 16 big-endian bytes.
pub type TopicId = u128;

/// A listener a broker advertises (`listeners` / `advertised.listeners`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: String,
}

/// Inclusive range of feature levels a broker supports (`min`, `max`).
pub type FeatureRange = (u16, u16);

/// The kind of resource a dynamic config applies to (Kafka's `ConfigResource.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResourceType {
    Topic,
    /// Broker configs; the empty resource name is the cluster-wide default.
    Broker,
    /// Consumer group configs (Kafka 4's GROUP resource), by group id.
    Group,
}

/// A full partition state (KRaft `PartitionRecord`): written on creation and on
/// partition additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub topic_id: TopicId,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// A delta to an existing partition (KRaft `PartitionChangeRecord`). `None` = unchanged.
/// Applying it bumps the partition epoch; setting `leader` also bumps the leader epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic_id: TopicId,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
    pub isr: Option<Vec<i32>>,
    pub leader: Option<i32>,
    pub adding_replicas: Option<Vec<i32>>,
    pub removing_replicas: Option<Vec<i32>>,
}

impl PartitionChange {
    /// A change touching nothing yet; fields are filled by the caller.
    pub fn new(topic_id: TopicId, partition: i32) -> Self {
        Self {
            topic_id,
            partition,
            ..Self::default()
        }
    }

    /// True when the change would alter nothing (so it must not be written).
    pub fn is_empty(&self) -> bool {
        self.replicas.is_none()
            && self.isr.is_none()
            && self.leader.is_none()
            && self.adding_replicas.is_none()
            && self.removing_replicas.is_none()
    }
}

/// A preferred-leader handoff (metadata.version 4.1-IV0 and up): the leader of the
/// partition at `leader_epoch` stops appending and asks the controller to elect `to` once
/// `to` holds its whole log, so the election truncates no acknowledged record (acks=1
/// included). `to` = [`NO_LEADER`] cancels it; any leader change ends it. A 0.2.0 broker
/// cannot decode this record, which is why it is only written once 4.1-IV0 is finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderHandoff {
    pub topic_id: TopicId,
    pub partition: i32,
    pub leader_epoch: i32,
    pub to: i32,
}

/// A user's SCRAM credential for one mechanism (KRaft's `UserScramCredentialRecord`,
/// api key 11): only what the server side of RFC 5802 needs, never the password. Written
/// from metadata.version 4.1-IV0 here: 0.2.0 cannot read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserScramCredential {
    pub name: String,
    /// Kafka's `ScramMechanism` type: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512.
    pub mechanism: i8,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// One ACL (KRaft's `AccessControlEntryRecord`, api key 6, with its fields and
/// codes). Written from metadata.version 4.1-IV0 here, like SCRAM credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessControlEntryRecord {
    /// The ACL's id (a random UUID, as Kafka's `Uuid`), by which it is removed.
    pub id: u128,
    /// Kafka's `ResourceType` code.
    pub resource_type: i8,
    pub resource_name: String,
    /// Kafka's `PatternType` code (LITERAL 3 or PREFIXED 4).
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    /// Kafka's `AclOperation` code.
    pub operation: i8,
    /// Kafka's `AclPermissionType` code (DENY 2, ALLOW 3).
    pub permission_type: i8,
}

/// One entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A broker (re-)registered. A new registration starts fenced, as in KRaft.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: u128,
        broker_epoch: i64,
        rack: Option<String>,
        listeners: Vec<Listener>,
        features: BTreeMap<String, FeatureRange>,
    },
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    BrokerFence {
        broker_id: i32,
        broker_epoch: i64,
    },
    BrokerUnfence {
        broker_id: i32,
        broker_epoch: i64,
    },
    /// The broker asked to shut down; it gets no new leaderships or ISR slots.
    ControlledShutdown {
        broker_id: i32,
        broker_epoch: i64,
    },
    Topic {
        name: String,
        topic_id: TopicId,
    },
    RemoveTopic {
        topic_id: TopicId,
    },
    Partition(PartitionRecord),
    PartitionChange(PartitionChange),
    /// A dynamic config; `value: None` deletes the key.
    Config {
        resource_type: ConfigResourceType,
        resource_name: String,
        key: String,
        value: Option<String>,
    },
    /// A finalized feature level; level 0 removes the feature.
    FeatureLevel {
        name: String,
        level: u16,
    },
    LeaderHandoff(LeaderHandoff),
    /// A SCRAM credential created or replaced (KRaft api key 11).
    UserScramCredential(UserScramCredential),
    /// A SCRAM credential removed (KRaft's `RemoveUserScramCredentialRecord`, api key 12).
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
    /// An ACL created (KRaft api key 6).
    AccessControlEntry(AccessControlEntryRecord),
    /// An ACL removed by id (KRaft's `RemoveAccessControlEntryRecord`, api key 7).
    RemoveAccessControlEntry {
        id: u128,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_json() {
        let records = vec![
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: 7,
                broker_epoch: 10,
                rack: Some("a".into()),
                listeners: vec![Listener {
                    name: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                features: BTreeMap::from([("metadata.version".to_string(), (1, 20))]),
            },
            MetadataRecord::PartitionChange(PartitionChange {
                isr: Some(vec![1, 2]),
                ..PartitionChange::new(u128::MAX, 3)
            }),
            MetadataRecord::Config {
                resource_type: ConfigResourceType::Topic,
                resource_name: "t".into(),
                key: "k".into(),
                value: None,
            },
        ];
        let json = serde_json::to_vec(&records).unwrap();
        let back: Vec<MetadataRecord> = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, records);
    }

    #[test]
    fn empty_change_is_detected() {
        let mut change = PartitionChange::new(1, 0);
        assert!(change.is_empty());
        change.leader = Some(2);
        assert!(!change.is_empty());
    }
}
