//! Admin calls for moving partitions, as Kafka's `Admin` offers them and
//! `kafka-reassign-partitions` / `kafka-leader-election` / `kafka-cluster unregister`
//! use them: AlterPartitionReassignments (a target or a cancel per partition),
//! ListPartitionReassignments, DescribeLogDirs (of the connected broker),
//! IncrementalAlterConfigs (set or delete, e.g. replication throttles), preferred
//! ElectLeaders and UnregisterBroker.
//!
//! A top-level error code is `Err(ClientError::Protocol)`; per-partition and
//! per-resource codes come back as data ([`PartitionFailure`]), as Kafka's `Admin`
//! gives one future per partition: the caller decides what a refusal of one means.

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, DescribeLogDirsRequest,
    ElectLeadersRequest, IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest,
    TopicName, UnregisterBrokerRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::admin::AdminClient;
use crate::error::ClientError;

/// ElectLeaders `election_type` 0: the first live in-sync replica of the assignment.
const PREFERRED: i8 = 0;
/// ELECTION_NOT_NEEDED: the preferred replica already leads; not a failure.
const ELECTION_NOT_NEEDED: i16 = 84;
/// BROKER_NOT_AVAILABLE: a broker-level config for a broker not in the metadata.
const BROKER_NOT_AVAILABLE: i16 = 8;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// One partition's reassignment request: a target (preferred leader first) or `None`
/// to cancel the ongoing move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    pub target: Option<Vec<i32>>,
}

/// A partition (or resource) the broker refused, with Kafka's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFailure {
    pub topic: String,
    pub partition: i32,
    pub code: i16,
    pub message: Option<String>,
}

/// A move in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// Current replica set: the target plus the replicas still being removed.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// One partition in one log dir of the connected broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLogDir {
    pub log_dir: String,
    pub topic: String,
    pub partition: i32,
    pub size_bytes: i64,
}

/// What IncrementalAlterConfigs changes: a broker's configs (`Broker(id)`) or a topic's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Broker(i32),
    Topic(String),
}

