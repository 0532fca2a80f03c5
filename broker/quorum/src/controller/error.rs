//! The controller's refusal reasons, each mapped to the Kafka error code a Java client
//! would receive for the same refusal (codes from Kafka's `Errors.java`).

use crate::records::TopicId;

/// Why the controller refused a request; no records are written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    #[error("{0}")]
    UnsupportedVersion(String),
    #[error("broker {0} is not registered")]
    BrokerNotRegistered(i32),
    #[error("broker {broker_id} epoch {got} is stale (current epoch {current})")]
    StaleBrokerEpoch {
        broker_id: i32,
        current: i64,
        got: i64,
    },
    #[error("broker {0} is already registered with another incarnation that is still alive")]
    DuplicateBrokerRegistration(i32),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    #[error("unknown topic id {0:032x}")]
    UnknownTopicId(TopicId),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("leader epoch {got} is older than the current leader epoch {current}")]
    FencedLeaderEpoch { current: i32, got: i32 },
    #[error("{0}")]
    NotController(String),
    #[error("{0}")]
    InvalidUpdateVersion(String),
    #[error("{0}")]
    IneligibleReplica(String),
    #[error("leader election not needed for {0}")]
    ElectionNotNeeded(String),
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    #[error("no partition reassignment is in progress for {0}")]
    NoReassignmentInProgress(String),
}

impl ControllerError {
    /// The Kafka protocol error code for this refusal.
    pub fn error_code(&self) -> i16 {
        match self {
            Self::UnknownTopicOrPartition(_) => 3,
            Self::InvalidTopic(_) => 17,
            Self::UnsupportedVersion(_) => 35,
            Self::TopicAlreadyExists(_) => 36,
            Self::InvalidPartitions(_) => 37,
            Self::InvalidReplicationFactor(_) => 38,
            Self::InvalidReplicaAssignment(_) => 39,
            Self::InvalidConfig(_) => 40,
            Self::NotController(_) => 41,
            Self::InvalidRequest(_) => 42,
            Self::FencedLeaderEpoch { .. } => 74,
            Self::StaleBrokerEpoch { .. } => 77,
            Self::PreferredLeaderNotAvailable(_) => 80,
            Self::EligibleLeadersNotAvailable(_) => 83,
            Self::ElectionNotNeeded(_) => 84,
            Self::NoReassignmentInProgress(_) => 85,
            Self::InvalidUpdateVersion(_) => 95,
            Self::UnknownTopicId(_) => 100,
            Self::DuplicateBrokerRegistration(_) => 101,
            Self::BrokerNotRegistered(_) => 102,
            Self::IneligibleReplica(_) => 107,
        }
    }
}
