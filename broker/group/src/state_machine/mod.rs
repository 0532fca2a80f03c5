//! The sans-IO group coordinator (Kafka's `GroupCoordinator` rules, without the
//! purgatories and scheduler that the tokio shell in `coordinator` runs): every
//! group's state machine driven by requests, timer firings and persistence results,
//! with time passed in as `now_ms`. It never sleeps, spawns or writes; it queues
//! [`Effect`]s (responses for parked JoinGroup / SyncGroup calls, records to append,
//! timers to arm) that the shell carries out.
//!
//! Submodules follow Kafka's handlers: `join`, `sync`, `membership` (heartbeat,
//! leave, expiry), `rebalance` (join/sync phases), `offsets`, `admin` (list,
//! describe, delete), `load` (replaying `__consumer_offsets`) and `ownership` (which
//! partitions this coordinator leads; resigning one).

mod admin;
mod consumer;
mod consumer_describe;
mod consumer_store;
mod consumer_timers;
mod fetch;
mod join;
mod load;
mod membership;
mod offsets;
mod ownership;
mod rebalance;
mod responses;
mod static_member;
mod sync;
mod txn_offsets;

use std::collections::{HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};

use crate::backend::OffsetsRecord;
use crate::config::GroupConfig;
use crate::group::{Group, GroupState};
use crate::partition;
use crate::records::RecordKey;

pub use consumer::HeartbeatArgs;
pub use join::JoinArgs;
pub use load::LoadStats;
pub use membership::LeavingMember;
pub use offsets::{CommitPlan, PendingCommit};
pub use ownership::Unloaded;

pub use sync::SyncArgs;
pub use txn_offsets::{PendingTxnCommit, TxnCommitPlan};

/// The tests' shorthand for the wire codes they expect in responses (the coordinator
/// itself answers with [`ResponseError`]).
#[cfg(test)]
pub(crate) mod code {
    use super::ResponseError as E;
    pub const NONE: i16 = 0;
    pub const UNKNOWN_SERVER_ERROR: i16 = E::UnknownServerError.code();
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = E::UnknownTopicOrPartition.code();
    pub const OFFSET_METADATA_TOO_LARGE: i16 = E::OffsetMetadataTooLarge.code();
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = E::CoordinatorLoadInProgress.code();
    pub const COORDINATOR_NOT_AVAILABLE: i16 = E::CoordinatorNotAvailable.code();
    pub const NOT_COORDINATOR: i16 = E::NotCoordinator.code();
    pub const ILLEGAL_GENERATION: i16 = E::IllegalGeneration.code();
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = E::InconsistentGroupProtocol.code();
    pub const INVALID_GROUP_ID: i16 = E::InvalidGroupId.code();
    pub const UNKNOWN_MEMBER_ID: i16 = E::UnknownMemberId.code();
    pub const INVALID_SESSION_TIMEOUT: i16 = E::InvalidSessionTimeout.code();
    pub const REBALANCE_IN_PROGRESS: i16 = E::RebalanceInProgress.code();
    pub const INVALID_COMMIT_OFFSET_SIZE: i16 = E::InvalidCommitOffsetSize.code();
    pub const NON_EMPTY_GROUP: i16 = E::NonEmptyGroup.code();
    pub const GROUP_ID_NOT_FOUND: i16 = E::GroupIdNotFound.code();
    pub const MEMBER_ID_REQUIRED: i16 = E::MemberIdRequired.code();
    pub const GROUP_MAX_SIZE_REACHED: i16 = E::GroupMaxSizeReached.code();
    pub const FENCED_INSTANCE_ID: i16 = E::FencedInstanceId.code();
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = E::GroupSubscribedToTopic.code();
}

/// A timer the shell arms; when it fires the shell calls [`Core::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// A member's session; fires at its deadline unless heartbeats moved it.
    Session { member_id: String, token: u64 },
    /// A dynamic member told MEMBER_ID_REQUIRED that has not rejoined.
    PendingMember { member_id: String, token: u64 },
    /// The join phase: rebalance timeout or initial rebalance delay.
    Join { token: u64 },
    /// The sync phase: members that never sent SyncGroup are removed.
    Sync { token: u64 },
    /// A consumer-protocol member's session (KIP-848).
    ConsumerSession { member_id: String, token: u64 },
    /// A consumer-protocol member's deadline to revoke partitions (its rebalance timeout).
    ConsumerRevocation { member_id: String, token: u64 },
}

/// What a persisted batch was for, so its result can be fed back.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterPersist {
    /// Fire-and-forget (group metadata after a rebalance, tombstones).
    Nothing,
    /// The leader's assignment of `generation`; members are answered once stored.
    Assignment {
        group: String,
        generation: i32,
        assignment: HashMap<String, bytes::Bytes>,
    },
    /// A static member replaced without a rebalance (KIP-345): its JoinGroup is
    /// answered once the new member id is stored, and the replacement is undone if
    /// the write failed, as in Kafka.
    StaticMemberReplaced(Box<StaticReplacement>),
}

/// What undoing or confirming a static member replacement needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticReplacement {
    pub group: String,
    pub new_member_id: String,
    /// The replaced member as it was, and its place in join order.
    pub previous: crate::group::Member,
    pub index: usize,
    pub response: JoinGroupResponse,
    pub version: i16,
}

