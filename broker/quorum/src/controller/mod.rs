//! Sans-IO controller decisions (KRaft's `QuorumController` managers, without IO).
//!
//! Each decision reads a [`MetadataImage`] and returns the metadata records to write, or
//! a [`ControllerError`] carrying the Kafka error code. Nothing here touches a socket,
//! a clock or a disk: time comes in as `now_ms`, randomness as the (random) topic id.
//! The caller must serialize decisions: propose one decision's records and apply them
//! before deciding the next, as KRaft's single controller event loop does.
//!
//! The only state kept outside the image is what KRaft also keeps in memory only: the
//! last heartbeat time of each broker, and which connections carry their heartbeats.

mod acls;
mod brokers;
mod configs;
mod election;
mod error;
mod features;
mod isr;
mod leaders;
mod placement;
mod reassign;
mod scram;
mod sessions;
mod topics;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;

pub use acls::{ACL_METADATA_VERSION, AclDeleteResult, AclResult};
pub use brokers::{BrokerHeartbeat, BrokerRegistrationRequest, HeartbeatReply};
pub use configs::is_topic_config;
pub use error::ControllerError;
pub use features::{
    FeatureUpdate, LATEST_METADATA_VERSION, MINIMUM_METADATA_VERSION, UpgradeType, batched_calls,
    metadata_version_changes_metadata,
};
pub use isr::AlterPartition;
pub use leaders::ElectionType;
pub use placement::{BrokerPlacement, assign_replicas};
pub use reassign::{OngoingReassignment, list_partition_reassignments};
pub use scram::{
    MAX_SCRAM_ITERATIONS, MIN_SCRAM_ITERATIONS, SCRAM_MECHANISMS, SCRAM_METADATA_VERSION,
    ScramAlterResult,
};
pub use sessions::FLAP_GUARD_MS;
pub use topics::CreateTopic;

use crate::image::{BrokerRegistration, MetadataImage};
use crate::records::{MetadataRecord, PartitionRecord};

/// Static controller settings (Kafka server properties of the controller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `node.id`: Kafka names the refusing controller in UpdateFeatures errors.
    pub node_id: i32,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `unclean.leader.election.enable` default when no dynamic config overrides it.
    pub unclean_leader_election_enable: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `num.partitions`: used when CreateTopics asks for the default (-1).
    pub num_partitions: i32,
    /// `default.replication.factor`: used when CreateTopics asks for the default (-1).
    pub default_replication_factor: i16,
    /// Feature levels this controller can finalize (name -> inclusive range).
    pub supported_features: BTreeMap<String, (u16, u16)>,
    /// `metadata.version` finalized when a new cluster's first controller activates
    /// (what `kafka-storage format --release-version` writes in Kafka).
    pub bootstrap_metadata_version: u16,
    /// Other features finalized with it (`format --feature NAME=LEVEL`, as Kafka's
    /// `kafka-storage format --feature` writes them into its bootstrap checkpoint).
    pub bootstrap_features: BTreeMap<String, u16>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            node_id: 0,
            broker_session_timeout_ms: 9_000,
            unclean_leader_election_enable: false,
            auto_leader_rebalance_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            supported_features: BTreeMap::from([(
                crate::image::METADATA_VERSION.to_string(),
                (
                    features::MINIMUM_METADATA_VERSION,
                    features::LATEST_METADATA_VERSION,
                ),
            )]),
            bootstrap_metadata_version: features::LATEST_METADATA_VERSION,
            bootstrap_features: BTreeMap::new(),
        }
    }
}

/// Records of one decision plus the reply the requester gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<R> {
    pub records: Vec<MetadataRecord>,
    pub reply: R,
}

/// The controller's decision logic. Cheap to rebuild on failover: only heartbeat
/// times are lost, and [`Controller::tick`] treats unknown brokers as just heard from.
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    /// Last heartbeat per broker id, in the caller's monotonic milliseconds.
    last_heartbeat_ms: BTreeMap<i32, u64>,
    /// Heartbeat connections and the flap guard, for fencing on a closed connection.
    sessions: sessions::SessionConnections,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Self {
            config,
            last_heartbeat_ms: BTreeMap::new(),
            sessions: sessions::SessionConnections::default(),
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }
}

/// The partition `topic`-`partition`, or UNKNOWN_TOPIC_OR_PARTITION.
pub(crate) fn find_partition<'a>(
    image: &'a MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<&'a PartitionRecord, ControllerError> {
    image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
        .ok_or_else(|| {
            ControllerError::UnknownTopicOrPartition(format!("{topic}-{partition} does not exist"))
        })
}

/// The registration of `broker_id` if `epoch` is its current epoch (BROKER_ID_NOT_REGISTERED
/// or STALE_BROKER_EPOCH otherwise).
pub(crate) fn registered_at_epoch(
    image: &MetadataImage,
    broker_id: i32,
    epoch: i64,
) -> Result<&BrokerRegistration, ControllerError> {
    let broker = image
        .brokers
        .get(&broker_id)
        .ok_or(ControllerError::BrokerNotRegistered(broker_id))?;
    if broker.broker_epoch != epoch {
        return Err(ControllerError::StaleBrokerEpoch {
            broker_id,
            current: broker.broker_epoch,
            got: epoch,
        });
    }
    Ok(broker)
}

/// Records being decided, applied to a scratch copy of the image as they are emitted so
/// later steps of the same decision see earlier ones (a fenced broker is not elected).
/// The copy is made on the first record only: most heartbeats decide nothing.
pub(crate) struct Staged<'a> {
    pub image: Cow<'a, MetadataImage>,
    pub records: Vec<MetadataRecord>,
}

impl<'a> Staged<'a> {
    pub fn new(image: &'a MetadataImage) -> Self {
        Self {
            image: Cow::Borrowed(image),
            records: Vec::new(),
        }
    }

    pub fn push(&mut self, record: MetadataRecord) {
        self.image.to_mut().apply(&record);
        self.records.push(record);
    }
}
