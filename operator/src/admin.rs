//! admin: the operator's Kafka-protocol view of a cluster, read through
//! `tidewater-client` (Metadata, DescribeQuorum, ApiVersions): registered brokers,
//! active controller, offline and under-replicated partitions, finalized features. Owns no decisions; `status` interprets the snapshot.

use std::time::Duration;

use tidewater_client::kafka_protocol::ResponseError;
use tidewater_client::{AdminClient, ClientConfig, ClientError, ClusterMetadata, QuorumInfo};

use crate::identity::AdminAccess;
use crate::observed::{AdminError, AdminSnapshot};
use crate::plan::AdminOp;
use crate::runtime::AdminSource;

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
    async fn snapshot(
        &self,
        bootstrap: &[String],
        access: &AdminAccess,
    ) -> Result<AdminSnapshot, AdminError> {
        let client = self.connect(bootstrap, access).await?;
        let metadata = client
            .metadata(None)
            .await
            .map_err(|e| AdminError::Unreachable(e.to_string()))?;
        let features = client
            .finalized_features()
            .await
            .map_err(crate::kafka_ops::sent("reading finalized features"))?;
        let snapshot = snapshot_of(&metadata);
        let partitions = crate::kafka_ops::partitions(&client, &metadata).await?;
        let quorum = client.describe_quorum().await;
        let voters = quorum
            .as_ref()
            .map(|q| q.voters.iter().map(|v| v.replica_id).collect())
            .unwrap_or_default();
        let controller = active_controller(snapshot.controller, quorum);
        // A failed read only stops dynamic config changes, not the roll gate.
        let cluster_configs = crate::kafka_ops::cluster_default_configs(&client)
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "cluster default configs not read"))
            .ok();
        Ok(AdminSnapshot {
            finalized_features: features,
            controller,
            partitions,
            cluster_configs,
            voters,
            ..snapshot
        })
    }

    async fn execute(
        &self,
        bootstrap: &[String],
        access: &AdminAccess,
        op: &AdminOp,
    ) -> Result<(), AdminError> {
        let client = self.connect(bootstrap, access).await?;
        match op {
            AdminOp::ElectPreferredLeaders => {
                crate::kafka_ops::elect_preferred_leaders(&client).await
            }
            AdminOp::FinalizeMetadataVersion(level) => {
                crate::kafka_ops::finalize_metadata_version(&client, *level).await
            }
            AdminOp::AlterClusterConfigs(changes) => {
                crate::kafka_ops::alter_cluster_configs(&client, changes).await
            }
            AdminOp::AddRaftVoter { id, endpoint } => {
                crate::quorum_ops::add_raft_voter(&client, *id, endpoint.as_ref()).await
            }
            AdminOp::RemoveRaftVoter(id) => {
                crate::quorum_ops::remove_raft_voter(&client, *id).await
            }
        }
    }
}

impl KafkaAdmin {
    async fn connect(
        &self,
        bootstrap: &[String],
        access: &AdminAccess,
    ) -> Result<AdminClient, AdminError> {
        if bootstrap.is_empty() {
            return Err(AdminError::NoReadyBroker);
        }
        let config = ClientConfig {
            client_id: "tidewater-operator".to_owned(),
            connect_timeout: self.timeout,
            request_timeout: self.timeout,
        };
        connect(&bootstrap.join(","), access, config)
            .await
            .map_err(|e| AdminError::Unreachable(e.to_string()))
    }
}

/// The operator's admin connection to `bootstrap`, as `access` says: plaintext, or mTLS
/// with the operator's certificate. Every admin call of the operator goes through here.
///
/// While brokers still run a config from before their `OPERATOR` listener became SSL
/// ([`AdminAccess::plaintext_until_rolled`]), and no broker of `bootstrap` answers over
/// mTLS, those brokers are tried in plaintext: the operator must keep reading the
/// cluster during the roll that moves them (the roll gate needs the metadata). A broker
/// that runs its current config is never reached in plaintext, and the mTLS error is
/// the one reported when the fallback fails too.
pub async fn connect(
    bootstrap: &str,
    access: &AdminAccess,
    config: ClientConfig,
) -> Result<AdminClient, ClientError> {
    let Some(security) = &access.security else {
        return AdminClient::connect_with(bootstrap, config).await;
    };
    let secured = AdminClient::connect_secured(bootstrap, config.clone(), security.clone()).await;
    match secured {
        Err(e) if !access.plaintext_until_rolled.is_empty() => {
            let stale: Vec<&str> = access
                .plaintext_until_rolled
                .iter()
                .map(String::as_str)
                .collect();
            tracing::debug!(error = %e, brokers = ?stale, "mTLS refused; trying brokers that have not rolled onto the SSL OPERATOR listener yet");
            AdminClient::connect_with(&stale.join(","), config)
                .await
                .map_err(|_| e)
        }
        other => other,
    }
}