/// Work for the shell, in the order it must happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Complete a parked JoinGroup.
    Join {
        group: String,
        member_id: String,
        response: JoinGroupResponse,
    },
    /// Complete a parked SyncGroup.
    Sync {
        group: String,
        member_id: String,
        response: SyncGroupResponse,
    },
    /// Append records to a `__consumer_offsets` partition, then report with
    /// [`Core::on_persisted`].
    Persist {
        partition: i32,
        records: Vec<OffsetsRecord>,
        then: AfterPersist,
    },
    /// Arm a timer for `group`.
    Arm {
        group: String,
        timer: Timer,
        deadline_ms: u64,
    },
}

/// Either an answer now, or the request is parked until an [`Effect`] completes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<R> {
    Now(R),
    Parked { member_id: String },
}

/// All classic groups of this coordinator.
#[derive(Debug)]
pub struct Core {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    /// `__consumer_offsets` partitions being replayed: their groups answer
    /// COORDINATOR_LOAD_IN_PROGRESS.
    loading: HashSet<i32>,
    /// `__consumer_offsets` partitions this coordinator leads and has loaded; groups
    /// of any other partition answer NOT_COORDINATOR.
    owned: HashSet<i32>,
    /// The latest leader epoch of each partition whose leadership change was
    /// applied, so an older one arriving late is ignored.
    leader_epochs: HashMap<i32, i32>,
    /// Transaction markers (producer id, commit) replicated on a partition this
    /// coordinator leads but has not loaded yet: the broker reads the log before it
    /// replays it, so a marker appended in between is in neither the replay nor the
    /// groups. [`Core::load_partition`] applies them after the replay.
    markers_before_load: HashMap<i32, Vec<(i64, bool)>>,
    next_token: u64,
    effects: Vec<Effect>,
}

impl Core {
    /// A single-node coordinator: it leads every `__consumer_offsets` partition from
    /// the start (replaying them with [`Core::load_partition`] is still how groups
    /// come back after a restart).
    pub fn new(config: GroupConfig) -> Self {
        let owned = (0..config.offsets_topic_partitions.max(1)).collect();
        Self::with_owned(config, owned)
    }

    /// A coordinator of a multi-node cluster: it leads no partition until the broker
    /// becomes a partition's leader and calls [`Core::load_partition`] (Kafka's
    /// `onElection`); until then every group answers NOT_COORDINATOR.
    pub fn new_unowned(config: GroupConfig) -> Self {
        Self::with_owned(config, HashSet::new())
    }

    fn with_owned(config: GroupConfig, owned: HashSet<i32>) -> Self {
        Self {
            config,
            groups: HashMap::new(),
            loading: HashSet::new(),
            owned,
            leader_epochs: HashMap::new(),
            markers_before_load: HashMap::new(),
            next_token: 1,
            effects: Vec::new(),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The effects queued since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition::partition_for(group_id, self.config.offsets_topic_partitions)
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn arm(&mut self, group: &str, timer: Timer, deadline_ms: u64) {
        self.effects.push(Effect::Arm {
            group: group.to_owned(),
            timer,
            deadline_ms,
        });
    }

    fn persist(&mut self, group_id: &str, records: Vec<OffsetsRecord>, then: AfterPersist) {
        if records.is_empty() {
            return;
        }
        let partition = self.partition_for(group_id);
        self.effects.push(Effect::Persist {
            partition,
            records,
            then,
        });
    }

    /// Queues the group's metadata record (Kafka's `storeGroup`).
    fn store_group(&mut self, group_id: &str) {
        self.store_group_then(group_id, AfterPersist::Nothing);
    }

    fn store_group_then(&mut self, group_id: &str, then: AfterPersist) {
        if let Some(group) = self.groups.get(group_id) {
            let record = (
                RecordKey::group_metadata(group_id).encode(),
                Some(group.metadata_value().encode()),
            );
            self.persist(group_id, vec![record], then);
        }
    }

    /// Group counts per state, for metrics.
    pub fn counts(&self) -> [(GroupState, usize); 5] {
        let mut out = [
            (GroupState::PreparingRebalance, 0),
            (GroupState::CompletingRebalance, 0),
            (GroupState::Stable, 0),
            (GroupState::Dead, 0),
            (GroupState::Empty, 0),
        ];
        for group in self.groups.values() {
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == group.state) {
                slot.1 += 1;
            }
        }
        out
    }
}

/// Kafka's mapping of a failed group-metadata append to the client's error.
pub(crate) fn store_group_error(append_error: ResponseError) -> ResponseError {
    use ResponseError as E;
    match append_error {
        E::UnknownTopicOrPartition
        | E::NotEnoughReplicas
        | E::NotEnoughReplicasAfterAppend
        | E::RequestTimedOut => E::CoordinatorNotAvailable,
        E::NotLeaderOrFollower | E::KafkaStorageError => E::NotCoordinator,
        E::MessageTooLarge | E::RecordListTooLarge | E::InvalidFetchSize => E::UnknownServerError,
        other => other,
    }
}

/// Kafka's mapping of a failed offset-commit append to the client's error.
pub(crate) fn store_offsets_error(append_error: ResponseError) -> ResponseError {
    use ResponseError as E;
    match append_error {
        E::MessageTooLarge | E::RecordListTooLarge | E::InvalidFetchSize => {
            E::InvalidCommitOffsetSize
        }
        _ => store_group_error(append_error),
    }
}

#[cfg(test)]
mod tests;

/// A JoinGroup error response shaped for `version` (for the shell's own errors).
pub fn join_error_response(
    error: ResponseError,
    member_id: &str,
    version: i16,
) -> JoinGroupResponse {
    responses::join_error(error, member_id, version)
}
