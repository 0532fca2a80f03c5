//! Plain views of cluster state, built from Metadata and DescribeCluster responses.
//!
//! Owns the translation from wire messages to owned, sorted Rust values that callers
//! (the operator's health checks, the broker's CLI) can compare and render without
//! kafka-protocol types, plus the two health questions Kafka operators ask first:
//! which partitions are under-replicated and which are offline. Pure: no IO.

use kafka_protocol::messages::{DescribeClusterResponse, MetadataResponse};
use uuid::Uuid;

/// One broker as the cluster advertises it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BrokerInfo {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// One partition's replica state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id, or -1 when the partition has no leader (offline).
    pub leader: i32,
    /// Leader epoch, or -1 when the broker does not report it (Metadata < v7).
    pub leader_epoch: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas whose log directory is offline (Metadata v5+).
    pub offline_replicas: Vec<i32>,
    /// Kafka error code for this partition (e.g. 5 `LEADER_NOT_AVAILABLE`), 0 if none.
    pub error_code: i16,
}

impl PartitionInfo {
    /// Fewer in-sync replicas than assigned ones (Kafka's `UnderReplicatedPartitions`).
    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// No active leader (Kafka's `OfflinePartitionsCount`).
    pub fn is_offline(&self) -> bool {
        self.leader < 0
    }
}

/// One topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name (empty only if the broker answered a lookup by id without a name).
    pub name: String,
    /// Topic id (nil for brokers older than Metadata v10).
    pub topic_id: Uuid,
    /// Internal topics such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Kafka error code for this topic (e.g. 3 `UNKNOWN_TOPIC_OR_PARTITION`), 0 if none.
    pub error_code: i16,
    /// Partitions, ordered by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A topic partition, as named in health reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// The answer to a Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id (Metadata v2+).
    pub cluster_id: Option<String>,
    /// Node id of the active controller, or -1 if unknown.
    pub controller_id: i32,
    /// Live brokers, ordered by node id.
    pub brokers: Vec<BrokerInfo>,
    /// Topics, ordered by name.
    pub topics: Vec<TopicInfo>,
}

impl ClusterMetadata {
    /// Converts a Metadata response; output is sorted so equal clusters compare equal.
    pub fn from_response(resp: MetadataResponse) -> ClusterMetadata {
        let mut brokers: Vec<BrokerInfo> = resp
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.map(|r| r.to_string()),
            })
            .collect();
        brokers.sort();
        let mut topics: Vec<TopicInfo> = resp
            .topics
            .into_iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.into_iter().map(|n| n.0).collect(),
                        isr: p.isr_nodes.into_iter().map(|n| n.0).collect(),
                        offline_replicas: p.offline_replicas.into_iter().map(|n| n.0).collect(),
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                TopicInfo {
                    name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    error_code: t.error_code,
                    partitions,
                }
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        ClusterMetadata {
            cluster_id: resp.cluster_id.map(|c| c.to_string()),
            controller_id: resp.controller_id.0,
            brokers,
            topics,
        }
    }

    /// The topic called `name`, if the response holds it.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The broker with `node_id`, if it is live.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// Partitions with fewer in-sync replicas than replicas, ordered.
    pub fn under_replicated(&self) -> Vec<TopicPartition> {
        self.partitions_where(PartitionInfo::is_under_replicated)
    }

    /// Partitions without a leader, ordered.
    pub fn offline(&self) -> Vec<TopicPartition> {
        self.partitions_where(PartitionInfo::is_offline)
    }

    fn partitions_where(&self, pred: impl Fn(&PartitionInfo) -> bool) -> Vec<TopicPartition> {
        self.topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| pred(p))
                    .map(|p| TopicPartition {
                        topic: t.name.clone(),
                        partition: p.partition,
                    })
            })
            .collect()
    }
}

/// The answer to a DescribeCluster request (KIP-700).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Node id of the active controller, or -1 if unknown.
    pub controller_id: i32,
    /// Brokers, ordered by node id (fenced ones included, see `fenced_brokers`).
    pub brokers: Vec<BrokerInfo>,
    /// Node ids of brokers the controller has fenced (DescribeCluster v2+), ordered.
    pub fenced_brokers: Vec<i32>,
}

impl ClusterDescription {
    /// Converts a DescribeCluster response whose error code was already checked.
    pub fn from_response(resp: DescribeClusterResponse) -> ClusterDescription {
        let mut fenced_brokers = Vec::new();
        let mut brokers: Vec<BrokerInfo> = resp
            .brokers
            .into_iter()
            .map(|b| {
                if b.is_fenced {
                    fenced_brokers.push(b.broker_id.0);
                }
                BrokerInfo {
                    node_id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                }
            })
            .collect();
        brokers.sort();
        fenced_brokers.sort_unstable();
        ClusterDescription {
            cluster_id: resp.cluster_id.to_string(),
            controller_id: resp.controller_id.0,
            brokers,
            fenced_brokers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn partition(
        index: i32,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> MetadataResponsePartition {
        MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(leader))
            .with_leader_epoch(4)
            .with_replica_nodes(replicas.iter().map(|&n| BrokerId(n)).collect())
            .with_isr_nodes(isr.iter().map(|&n| BrokerId(n)).collect())
    }

    fn topic(
        name: &'static str,
        partitions: Vec<MetadataResponsePartition>,
    ) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(name))))
            .with_partitions(partitions)
    }

    fn sample() -> ClusterMetadata {
        let resp = MetadataResponse::default()
            .with_cluster_id(Some(StrBytes::from_static_str("abc")))
            .with_controller_id(BrokerId(2))
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("b2"))
                    .with_port(9092)
                    .with_rack(Some(StrBytes::from_static_str("zone-b"))),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("b1"))
                    .with_port(9092),
            ])
            .with_topics(vec![
                topic(
                    "payments",
                    vec![
                        partition(1, -1, &[1, 2], &[]),
                        partition(0, 1, &[1, 2], &[1, 2]),
                    ],
                ),
                topic(
                    "orders",
                    vec![
                        partition(0, 1, &[1, 2, 3], &[1, 2]),
                        partition(1, 2, &[2], &[2]),
                    ],
                ),
            ]);
        ClusterMetadata::from_response(resp)
    }

    #[test]
    fn converts_and_sorts_everything() {
        let md = sample();
        assert_eq!(md.cluster_id.as_deref(), Some("abc"));
        assert_eq!(md.controller_id, 2);
        let ids: Vec<i32> = md.brokers.iter().map(|b| b.node_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(md.broker(2).and_then(|b| b.rack.as_deref()), Some("zone-b"));
        let names: Vec<&str> = md.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders", "payments"]);
        let payments = md.topic("payments").unwrap();
        assert_eq!(payments.partitions[0].partition, 0);
        assert_eq!(payments.partitions[1].leader_epoch, 4);
        assert!(md.topic("missing").is_none());
    }

    #[test]
    fn health_helpers_find_exactly_the_bad_partitions() {
        let md = sample();
        let tp = |topic: &str, partition| TopicPartition {
            topic: topic.to_owned(),
            partition,
        };
        assert_eq!(
            md.under_replicated(),
            vec![tp("orders", 0), tp("payments", 1)]
        );
        assert_eq!(md.offline(), vec![tp("payments", 1)]);
    }
}
