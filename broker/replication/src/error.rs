//! Errors at this crate's boundary and the Kafka error codes they map to.
//!
//! Protocol-level outcomes (a fenced epoch, an out-of-range fetch, a produce that did
//! not reach enough replicas) are data for the caller to put into a response, so each
//! carries the exact Kafka error code a Java client would get, as kafka-protocol's
//! [`ResponseError`] (the one error-code type of every Tidewater crate).

use kafka_protocol::ResponseError;
use thiserror::Error;

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
    /// The Kafka error for this failure.
    pub fn error(&self) -> ResponseError {
        match self {
            Self::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            Self::NotLeaderOrFollower(_) | Self::NoLongerLeader => {
                ResponseError::NotLeaderOrFollower
            }
            Self::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            Self::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
            Self::StaleBrokerEpoch { .. } => ResponseError::StaleBrokerEpoch,
            Self::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            Self::NotEnoughReplicasAfterAppend { .. } => {
                ResponseError::NotEnoughReplicasAfterAppend
            }
            Self::RequestTimedOut { .. } => ResponseError::RequestTimedOut,
        }
    }

    /// The code for the response's `error_code` field.
    pub fn code(&self) -> i16 {
        self.error().code()
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
