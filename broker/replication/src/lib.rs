//! Replica state machines for one partition, without IO: the leader's view of its
//! followers (high watermark, ISR changes, acks=all completion), the follower's fetch
//! and truncation decisions, leader-epoch bookkeeping, replication throttles and the
//! KIP-392 rack-aware replica selector.
//!
//! Nothing here reads a clock, a disk or a socket: time is a `now_ms` argument, the log
//! is described to the state machines by its offsets and its [`LeaderEpochCache`], and
//! requests the caller must send (AlterPartition, Fetch, OffsetForLeaderEpoch) are
//! returned as values. Kafka's `Partition`, `ReplicaManager`, `AbstractFetcherThread`,
//! `LeaderEpochFileCache`, `ReplicationQuotaManager` and `RackAwareReplicaSelector` are
//! the reference for every rule.

pub mod epoch_cache;
pub mod error;
pub mod follower;
pub mod leader;
pub mod quota;
pub mod selector;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::{EpochCacheError, ErrorCode, QuotaConfigError, ReplicaError};
pub use follower::{
    FetchPartitionResponse, FollowerAction, FollowerInit, FollowerRequest, FollowerState,
};
pub use leader::{
    AlterPartitionRequest, AlterPartitionResponse, CommittedPartition, FetchKind, FollowerFetch,
    FollowerView, LeaderConfig, LeaderFetchResponse, LeaderInit, LeaderState, ProduceCompletion,
};
pub use quota::{ReplicationQuota, ReplicationQuotaConfig, SampledRate, ThrottledReplicas};
pub use selector::{RackAwareReplicaSelector, ReplicaView, compare_views};

/// A broker id, as Kafka's `int32 ReplicaId`.
pub type ReplicaId = i32;

/// Kafka's `UNDEFINED_EPOCH`: no leader epoch is known.
pub const UNDEFINED_EPOCH: i32 = -1;

/// Kafka's `UNDEFINED_EPOCH_OFFSET`: no end offset is known for the requested epoch.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Kafka's `UnifiedLog.UnknownOffset`: a follower whose position the leader has not
/// yet learned (a new leader knows nothing about its followers until they fetch).
pub const UNKNOWN_OFFSET: i64 = -1;
