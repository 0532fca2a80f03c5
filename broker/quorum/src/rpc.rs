//! The broker-to-controller calls (KRaft's BrokerRegistration, BrokerHeartbeat,
//! AlterPartition, CreateTopics, ... sent to the active controller), their replies and
//! failures, and the metadata-fetch reply observers follow the log with.
//!
//! These are plain data: they travel as JSON inside the controller listener's frames
//! (see `raft::wire`). Running a call is `service::QuorumController::handle`; sending
//! one is [`crate::controller_client::ControllerClient`]. Every failure carries the exact Kafka
//! error code a Java client would see for the same refusal.

use serde::{Deserialize, Serialize};

use crate::acl::{AclBinding, AclBindingFilter};
use crate::controller::{
    AclDeleteResult, AclResult, AlterPartition, BrokerHeartbeat, BrokerRegistrationRequest,
    ControllerError, CreateTopic, ElectionType, FeatureUpdate, HeartbeatReply, OngoingReassignment,
    ScramAlterResult,
};
use crate::image::{MetadataImage, TopicImage};
use crate::records::{
    ConfigResourceType, MetadataRecord, PartitionRecord, TopicId, UserScramCredential,
};

/// Kafka error codes used by the RPC layer itself (`Errors.java`).
pub mod codes {
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const NOT_CONTROLLER: i16 = 41;
    pub const INCONSISTENT_CLUSTER_ID: i16 = 104;
}

/// One request to the active controller; each is one serialized controller decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerCall {
    /// -> [`ControllerReply::BrokerEpoch`].
    RegisterBroker(BrokerRegistrationRequest),
    /// -> [`ControllerReply::Heartbeat`].
    Heartbeat(BrokerHeartbeat),
    /// -> [`ControllerReply::Done`].
    UnregisterBroker { broker_id: i32 },
    /// -> [`ControllerReply::Partition`]: the partition state after the change.
    AlterPartition(AlterPartition),
    /// Every pending ISR change of one leader, decided as one metadata log entry ->
    /// [`ControllerReply::Partitions`], one result per request in request order.
    AlterPartitions(Vec<AlterPartition>),
    /// -> [`ControllerReply::Topic`]; with `validate_only`, what would be created.
    CreateTopic {
        topic: CreateTopic,
        validate_only: bool,
    },
    /// -> [`ControllerReply::TopicId`] of the deleted topic.
    DeleteTopic { name: String },
    /// -> [`ControllerReply::TopicId`].
    DeleteTopicById { topic_id: TopicId },
    /// -> [`ControllerReply::Done`].
    CreatePartitions {
        topic: String,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    },
    /// -> [`ControllerReply::Done`]; `ops` are (key, Some(value)) sets and (key, None) deletes.
    IncrementalAlterConfigs {
        resource_type: ConfigResourceType,
        resource_name: String,
        ops: Vec<(String, Option<String>)>,
        validate_only: bool,
    },
    /// -> [`ControllerReply::Done`]; `target: None` cancels.
    AlterPartitionReassignment {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
    },
    /// -> [`ControllerReply::Reassignments`].
    ListPartitionReassignments,
    /// -> [`ControllerReply::Done`].
    ElectLeader {
        topic: String,
        partition: i32,
        election: ElectionType,
    },
    /// -> [`ControllerReply::Done`]: a leader handing partitions over (4.1-IV0) has
    /// stopped appending on each and each target holds its log; every partition the
    /// leader has ready goes in one call, decided as one metadata log entry (one call
    /// per partition committed the elections one after another: a roll's finalize turned
    /// ~70 partitions into handoffs at once and the last waited over a second).
    CompleteLeaderHandoffs {
        /// (topic id, partition, the leader epoch it is handed over at).
        partitions: Vec<(TopicId, i32, i32)>,
    },
    /// Every partition of one ElectLeaders request, decided as one metadata log entry ->
    /// [`ControllerReply::Elections`], one result per partition in request order.
    ElectLeaders {
        partitions: Vec<(String, i32)>,
        election: ElectionType,
    },
    /// -> [`ControllerReply::Done`].
    UpdateFeatures {
        updates: Vec<FeatureUpdate>,
        validate_only: bool,
    },
    /// -> [`ControllerReply::Quorum`].
    DescribeQuorum,
    /// AlterUserScramCredentials: `deletions` are (user, mechanism type); upsertions
    /// carry the keys the broker derived -> [`ControllerReply::ScramResults`].
    AlterUserScramCredentials {
        deletions: Vec<(String, i8)>,
        upsertions: Vec<UserScramCredential>,
    },
    /// CreateAcls: each ACL with a fresh random id -> [`ControllerReply::AclResults`].
    CreateAcls { creations: Vec<(u128, AclBinding)> },
    /// DeleteAcls -> [`ControllerReply::AclDeleteResults`].
    DeleteAcls { filters: Vec<AclBindingFilter> },
    /// KIP-853 AddRaftVoter: controller `voter_id`, listening on `endpoint`
    /// (`host:port`), becomes a voter once caught up -> [`ControllerReply::Done`].
    AddVoter { voter_id: i32, endpoint: String },
    /// KIP-853 RemoveRaftVoter -> [`ControllerReply::Done`].
    RemoveVoter { voter_id: i32 },
}

