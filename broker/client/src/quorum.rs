//! The KRaft metadata quorum as DescribeQuorum (KIP-595, KIP-836) reports it, without
//! IO: who leads `__cluster_metadata`, in which epoch, and how far each voter and
//! observer has replicated. What `kafka-metadata-quorum.sh describe --status` prints.
//!
//! In KRaft mode the `controller_id` of a Metadata answer is not the active controller
//! (Kafka returns some alive broker for clients to send controller requests to); the
//! quorum leader is only learned here.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::ClientError;

/// The metadata log every KRaft node replicates.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// One voter or observer of the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Node id.
    pub replica_id: i32,
    /// Its log end offset as the leader last saw it (-1 when unknown).
    pub log_end_offset: i64,
}

/// The quorum as its leader describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// Node id of the active controller; `None` during an election.
    pub leader_id: Option<i32>,
    /// Epoch of that leadership.
    pub leader_epoch: i32,
    /// High watermark of the metadata log.
    pub high_watermark: i64,
    /// Voters, as listed by the leader.
    pub voters: Vec<QuorumReplica>,
    /// Observers (brokers that follow the log without voting).
    pub observers: Vec<QuorumReplica>,
}

/// The request for partition 0 of `__cluster_metadata`, the only one Kafka accepts.
pub fn describe_quorum_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(CLUSTER_METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ])
}

impl QuorumInfo {
    /// Reads a DescribeQuorum answer: the top-level and the partition error codes become
    /// `ClientError::Protocol`; an answer without the metadata partition is a decode
    /// error.
    pub fn from_response(resp: &DescribeQuorumResponse) -> Result<QuorumInfo, ClientError> {
        let message = |m: &Option<StrBytes>| m.as_ref().map(|m| m.to_string());
        ClientError::check(
            resp.error_code,
            ApiKey::DescribeQuorum,
            message(&resp.error_message),
        )?;
        let partition = resp
            .topics
            .iter()
            .filter(|t| t.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::DescribeQuorum,
                version: -1,
                reason: format!("response has no {CLUSTER_METADATA_TOPIC}-0"),
            })?;
        ClientError::check(
            partition.error_code,
            ApiKey::DescribeQuorum,
            message(&partition.error_message),
        )?;
        let replicas =
            |list: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
                list.iter()
                    .map(|r| QuorumReplica {
                        replica_id: r.replica_id.0,
                        log_end_offset: r.log_end_offset,
                    })
                    .collect()
            };
        Ok(QuorumInfo {
            leader_id: (partition.leader_id.0 >= 0).then_some(partition.leader_id.0),
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters: replicas(&partition.current_voters),
            observers: replicas(&partition.observers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::describe_quorum_response::{
        PartitionData as RespPartition, ReplicaState, TopicData as RespTopic,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn replica(id: i32, leo: i64) -> ReplicaState {
        ReplicaState::default()
            .with_replica_id(BrokerId(id))
            .with_log_end_offset(leo)
    }

    fn response(topic: &'static str, partition: RespPartition) -> DescribeQuorumResponse {
        DescribeQuorumResponse::default().with_topics(vec![
            RespTopic::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(vec![partition]),
        ])
    }

    fn leader(id: i32) -> RespPartition {
        RespPartition::default()
            .with_leader_id(BrokerId(id))
            .with_leader_epoch(4)
            .with_high_watermark(120)
            .with_current_voters(vec![
                replica(1000, 120),
                replica(1001, 118),
                replica(1002, 120),
            ])
            .with_observers(vec![replica(0, 120)])
    }

    #[test]
    fn reads_leader_voters_and_observers_through_the_codec() {
        for version in [0, 1, 2] {
            let mut buf = bytes::BytesMut::new();
            response(CLUSTER_METADATA_TOPIC, leader(1001))
                .encode(&mut buf, version)
                .unwrap();
            let resp = DescribeQuorumResponse::decode(&mut buf.freeze(), version).unwrap();
            let q = QuorumInfo::from_response(&resp).unwrap();
            assert_eq!(q.leader_id, Some(1001), "v{version}");
            assert_eq!((q.leader_epoch, q.high_watermark), (4, 120));
            let voters: Vec<i32> = q.voters.iter().map(|r| r.replica_id).collect();
            assert_eq!(voters, [1000, 1001, 1002]);
            assert_eq!(q.voters[1].log_end_offset, 118);
            assert_eq!(
                q.observers,
                [QuorumReplica {
                    replica_id: 0,
                    log_end_offset: 120
                }]
            );
        }
    }

    #[test]
    fn no_leader_during_an_election() {
        let q = QuorumInfo::from_response(&response(CLUSTER_METADATA_TOPIC, leader(-1))).unwrap();
        assert_eq!(q.leader_id, None);
    }

    #[test]
    fn errors_carry_kafka_codes() {
        let top =
            DescribeQuorumResponse::default().with_error_code(ResponseError::NotController.code());
        let err = QuorumInfo::from_response(&top).unwrap_err();
        assert_eq!(err.kafka_error(), Some(ResponseError::NotController));
        let part = response(
            CLUSTER_METADATA_TOPIC,
            leader(1).with_error_code(ResponseError::NotLeaderOrFollower.code()),
        );
        let err = QuorumInfo::from_response(&part).unwrap_err();
        assert_eq!(err.kafka_error(), Some(ResponseError::NotLeaderOrFollower));
        let other = response("orders", leader(1));
        assert!(matches!(
            QuorumInfo::from_response(&other),
            Err(ClientError::Decode { .. })
        ));
    }

    #[test]
    fn asks_for_the_metadata_partition() {
        let req = describe_quorum_request();
        assert_eq!(req.topics.len(), 1);
        assert_eq!(req.topics[0].topic_name.0.as_str(), CLUSTER_METADATA_TOPIC);
        assert_eq!(req.topics[0].partitions[0].partition_index, 0);
    }
}