impl ConfigResource {
    fn kafka(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(t) => (2, t.clone()),
            ConfigResource::Broker(id) => (4, id.to_string()),
        }
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn text(m: Option<StrBytes>) -> Option<String> {
    m.map(|m| m.to_string())
}

impl AdminClient {
    /// AlterPartitionReassignments: starts (or cancels) the moves; the failures are the
    /// partitions the controller refused.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[Reassignment],
    ) -> Result<Vec<PartitionFailure>, ClientError> {
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for m in moves {
            let p = ReassignablePartition::default()
                .with_partition_index(m.partition)
                .with_replicas(
                    m.target
                        .as_ref()
                        .map(|t| t.iter().map(|b| BrokerId(*b)).collect()),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == m.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(name(&m.topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.request_timeout_ms())
            .with_topics(topics);
        let resp = self.send(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::AlterPartitionReassignments,
            text(resp.error_message),
        )?;
        Ok(resp
            .responses
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.0.to_string();
                t.partitions
                    .into_iter()
                    .filter(|p| p.error_code != 0)
                    .map(move |p| PartitionFailure {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        code: p.error_code,
                        message: text(p.error_message),
                    })
            })
            .collect())
    }

    /// ListPartitionReassignments of every partition: the moves in progress.
    pub async fn list_partition_reassignments(
        &self,
    ) -> Result<Vec<OngoingReassignment>, ClientError> {
        let req = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.request_timeout_ms())
            .with_topics(None);
        let resp = self.send(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::ListPartitionReassignments,
            text(resp.error_message),
        )?;
        let ids = |v: Vec<BrokerId>| v.into_iter().map(|b| b.0).collect();
        Ok(resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.0.to_string();
                t.partitions.into_iter().map(move |p| OngoingReassignment {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    replicas: ids(p.replicas),
                    adding: ids(p.adding_replicas),
                    removing: ids(p.removing_replicas),
                })
            })
            .collect())
    }

    /// DescribeLogDirs of the connected broker, every partition it holds (a log dir
    /// that failed is an error: its partitions cannot be vouched for).
    pub async fn describe_log_dirs(&self) -> Result<Vec<ReplicaLogDir>, ClientError> {
        let resp = self
            .send(DescribeLogDirsRequest::default().with_topics(None))
            .await?;
        ClientError::check(resp.error_code, ApiKey::DescribeLogDirs, None)?;
        let mut out = Vec::new();
        for dir in resp.results {
            let log_dir = dir.log_dir.to_string();
            ClientError::check(
                dir.error_code,
                ApiKey::DescribeLogDirs,
                Some(log_dir.clone()),
            )?;
            for t in dir.topics {
                for p in t.partitions.into_iter().filter(|p| !p.is_future_key) {
                    out.push(ReplicaLogDir {
                        log_dir: log_dir.clone(),
                        topic: t.name.0.to_string(),
                        partition: p.partition_index,
                        size_bytes: p.partition_size,
                    });
                }
            }
        }
        Ok(out)
    }

    /// IncrementalAlterConfigs of one resource: `Some(value)` sets, `None` deletes. As
    /// Kafka's `Admin`, a broker's own configs go to that broker (it refuses another
    /// broker's id), found through Metadata.
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        configs: &[(&str, Option<String>)],
    ) -> Result<(), ClientError> {
        if let ConfigResource::Broker(id) = resource {
            let metadata = self.metadata(Some(Vec::new())).await?;
            let broker = metadata
                .brokers
                .iter()
                .find(|b| b.node_id == *id)
                .ok_or_else(|| ClientError::Protocol {
                    code: BROKER_NOT_AVAILABLE,
                    api: ApiKey::IncrementalAlterConfigs,
                    message: Some(format!("broker {id} is not in the cluster metadata")),
                })?;
            let addr = format!("{}:{}", broker.host, broker.port);
            if self.connected_to().await.as_deref() != Some(addr.as_str()) {
                let direct = self.connect_like(&addr).await?;
                return direct.alter_configs_here(resource, configs).await;
            }
        }
        self.alter_configs_here(resource, configs).await
    }

    /// IncrementalAlterConfigs on the connected broker.
    async fn alter_configs_here(
        &self,
        resource: &ConfigResource,
        configs: &[(&str, Option<String>)],
    ) -> Result<(), ClientError> {
        let (resource_type, resource_name) = resource.kafka();
        let configs = configs
            .iter()
            .map(|(k, v)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string((*k).to_owned()))
                    .with_config_operation(if v.is_some() { OP_SET } else { OP_DELETE })
                    .with_value(v.clone().map(StrBytes::from_string))
            })
            .collect();
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(resource_name))
                .with_configs(configs),
        ]);
        let resp = self.send(req).await?;
        for r in resp.responses {
            ClientError::check(
                r.error_code,
                ApiKey::IncrementalAlterConfigs,
                text(r.error_message).or_else(|| Some(format!("{resource:?}"))),
            )?;
        }
        Ok(())
    }

    /// Preferred leader election for `partitions` (`None`: every partition). Partitions
    /// already led by their preferred replica are not failures.
    pub async fn elect_preferred_leaders(
        &self,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<PartitionFailure>, ClientError> {
        let topic_partitions = partitions.map(|ps| {
            let mut out: Vec<TopicPartitions> = Vec::new();
            for (topic, p) in ps {
                match out.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                    Some(t) => t.partitions.push(*p),
                    None => out.push(
                        TopicPartitions::default()
                            .with_topic(name(topic))
                            .with_partitions(vec![*p]),
                    ),
                }
            }
            out
        });
        let req = ElectLeadersRequest::default()
            .with_election_type(PREFERRED)
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(self.request_timeout_ms());
        let resp = self.send(req).await?;
        ClientError::check(resp.error_code, ApiKey::ElectLeaders, None)?;
        Ok(resp
            .replica_election_results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.0.to_string();
                t.partition_result
                    .into_iter()
                    .filter(|p| p.error_code != 0 && p.error_code != ELECTION_NOT_NEEDED)
                    .map(move |p| PartitionFailure {
                        topic: topic.clone(),
                        partition: p.partition_id,
                        code: p.error_code,
                        message: text(p.error_message),
                    })
            })
            .collect())
    }

    /// UnregisterBroker: removes a (stopped) broker's registration from the cluster.
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<(), ClientError> {
        let req = UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id));
        let resp = self.send(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::UnregisterBroker,
            text(resp.error_message).or_else(|| Some(format!("broker {broker_id}"))),
        )
    }
}