/// The successful outcome of a [`ControllerCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    Done,
    BrokerEpoch(i64),
    Heartbeat(HeartbeatReply),
    Partition(PartitionRecord),
    Partitions(Vec<Result<PartitionRecord, ControllerFailure>>),
    Elections(Vec<Result<(), ControllerFailure>>),
    Topic(TopicImage),
    TopicId(TopicId),
    Reassignments(Vec<OngoingReassignment>),
    Quorum(QuorumInfo),
    ScramResults(Vec<ScramAlterResult>),
    AclResults(Vec<AclResult>),
    AclDeleteResults(Vec<AclDeleteResult>),
}

/// A refusal or failure, with the exact Kafka error code (NOT_CONTROLLER=41 when no
/// leader could be reached in time, REQUEST_TIMED_OUT=7, the ControllerError's code...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (error code {error_code})")]
pub struct ControllerFailure {
    pub error_code: i16,
    pub message: String,
}

/// The marker after which a NOT_CONTROLLER message names the leader, so a client can
/// go straight there (the reply shape has no separate field for it).
const LEADER_HINT: &str = "leader is ";
/// The marker after which a NOT_CONTROLLER message names the leader's endpoint.
const ENDPOINT_HINT: &str = " at ";

impl ControllerFailure {
    pub fn new(error_code: i16, message: impl Into<String>) -> Self {
        Self {
            error_code,
            message: message.into(),
        }
    }

    /// NOT_CONTROLLER from `node`, naming the leader it knows of (if any).
    pub fn not_controller(node: u64, leader: Option<u64>) -> Self {
        Self::not_controller_at(node, leader, None)
    }

    /// NOT_CONTROLLER naming the leader and its controller endpoint, so a client that
    /// was not configured with that controller (one added by AddRaftVoter) reaches it.
    pub fn not_controller_at(node: u64, leader: Option<u64>, endpoint: Option<&str>) -> Self {
        let message = match (leader, endpoint) {
            (Some(l), Some(at)) => format!(
                "node {node} is not the active controller; {LEADER_HINT}{l}{ENDPOINT_HINT}{at}"
            ),
            (Some(l), None) => {
                format!("node {node} is not the active controller; {LEADER_HINT}{l}")
            }
            (None, _) => format!("node {node} is not the active controller; no leader is known"),
        };
        Self::new(codes::NOT_CONTROLLER, message)
    }

    /// The leader named by a NOT_CONTROLLER failure.
    pub fn leader_hint(&self) -> Option<i32> {
        if self.error_code != codes::NOT_CONTROLLER {
            return None;
        }
        let (_, hint) = self.message.rsplit_once(LEADER_HINT)?;
        let id = hint.split_once(ENDPOINT_HINT).map_or(hint, |(id, _)| id);
        id.trim().parse().ok()
    }

    /// The leader's controller endpoint (`host:port`) named by a NOT_CONTROLLER failure.
    pub fn leader_endpoint(&self) -> Option<&str> {
        if self.error_code != codes::NOT_CONTROLLER {
            return None;
        }
        let (_, at) = self.message.rsplit_once(ENDPOINT_HINT)?;
        Some(at.trim()).filter(|a| !a.is_empty())
    }

    /// Failures a client retries against another controller until its deadline: the
    /// request was refused before the controller decided anything.
    pub fn is_retriable(&self) -> bool {
        self.error_code == codes::NOT_CONTROLLER
    }
}

impl From<&ControllerError> for ControllerFailure {
    fn from(e: &ControllerError) -> Self {
        Self::new(e.error_code(), e.to_string())
    }
}

/// DescribeQuorum's answer (Kafka's `DescribeQuorumResponse` partition data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumInfo {
    /// -1 when no leader is known.
    pub leader_id: i32,
    /// The raft term.
    pub leader_epoch: i32,
    /// The committed log index.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    /// Broker-only nodes that fetched metadata from the leader recently, and
    /// controllers being added (learners catching up).
    pub observers: Vec<ReplicaProgress>,
    /// Each voter's controller endpoint (`host:port`) from the raft membership, so
    /// voters added with AddRaftVoter are described too. Empty from older nodes.
    #[serde(default)]
    pub endpoints: Vec<(i32, String)>,
}

