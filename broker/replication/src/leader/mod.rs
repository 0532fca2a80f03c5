//! `LeaderState`: one partition's leader-side replica state (the leader half of Kafka's
//! `Partition`). It owns the ISR and its pending changes, the followers' fetch positions,
//! the high watermark and the acks=all purgatory.
//!
//! It does not own the log: the caller appends records and reports the new log end
//! offset, passes the log's [`LeaderEpochCache`] to fetch handling, sends the
//! AlterPartition requests it returns and delivers the controller's answers.

mod fetch;
mod isr;
mod produce;
mod replica;

use std::collections::{BTreeMap, BTreeSet};

pub use fetch::{FetchKind, FollowerFetch, LeaderFetchResponse};
pub use isr::{AlterPartitionRequest, AlterPartitionResponse, CommittedPartition};
pub use produce::ProduceCompletion;
pub use replica::FollowerView;

use isr::IsrState;
use produce::PendingProduces;

use crate::ReplicaId;
use crate::epoch_cache::LeaderEpochCache;
use crate::error::{EpochCacheError, ReplicaError};

/// Broker and topic configs the leader obeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    /// `replica.lag.time.max.ms` (default 30000).
    pub replica_lag_time_max_ms: u64,
    /// `min.insync.replicas` (default 1).
    pub min_insync_replicas: usize,
    /// Hold the high watermark until it covers a record of the leader's own epoch (the
    /// KRaft rule). Kafka's partition leaders do not do this (off by default); with it on,
    /// records committed in an earlier epoch stay invisible until the new leader writes.
    pub require_current_epoch_commit: bool,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
            require_current_epoch_commit: false,
        }
    }
}

/// What the controller told this broker when it made it leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInit {
    pub local_id: ReplicaId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The assigned replicas, leader included.
    pub replicas: Vec<ReplicaId>,
    pub isr: Vec<ReplicaId>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// The high watermark this replica had as a follower (or from its checkpoint).
    pub high_watermark: i64,
}

/// Registration state of a broker, from the cluster metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Registration {
    broker_epoch: i64,
    fenced: bool,
}

/// The leader-side state of one partition.
#[derive(Debug, Clone)]
pub struct LeaderState {
    config: LeaderConfig,
    local_id: ReplicaId,
    leader_epoch: i32,
    partition_epoch: i32,
    /// The log end offset when this epoch began: followers must reach it to join the ISR.
    leader_epoch_start_offset: i64,
    replicas: Vec<ReplicaId>,
    isr: IsrState,
    followers: BTreeMap<ReplicaId, FollowerView>,
    registrations: BTreeMap<ReplicaId, Registration>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    produces: PendingProduces,
    completions: Vec<ProduceCompletion>,
    /// A freshly prepared AlterPartition not yet handed to the caller.
    unsent_alter: Option<AlterPartitionRequest>,
    next_request_id: u64,
    /// When [`Self::tick`] next looks for followers to drop from the ISR.
    next_shrink_check_ms: u64,
}

impl LeaderState {
    /// Kafka's `makeLeader`: records the new epoch in the log's epoch cache at the
    /// current log end offset and forgets every follower position.
    pub fn new(
        init: LeaderInit,
        config: LeaderConfig,
        epochs: &mut LeaderEpochCache,
        now_ms: u64,
    ) -> Result<Self, EpochCacheError> {
        epochs.assign(init.leader_epoch, init.log_end_offset)?;
        let isr: BTreeSet<ReplicaId> = init.isr.iter().copied().chain([init.local_id]).collect();
        let followers = init
            .replicas
            .iter()
            .filter(|&&id| id != init.local_id)
            .map(|&id| (id, FollowerView::new_for_leader(isr.contains(&id), now_ms)))
            .collect();
        let mut state = Self {
            config,
            local_id: init.local_id,
            leader_epoch: init.leader_epoch,
            partition_epoch: init.partition_epoch,
            leader_epoch_start_offset: init.log_end_offset,
            replicas: init.replicas,
            isr: IsrState::Committed { isr },
            followers,
            registrations: BTreeMap::new(),
            log_start_offset: init.log_start_offset,
            log_end_offset: init.log_end_offset,
            // min/max rather than clamp: a bad init (start > end) must not panic.
            high_watermark: init
                .high_watermark
                .min(init.log_end_offset)
                .max(init.log_start_offset.min(init.log_end_offset)),
            produces: PendingProduces::default(),
            completions: Vec::new(),
            unsent_alter: None,
            next_shrink_check_ms: 0,
            // Ids start at the epoch in the high bits, so an answer to a previous leadership
            // of this replica can never match a proposal of this one.
            next_request_id: u64::from(init.leader_epoch.unsigned_abs()) << 32,
        };
        state.maybe_increment_high_watermark(now_ms);
        Ok(state)
    }

