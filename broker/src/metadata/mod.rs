//! Cluster metadata as the handlers read it (Kafka's `MetadataCache`): topics (id,
//! partitions, replica assignment, configs), the dynamic broker configs and
//! producer-id blocks.
//!
//! Owns the [`MetadataStore`] trait, its implementation on the metadata image this
//! node follows ([`image_store::ImageMetadataStore`], Kafka's `KRaftMetadataCache`:
//! changes are controller decisions made through [`crate::kraft`]),
//! `meta.properties` (Kafka's `MetaProperties`), the feature levels `format` records
//! ([`bootstrap_features`]), and this node's own small state file.
//! It does not own partition data (that is `tidewater-storage`).

pub mod bootstrap_features;
pub mod image_store;
mod meta_properties;
mod node_file;

pub use meta_properties::{MetaProperties, MetaPropertiesError, format_log_dirs, read_cluster_id};
pub use node_file::{LegacyMetadata, NodeFile};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    pub id: Uuid,
    /// Partition index -> replica node ids (the first is the preferred leader).
    pub partitions: BTreeMap<i32, Vec<i32>>,
    /// Topic-level config overrides, as given (e.g. `retention.ms`).
    pub configs: BTreeMap<String, String>,
}

/// A resource whose dynamic configs are stored as given, without inheritance
/// (topics keep theirs in [`TopicMetadata::configs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynamicResource {
    /// The cluster-wide broker defaults (Kafka's empty broker resource name).
    BrokerDefault,
    /// One broker's own configs (resource name = its node id).
    Broker(i32),
    /// A consumer group's configs (Kafka 4's GROUP resource, type 32).
    Group(String),
}

/// Why a metadata change was refused or could not be persisted.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot persist metadata to {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Every producer id this node can hand out (its node id in the high bits) is used.
    #[error("this broker's producer id range is exhausted")]
    ProducerIdsExhausted,
    #[error("metadata file {path} is corrupt: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl MetadataError {
    /// The Kafka error code a client gets for this failure.
    pub fn error_code(&self) -> i16 {
        use kafka_protocol::error::ResponseError as E;
        match self {
            MetadataError::Io { .. } | MetadataError::Corrupt { .. } => E::KafkaStorageError.code(),
            MetadataError::ProducerIdsExhausted => E::UnknownServerError.code(),
        }
    }
}

/// Cluster metadata as this node's image shows it. Read-only: every change is a
/// controller decision that reaches the image through the metadata log.
pub trait MetadataStore: Send + Sync + 'static {
    fn cluster_id(&self) -> String;
    fn topics(&self) -> Vec<TopicMetadata>;
    fn topic(&self, name: &str) -> Option<TopicMetadata>;
    fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata>;
    /// A topic's name by its id, without building its metadata (asked per topic of
    /// every follower fetch).
    fn topic_name_by_id(&self, id: Uuid) -> Option<String> {
        self.topic_by_id(id).map(|t| t.name)
    }
    fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }
    /// This broker's effective dynamic configs: the cluster-wide defaults overlaid
    /// with its own, as Kafka resolves them.
    fn broker_configs(&self) -> BTreeMap<String, String>;
    /// The dynamic configs stored on one resource.
    fn dynamic_configs(&self, resource: &DynamicResource) -> BTreeMap<String, String>;
    /// Reserves `size` producer ids and returns the first; never hands out an id twice,
    /// across restarts too.
    fn allocate_producer_ids(&self, size: i64) -> Result<i64, MetadataError>;
}