/// The active controller: the KRaft quorum leader. In KRaft mode Metadata's
/// `controller_id` is only a broker to forward controller requests through, so it is
/// used only for a cluster without a quorum (DescribeQuorum `UNSUPPORTED_VERSION`).
/// Unknown (`None`) while the quorum cannot be read: nothing then waits on it.
pub fn active_controller(
    metadata_controller: Option<i32>,
    quorum: Result<QuorumInfo, ClientError>,
) -> Option<i32> {
    match quorum {
        Ok(q) => q.leader_id,
        Err(e) if e.kafka_error() == Some(ResponseError::UnsupportedVersion) => metadata_controller,
        Err(e) => {
            tracing::debug!(error = %e, "DescribeQuorum failed; active controller unknown");
            None
        }
    }
}

/// Summarises a Metadata answer.
pub fn snapshot_of(m: &ClusterMetadata) -> AdminSnapshot {
    let partitions = m.topics.iter().flat_map(|t| t.partitions.iter());
    let (mut offline, mut under) = (0, 0);
    let mut hosted = std::collections::BTreeMap::new();
    for p in partitions {
        for r in &p.replicas {
            *hosted.entry(*r).or_insert(0) += 1;
        }
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
        hosted_replicas: hosted,
        finalized_features: std::collections::BTreeMap::new(),
        partitions: Vec::new(),
        cluster_configs: None,
        voters: std::collections::BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidewater_client::{BrokerInfo, PartitionInfo, TopicInfo, Uuid};

    fn partition(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: vec![],
            error_code: 0,
        }
    }

    #[test]
    fn summarises_registration_controller_and_partition_health() {
        let broker = |node_id| BrokerInfo {
            node_id,
            host: "h".into(),
            port: 1,
            rack: None,
        };
        let m = ClusterMetadata {
            cluster_id: Some("c".into()),
            controller_id: 1,
            brokers: vec![broker(0), broker(1)],
            topics: vec![TopicInfo {
                name: "t".into(),
                topic_id: Uuid::nil(),
                is_internal: false,
                error_code: 0,
                partitions: vec![
                    partition(0, 0, &[0, 1], &[0, 1]),
                    partition(1, 1, &[1, 2], &[1]),
                    partition(2, -1, &[2], &[]),
                ],
            }],
        };
        let s = snapshot_of(&m);
        assert_eq!(s.registered, [0, 1].into());
        assert_eq!(s.controller, Some(1));
        assert_eq!(
            (s.offline_partitions, s.under_replicated_partitions),
            (1, 1)
        );
        assert_eq!(s.hosted_replicas, [(0, 1), (1, 2), (2, 2)].into());
        assert_eq!(s.cluster_id.as_deref(), Some("c"));
        let none = snapshot_of(&ClusterMetadata {
            controller_id: -1,
            ..m
        });
        assert_eq!(none.controller, None);
    }

    #[test]
    fn the_active_controller_is_the_quorum_leader() {
        let quorum = |leader_id| {
            Ok(QuorumInfo {
                leader_id,
                leader_epoch: 3,
                high_watermark: 10,
                voters: vec![],
                observers: vec![],
            })
        };
        let error = |code: ResponseError| {
            Err(ClientError::Protocol {
                code: code.code(),
                api: tidewater_client::kafka_protocol::messages::ApiKey::DescribeQuorum,
                message: None,
            })
        };
        // KRaft: Metadata names some broker (0); the quorum leader is 1001.
        assert_eq!(active_controller(Some(0), quorum(Some(1001))), Some(1001));
        assert_eq!(active_controller(Some(0), quorum(None)), None);
        // No quorum at all: Metadata's controller is the controller.
        assert_eq!(
            active_controller(Some(0), error(ResponseError::UnsupportedVersion)),
            Some(0)
        );
        // The quorum unreadable (e.g. controllers unreachable): unknown, not guessed.
        assert_eq!(
            active_controller(Some(0), error(ResponseError::RequestTimedOut)),
            None
        );
    }
}
