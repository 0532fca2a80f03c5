//! Errors at this crate's boundary and the Kafka error codes they map to.
//!
//! Protocol-level outcomes (a fenced epoch, an out-of-range fetch, a produce that did
//! not reach enough replicas) are data for the caller to put into a response, so each
//! carries the exact Kafka error code a Java client would get.

use thiserror::Error;

/// Kafka error codes used by replication (see Kafka's `Errors` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    pub const NONE: Self = Self(0);
    pub const OFFSET_OUT_OF_RANGE: Self = Self(1);
    pub const UNKNOWN_TOPIC_OR_PARTITION: Self = Self(3);
    pub const NOT_LEADER_OR_FOLLOWER: Self = Self(6);
    pub const REQUEST_TIMED_OUT: Self = Self(7);
    pub const NOT_ENOUGH_REPLICAS: Self = Self(19);
    pub const INVALID_REQUEST: Self = Self(42);
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: Self = Self(20);
    pub const OPERATION_NOT_ATTEMPTED: Self = Self(55);
    pub const FENCED_LEADER_EPOCH: Self = Self(74);
    pub const UNKNOWN_LEADER_EPOCH: Self = Self(75);
    pub const STALE_BROKER_EPOCH: Self = Self(77);
    pub const INVALID_UPDATE_VERSION: Self = Self(95);
    pub const INELIGIBLE_REPLICA: Self = Self(107);
    pub const NEW_LEADER_ELECTED: Self = Self(108);
}

/// A replication request that cannot be served; each maps to one Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplicaError {
    #[error("offset {offset} is outside the log range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("replica {0} is not in the replica set of this partition")]
    NotLeaderOrFollower(crate::ReplicaId),
    #[error("request leader epoch {request} is older than the current leader epoch {current}")]
    FencedLeaderEpoch { request: i32, current: i32 },
    #[error("request leader epoch {request} is newer than the current leader epoch {current}")]
    UnknownLeaderEpoch { request: i32, current: i32 },
    #[error("broker epoch {request} of replica {replica} is older than the registered {current}")]
    StaleBrokerEpoch {
        replica: crate::ReplicaId,
        request: i64,
        current: i64,
    },
    #[error("in-sync replicas {isr} are fewer than min.insync.replicas {min_isr}")]
    NotEnoughReplicas { isr: usize, min_isr: usize },
    #[error("written, but to {isr} in-sync replicas, fewer than min.insync.replicas {min_isr}")]
    NotEnoughReplicasAfterAppend { isr: usize, min_isr: usize },
    #[error("the ISR did not reach offset {required_offset} within the request timeout")]
    RequestTimedOut { required_offset: i64 },
    #[error("this replica is no longer the leader")]
    NoLongerLeader,
}

impl ReplicaError {
    /// The Kafka error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
            Self::NotLeaderOrFollower(_) | Self::NoLongerLeader => {
                ErrorCode::NOT_LEADER_OR_FOLLOWER
            }
            Self::FencedLeaderEpoch { .. } => ErrorCode::FENCED_LEADER_EPOCH,
            Self::UnknownLeaderEpoch { .. } => ErrorCode::UNKNOWN_LEADER_EPOCH,
            Self::StaleBrokerEpoch { .. } => ErrorCode::STALE_BROKER_EPOCH,
            Self::NotEnoughReplicas { .. } => ErrorCode::NOT_ENOUGH_REPLICAS,
            Self::NotEnoughReplicasAfterAppend { .. } => {
                ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
            }
            Self::RequestTimedOut { .. } => ErrorCode::REQUEST_TIMED_OUT,
        }
    }
}

/// Invalid input to the leader-epoch cache (a corrupt checkpoint or a caller bug).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EpochCacheError {
    #[error("leader epoch {epoch} with start offset {start_offset} is negative")]
    Negative { epoch: i32, start_offset: i64 },
    #[error("epoch entries are not monotonic: {previous:?} then {next:?}")]
    NotMonotonic {
        previous: (i32, i64),
        next: (i32, i64),
    },
}

/// Invalid replication quota configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuotaConfigError {
    #[error("replication.quota.window.num must be at least 1, got {0}")]
    WindowNum(u32),
    #[error("replication.quota.window.size.seconds must be at least 1, got {0}")]
    WindowSize(u32),
    #[error("invalid throttled replica '{0}': expected '*' or 'partitionId:brokerId' pairs")]
    ThrottledReplicas(String),
}
