//! [`MetadataView`]: what this broker knows of the cluster (Kafka's `MetadataCache`
//! plus the `KafkaRaftManager` handle): the cluster id, the topics and dynamic configs
//! of the metadata image it follows, and the KRaft node that follows it.
//!
//! Read-only: every change is a controller decision made through [`Cluster`], which
//! reaches this view through the metadata log.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::kraft::Cluster;
use crate::metadata::{DynamicResource, MetadataStore, TopicMetadata};

pub struct MetadataView {
    /// `meta.properties`' cluster id, answered in Metadata and DescribeCluster.
    cluster_id: String,
    /// The topics and configs of the image, as handlers read them.
    store: Arc<dyn MetadataStore>,
    /// The quorum membership and the metadata image this node follows.
    kraft: Arc<Cluster>,
}

impl MetadataView {
    pub fn new(cluster_id: String, store: Arc<dyn MetadataStore>, kraft: Arc<Cluster>) -> Self {
        MetadataView {
            cluster_id,
            store,
            kraft,
        }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The store, for the parts that keep a handle of their own (producer ids, the
    /// group coordinator's offsets backend).
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// The quorum membership and metadata image of this node.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.kraft
    }

    pub fn topics(&self) -> Vec<TopicMetadata> {
        self.store.topics()
    }

    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.store.topic(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata> {
        self.store.topic_by_id(id)
    }

    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.store.has_partition(topic, partition)
    }

    /// This broker's effective dynamic configs (cluster defaults overlaid with its own).
    pub fn broker_configs(&self) -> BTreeMap<String, String> {
        self.store.broker_configs()
    }

    /// The dynamic configs stored on one resource.
    pub fn dynamic_configs(&self, resource: &DynamicResource) -> BTreeMap<String, String> {
        self.store.dynamic_configs(resource)
    }
}
