//! admin: the operator's Kafka-protocol view of a cluster, read through
//! `tidewater-client` (Metadata): registered brokers, active controller, offline and
//! under-replicated partitions. Owns no decisions; `status` interprets the snapshot.

use std::time::Duration;

use tidewater_client::{AdminClient, ClientConfig, ClusterMetadata};

use crate::runtime::{AdminSnapshot, AdminSource};

/// Reads snapshots over the Kafka protocol.
#[derive(Debug, Clone)]
pub struct KafkaAdmin {
    /// Connect and request deadline: a reconcile must not hang on a dead broker.
    pub timeout: Duration,
}

impl Default for KafkaAdmin {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
        }
    }
}

impl AdminSource for KafkaAdmin {
    async fn snapshot(&self, bootstrap: &[String]) -> Result<AdminSnapshot, String> {
        if bootstrap.is_empty() {
            return Err("no broker is ready to answer".to_owned());
        }
        let config = ClientConfig {
            client_id: "tidewater-operator".to_owned(),
            connect_timeout: self.timeout,
            request_timeout: self.timeout,
        };
        let client = AdminClient::connect_with(&bootstrap.join(","), config)
            .await
            .map_err(|e| e.to_string())?;
        let metadata = client.metadata(None).await.map_err(|e| e.to_string())?;
        Ok(snapshot_of(&metadata))
    }
}

/// Summarises a Metadata answer.
pub fn snapshot_of(m: &ClusterMetadata) -> AdminSnapshot {
    let partitions = m.topics.iter().flat_map(|t| t.partitions.iter());
    let (mut offline, mut under) = (0, 0);
    for p in partitions {
        if p.is_offline() {
            offline += 1;
        } else if p.is_under_replicated() {
            under += 1;
        }
    }
    AdminSnapshot {
        registered: m.brokers.iter().map(|b| b.node_id).collect(),
        controller: (m.controller_id >= 0).then_some(m.controller_id),
        offline_partitions: offline,
        under_replicated_partitions: under,
        cluster_id: m.cluster_id.clone(),
    }
}