    pub fn local_id(&self) -> ReplicaId {
        self.local_id
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }
    pub fn leader_epoch_start_offset(&self) -> i64 {
        self.leader_epoch_start_offset
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn replicas(&self) -> &[ReplicaId] {
        &self.replicas
    }
    /// The committed ISR.
    pub fn isr(&self) -> &BTreeSet<ReplicaId> {
        self.isr.isr()
    }
    /// The committed ISR plus any replica an in-flight expansion adds (KIP-497).
    pub fn maximal_isr(&self) -> BTreeSet<ReplicaId> {
        self.isr.maximal_isr()
    }
    pub fn follower(&self, id: ReplicaId) -> Option<&FollowerView> {
        self.followers.get(&id)
    }
    pub fn is_under_min_isr(&self) -> bool {
        self.isr().len() < self.config.min_insync_replicas
    }
    /// Kafka answers ListOffsets with OFFSET_NOT_AVAILABLE until this holds: a new
    /// leader's high watermark may lag the offsets committed by its predecessor.
    pub fn high_watermark_covers_epoch_start(&self) -> bool {
        self.high_watermark >= self.leader_epoch_start_offset
    }
    pub fn pending_produce_count(&self) -> usize {
        self.produces.len()
    }
    /// The maximal-ISR follower furthest behind the leader's log end, when acks=all
    /// produces wait: the replica holding the high watermark back (for diagnostics).
    pub fn holding_high_watermark(&self) -> Option<(ReplicaId, &FollowerView)> {
        if self.produces.len() == 0 {
            return None;
        }
        self.followers
            .iter()
            .filter(|(id, v)| {
                self.isr.maximal_isr_contains(**id) && v.log_end_offset < self.log_end_offset
            })
            .min_by_key(|(_, v)| v.log_end_offset)
            .map(|(id, v)| (*id, v))
    }
    /// The AlterPartition in flight, for the caller to resend after a lost response.
    pub fn inflight_alter_partition(&self) -> Option<&AlterPartitionRequest> {
        self.isr.inflight()
    }
    /// A newly prepared AlterPartition, returned once.
    pub fn take_alter_partition(&mut self) -> Option<AlterPartitionRequest> {
        self.unsent_alter.take()
    }
    /// acks=all requests finished since the last call.
    pub fn take_completions(&mut self) -> Vec<ProduceCompletion> {
        std::mem::take(&mut self.completions)
    }

    /// Validates a request's `current_leader_epoch` (KIP-320); `None` skips the check.
    pub fn check_leader_epoch(&self, request_epoch: Option<i32>) -> Result<(), ReplicaError> {
        match request_epoch {
            Some(r) if r < self.leader_epoch => Err(ReplicaError::FencedLeaderEpoch {
                request: r,
                current: self.leader_epoch,
            }),
            Some(r) if r > self.leader_epoch => Err(ReplicaError::UnknownLeaderEpoch {
                request: r,
                current: self.leader_epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Cluster metadata about a broker (KIP-903): fetches with an older broker epoch are
    /// stale, and fenced or re-registered brokers may not join the ISR.
    pub fn update_broker_registration(&mut self, id: ReplicaId, broker_epoch: i64, fenced: bool) {
        self.registrations.insert(
            id,
            Registration {
                broker_epoch,
                fenced,
            },
        );
    }

    /// Must be called before appending an acks=all produce (Kafka checks before the
    /// write): NOT_ENOUGH_REPLICAS when the committed ISR is below min.insync.replicas.
    pub fn check_produce(&self, acks_all: bool) -> Result<(), ReplicaError> {
        if acks_all && self.is_under_min_isr() {
            return Err(ReplicaError::NotEnoughReplicas {
                isr: self.isr().len(),
                min_isr: self.config.min_insync_replicas,
            });
        }
        Ok(())
    }

    /// The leader's log grew to `log_end_offset` (the caller appended records).
    pub fn on_leader_append(&mut self, log_end_offset: i64, now_ms: u64) {
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        self.maybe_increment_high_watermark(now_ms);
    }

    /// The leader's log start offset moved (retention or DeleteRecords).
    pub fn on_log_start_offset(&mut self, log_start_offset: i64) {
        self.log_start_offset = self.log_start_offset.max(log_start_offset);
    }

    /// Parks an acks=all produce until the high watermark reaches `required_offset` (one
    /// past its last offset) or `timeout_ms` passes. May complete at once.
    pub fn await_acks(
        &mut self,
        request_id: u64,
        required_offset: i64,
        timeout_ms: u64,
        now_ms: u64,
    ) {
        self.produces.insert(
            request_id,
            required_offset,
            now_ms.saturating_add(timeout_ms),
        );
        self.try_complete_produces();
    }

    /// Periodic work: produce timeouts, ISR shrink (as Kafka, every
    /// `replica.lag.time.max.ms / 2`, however often this is called: walking every
    /// follower of thousands of idle partitions each tick was a twelfth of an idle
    /// broker's CPU) and time-dependent high watermark changes.
    pub fn tick(&mut self, now_ms: u64) {
        self.produces.expire(now_ms, &mut self.completions);
        if now_ms >= self.next_shrink_check_ms {
            self.maybe_shrink_isr(now_ms);
            self.next_shrink_check_ms = now_ms + (self.config.replica_lag_time_max_ms / 2).max(1);
        }
        self.maybe_increment_high_watermark(now_ms);
    }

    /// Stops being the leader: every waiting produce fails with NOT_LEADER_OR_FOLLOWER.
    pub fn resign(mut self) -> Vec<ProduceCompletion> {
        self.produces.fail_all(&mut self.completions);
        self.completions
    }

    /// Kafka's `maybeIncrementLeaderHW`: the smallest log end offset among the maximal
    /// ISR and the caught-up replicas about to join it; never moves backwards.
    fn maybe_increment_high_watermark(&mut self, now_ms: u64) -> bool {
        let mut new_hw = self.log_end_offset;
        for (id, view) in &self.followers {
            let joining = view.is_caught_up(
                self.log_end_offset,
                now_ms,
                self.config.replica_lag_time_max_ms,
            ) && self.is_isr_eligible(*id, view);
            if view.log_end_offset < new_hw && (self.isr.maximal_isr_contains(*id) || joining) {
                new_hw = view.log_end_offset;
            }
        }
        if self.config.require_current_epoch_commit && new_hw <= self.leader_epoch_start_offset {
            return false;
        }
        if new_hw > self.high_watermark {
            self.high_watermark = new_hw;
            self.try_complete_produces();
            return true;
        }
        false
    }

    fn try_complete_produces(&mut self) {
        let isr_size = self.isr().len();
        self.produces.complete_up_to(
            self.high_watermark,
            isr_size,
            self.config.min_insync_replicas,
            &mut self.completions,
        );
    }

    /// Kafka's `isReplicaIsrEligible`: not fenced, and fetching with the broker epoch the
    /// metadata has (a restarted broker must fetch again before it counts).
    fn is_isr_eligible(&self, id: ReplicaId, view: &FollowerView) -> bool {
        match self.registrations.get(&id) {
            None => true,
            Some(r) => !r.fenced && view.broker_epoch == Some(r.broker_epoch),
        }
    }
}

#[cfg(test)]
mod tests;
