//! [`MetadataView`]: what this broker knows of the cluster (Kafka's `MetadataCache`
//! plus the `KafkaRaftManager` handle): the cluster id, the topics and dynamic configs
//! of the metadata image it follows, and the KRaft node that follows it; the views
//! Metadata, FindCoordinator and DescribeCluster answer from (leaders, live brokers,
//! racks, the controller id clients see).
//!
//! Read-only: every change is a controller decision made through [`Cluster`], which
//! reaches this view through the metadata log.

use std::collections::BTreeMap;
use std::sync::Arc;

use tidewater_quorum::records::NO_LEADER;
use uuid::Uuid;

use crate::kraft::Cluster;
use crate::metadata::{DynamicResource, MetadataStore, TopicMetadata};

/// A partition's leadership as clients see it in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on brokers that are not registered or fenced.
    pub offline: Vec<i32>,
}

/// A broker as clients see it in Metadata / DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerView {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

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

    pub fn topic_name_by_id(&self, id: Uuid) -> Option<String> {
        self.store.topic_name_by_id(id)
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

    /// Leadership of a partition for Metadata responses.
    pub fn partition_view(&self, topic: &str, partition: i32, replicas: &[i32]) -> PartitionView {
        let image = self.cluster().image();
        let Some(p) = image
            .topic(topic)
            .and_then(|t| t.partitions.get(&partition))
        else {
            return PartitionView {
                leader: NO_LEADER,
                leader_epoch: -1,
                replicas: replicas.to_vec(),
                isr: Vec::new(),
                offline: replicas.to_vec(),
            };
        };
        PartitionView {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            offline: p
                .replicas
                .iter()
                .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
                .copied()
                .collect(),
        }
    }

    /// The brokers clients may connect to, with the address of `listener`.
    pub fn live_brokers(&self, listener: &str) -> Vec<BrokerView> {
        let image = self.cluster().image();
        image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| {
                let l = b
                    .listeners
                    .iter()
                    .find(|l| l.name == listener)
                    .or_else(|| b.listeners.first())?;
                Some(BrokerView {
                    id: b.broker_id,
                    host: l.host.clone(),
                    port: l.port,
                    rack: b.rack.clone(),
                })
            })
            .collect()
    }

    /// `broker.rack` of every registered broker (KIP-392 selection).
    pub fn replica_racks(&self) -> std::collections::BTreeMap<i32, String> {
        self.cluster()
            .image()
            .brokers
            .values()
            .filter_map(|b| b.rack.clone().map(|r| (b.broker_id, r)))
            .collect()
    }

    /// The controller id clients see in Metadata / DescribeCluster. Clients send
    /// controller-bound requests to this id and brokers forward them (KIP-590), so it must be a live broker: the active
    /// controller when it is one (combined mode), else the lowest live broker id (Kafka
    /// picks a random one). DescribeQuorum names the real active controller.
    pub fn controller_id(&self) -> i32 {
        let cluster = self.cluster();
        let image = cluster.image();
        let active = cluster.active_controller();
        let live = |id: &i32| image.brokers.get(id).is_some_and(|b| !b.fenced);
        if live(&active) {
            return active;
        }
        image
            .brokers
            .keys()
            .copied()
            .find(|id| live(id))
            .unwrap_or(self.kraft.node_id)
    }
}