/// One replica of the metadata log, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    /// Next offset to fetch: the replica's last log index + 1, -1 unknown (Kafka's
    /// `logEndOffset`).
    pub log_end_offset: i64,
    /// -1 when unknown.
    pub last_fetch_ms_ago: i64,
}

/// A FetchMetadata answer: the applied entries after the requested index, in order,
/// or the whole image when the voter no longer holds those entries in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataDelta {
    /// (log index, records) per entry; an entry without records (a raft leader change or
    /// membership entry) still advances the image's offset.
    Entries(Vec<(u64, Vec<MetadataRecord>)>),
    /// Boxed: an image is far larger than a list of entries (serialized the same).
    Image(Box<MetadataImage>),
}

impl MetadataDelta {
    /// Applies this delta to an observer's `image`; entries it already holds are
    /// skipped and an older image is ignored, so the image never moves backwards.
    /// Returns whether the image changed.
    pub fn apply_to(self, image: &mut MetadataImage) -> bool {
        match self {
            Self::Entries(entries) => {
                let mut changed = false;
                for (index, records) in entries {
                    if index > image.offset {
                        image.apply_entry(index, &records);
                        changed = true;
                    }
                }
                changed
            }
            Self::Image(new) if new.offset > image.offset || image.offset == 0 => {
                let changed = *image != *new;
                *image = *new;
                changed
            }
            Self::Image(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_controller_names_the_leader() {
        let f = ControllerFailure::not_controller(1, Some(3));
        assert_eq!(f.error_code, 41);
        assert_eq!(f.leader_hint(), Some(3));
        assert!(f.is_retriable());
        assert_eq!(
            ControllerFailure::not_controller(1, None).leader_hint(),
            None
        );
        let other = ControllerFailure::new(3, "leader is 2");
        assert_eq!(
            other.leader_hint(),
            None,
            "only NOT_CONTROLLER carries a hint"
        );
        assert!(!other.is_retriable());
    }

    #[test]
    fn not_controller_names_the_leaders_endpoint_when_known() {
        let f = ControllerFailure::not_controller_at(1, Some(4), Some("[::1]:9093"));
        assert_eq!(f.leader_hint(), Some(4));
        assert_eq!(f.leader_endpoint(), Some("[::1]:9093"));
        let f = ControllerFailure::not_controller(1, Some(4));
        assert_eq!((f.leader_hint(), f.leader_endpoint()), (Some(4), None));
        let f = ControllerFailure::not_controller_at(1, None, Some("h:1"));
        assert_eq!((f.leader_hint(), f.leader_endpoint()), (None, None));
    }

    #[test]
    fn calls_round_trip_through_json() {
        let call = ControllerCall::CreateTopic {
            topic: CreateTopic {
                name: "t".into(),
                topic_id: u128::MAX - 5,
                num_partitions: 3,
                replication_factor: 2,
                assignments: [(0, vec![1, 2])].into(),
                configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
            },
            validate_only: true,
        };
        let json = serde_json::to_vec(&call).unwrap();
        assert_eq!(
            serde_json::from_slice::<ControllerCall>(&json).unwrap(),
            call
        );
        let reply: Result<ControllerReply, ControllerFailure> =
            Err(ControllerFailure::new(36, "exists"));
        let json = serde_json::to_vec(&reply).unwrap();
        let back: Result<ControllerReply, ControllerFailure> =
            serde_json::from_slice(&json).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn deltas_never_move_an_image_backwards() {
        let mut image = MetadataImage::default();
        let topic = MetadataRecord::Topic {
            name: "t".into(),
            topic_id: 9,
        };
        assert!(
            MetadataDelta::Entries(vec![(1, vec![topic.clone()]), (2, vec![])])
                .apply_to(&mut image)
        );
        assert_eq!(image.offset, 2);
        assert!(image.topic("t").is_some());
        // Replayed entries are skipped, an older image is ignored.
        assert!(!MetadataDelta::Entries(vec![(1, vec![topic])]).apply_to(&mut image));
        assert!(!MetadataDelta::Image(Box::default()).apply_to(&mut image));
        assert_eq!(image.offset, 2);
        let newer = MetadataImage {
            offset: 7,
            ..MetadataImage::default()
        };
        assert!(MetadataDelta::Image(Box::new(newer.clone())).apply_to(&mut image));
        assert_eq!(image, newer);
    }
}
