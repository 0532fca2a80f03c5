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
//!
//! How a broker drives one partition (leader on broker 1, follower on broker 2):
//!
//! ```
//! use tidewater_replication::*;
//!
//! // Leader: made leader of epoch 1 with an empty log; the epoch cache gets (1, 0).
//! let mut leader_epochs = LeaderEpochCache::new();
//! let init = LeaderInit {
//!     local_id: 1, leader_epoch: 1, partition_epoch: 0, replicas: vec![1, 2], isr: vec![1, 2],
//!     log_start_offset: 0, log_end_offset: 0, high_watermark: 0,
//! };
//! let config = LeaderConfig { min_insync_replicas: 2, ..LeaderConfig::default() };
//! let mut leader = LeaderState::new(init, config, &mut leader_epochs, 0)?;
//!
//! // An acks=all produce of 3 records: check, append to the log, park the request.
//! leader.check_produce(true)?;
//! leader.on_leader_append(3, 1);
//! leader.await_acks(42, 3, 30_000, 1);
//!
//! // Follower: fetches from offset 0; the leader serves [0, 3).
//! let epochs = LeaderEpochCache::new();
//! let init = FollowerInit {
//!     local_id: 2, broker_epoch: 7, leader_id: 1, leader_epoch: 1, high_watermark: 0,
//!     truncation_on_fetch: true,
//! };
//! let mut follower = FollowerState::new(init, &epochs, 0);
//! let FollowerRequest::TruncateToHighWatermark { offset: 0 } = follower.next_request(&epochs, 0, 0)
//! else { unreachable!("an empty log has no epochs to validate") };
//! follower.on_truncated_to_high_watermark();
//! let FollowerRequest::Fetch(fetch) = follower.next_request(&epochs, 0, 0) else { unreachable!() };
//! let served = leader.on_fetch(&fetch, &leader_epochs, 2)?;
//! assert_eq!(served.kind, FetchKind::Records { fetch_offset: 0 });
//!
//! // The follower appends the 3 records and fetches again from 3: now the ISR has them.
//! leader.on_fetch(&FollowerFetch { fetch_offset: 3, last_fetched_epoch: Some(1), ..fetch }, &leader_epochs, 3)?;
//! assert_eq!(leader.high_watermark(), 3);
//! let done = leader.take_completions();
//! assert_eq!((done[0].request_id, done[0].result.clone()), (42, Ok(())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod epoch_cache;
pub mod error;
pub mod follower;
pub mod leader;
pub mod quota;
pub mod selector;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::{EpochCacheError, QuotaConfigError, ReplicaError};
pub use follower::{
    FetchPartitionResponse, FollowerAction, FollowerInit, FollowerRequest, FollowerState,
    LeaderOffsets,
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
