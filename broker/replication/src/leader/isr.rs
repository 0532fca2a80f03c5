//! The ISR of a partition as its leader sees it (Kafka's `PartitionState`): the ISR
//! last committed by the controller, or a pending AlterPartition on top of it.
//!
//! KIP-497: while an expansion is in flight the "maximal ISR" already includes the new
//! member (so the high watermark waits for it), while a shrink only takes effect once
//! committed (so the high watermark never counts on fewer replicas than the controller
//! might elect from). Only one change is in flight at a time.

use std::collections::BTreeSet;

use super::LeaderState;
use kafka_protocol::ResponseError;

use crate::ReplicaId;

/// An AlterPartition request for the caller to send to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    /// Matches the response to the proposal (Kafka compares proposal objects).
    pub request_id: u64,
    pub leader_id: ReplicaId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The proposed ISR with each member's broker epoch (KIP-903; -1 when unknown).
    pub new_isr: Vec<(ReplicaId, i64)>,
}

impl AlterPartitionRequest {
    pub fn isr_ids(&self) -> BTreeSet<ReplicaId> {
        self.new_isr.iter().map(|&(id, _)| id).collect()
    }
}

/// The controller's answer to an [`AlterPartitionRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionResponse {
    pub request_id: u64,
    pub result: Result<CommittedPartition, ResponseError>,
}

/// Partition state as committed by the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedPartition {
    pub leader_id: ReplicaId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<ReplicaId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IsrState {
    Committed {
        isr: BTreeSet<ReplicaId>,
    },
    PendingExpand {
        new_replica: ReplicaId,
        last_committed: BTreeSet<ReplicaId>,
        request: AlterPartitionRequest,
    },
    PendingShrink {
        last_committed: BTreeSet<ReplicaId>,
        request: AlterPartitionRequest,
    },
}

impl IsrState {
    /// The committed ISR: what acks=all and min.insync.replicas count.
    pub(crate) fn isr(&self) -> &BTreeSet<ReplicaId> {
        match self {
            Self::Committed { isr } => isr,
            Self::PendingExpand { last_committed, .. }
            | Self::PendingShrink { last_committed, .. } => last_committed,
        }
    }

    /// The largest ISR that may be committed: what the high watermark waits for.
    pub(crate) fn maximal_isr(&self) -> BTreeSet<ReplicaId> {
        match self {
            Self::Committed { isr }
            | Self::PendingShrink {
                last_committed: isr,
                ..
            } => isr.clone(),
            Self::PendingExpand {
                new_replica,
                last_committed,
                ..
            } => {
                let mut isr = last_committed.clone();
                isr.insert(*new_replica);
                isr
            }
        }
    }

    /// Whether `id` is in the maximal ISR (without building it: asked on every fetch).
    pub(crate) fn maximal_isr_contains(&self, id: ReplicaId) -> bool {
        match self {
            Self::Committed { isr }
            | Self::PendingShrink {
                last_committed: isr,
                ..
            } => isr.contains(&id),
            Self::PendingExpand {
                new_replica,
                last_committed,
                ..
            } => *new_replica == id || last_committed.contains(&id),
        }
    }

    pub(crate) fn inflight(&self) -> Option<&AlterPartitionRequest> {
        match self {
            Self::Committed { .. } => None,
            Self::PendingExpand { request, .. } | Self::PendingShrink { request, .. } => {
                Some(request)
            }
        }
    }

    /// Back to the last committed ISR so the leader can propose again.
    pub(crate) fn revert(&mut self) {
        let isr = self.isr().clone();
        *self = Self::Committed { isr };
    }
}

impl LeaderState {
    /// Kafka's `maybeShrinkIsr`: proposes removing ISR members that have not caught up
    /// within `replica.lag.time.max.ms`. Returns whether a shrink was proposed.
    pub fn maybe_shrink_isr(&mut self, now_ms: u64) -> bool {
        if self.isr.inflight().is_some() {
            return false;
        }
        let lag = self.config.replica_lag_time_max_ms;
        let out_of_sync: BTreeSet<ReplicaId> = self
            .isr()
            .iter()
            .filter(|&&id| id != self.local_id)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_none_or(|v| !v.is_caught_up(self.log_end_offset, now_ms, lag))
            })
            .copied()
            .collect();
        if out_of_sync.is_empty() {
            return false;
        }
        let last_committed = self.isr().clone();
        let new_isr: BTreeSet<ReplicaId> =
            last_committed.difference(&out_of_sync).copied().collect();
        let request = self.alter_partition_request(&new_isr);
        tracing::info!(
            leader_epoch = self.leader_epoch,
            ?out_of_sync,
            "shrinking ISR"
        );
        self.isr = IsrState::PendingShrink {
            last_committed,
            request: request.clone(),
        };
        self.unsent_alter = Some(request);
        true
    }

    /// Kafka's `maybeExpandIsr`: a follower that reached both the high watermark and the
    /// start of this leader epoch is proposed for the ISR.
    pub(super) fn maybe_expand_isr(&mut self, id: ReplicaId) {
        if self.isr.inflight().is_some() || self.isr().contains(&id) {
            return;
        }
        let Some(view) = self.followers.get(&id) else {
            return;
        };
        let in_sync = view.log_end_offset >= self.high_watermark
            && view.log_end_offset >= self.leader_epoch_start_offset;
        if !in_sync || !self.is_isr_eligible(id, view) {
            return;
        }
        let last_committed = self.isr().clone();
        let mut new_isr = last_committed.clone();
        new_isr.insert(id);
        let request = self.alter_partition_request(&new_isr);
        tracing::info!(
            leader_epoch = self.leader_epoch,
            replica = id,
            "expanding ISR"
        );
        self.isr = IsrState::PendingExpand {
            new_replica: id,
            last_committed,
            request: request.clone(),
        };
        self.unsent_alter = Some(request);
    }

    pub(super) fn alter_partition_request(
        &mut self,
        new_isr: &BTreeSet<ReplicaId>,
    ) -> AlterPartitionRequest {
        self.next_request_id += 1;
        let new_isr = new_isr
            .iter()
            .map(|&id| {
                let epoch = self.registrations.get(&id).map_or(-1, |r| r.broker_epoch);
                (id, epoch)
            })
            .collect();
        AlterPartitionRequest {
            request_id: self.next_request_id,
            leader_id: self.local_id,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
        }
    }

    /// Kafka's `handleAlterPartitionUpdate` / `handleAlterPartitionError`. Returns `true`
    /// when the caller should resend the in-flight request (a retriable error).
    pub fn on_alter_partition_response(
        &mut self,
        response: AlterPartitionResponse,
        now_ms: u64,
    ) -> bool {
        if self.isr.inflight().map(|r| r.request_id) != Some(response.request_id) {
            return false; // An answer to a proposal we no longer wait for.
        }
        match response.result {
            Ok(committed) => {
                self.apply_committed(committed, now_ms);
                false
            }
            Err(ResponseError::OperationNotAttempted | ResponseError::IneligibleReplica) => {
                self.isr.revert();
                false
            }
            // The controller moved on; a metadata update with the new state will follow.
            Err(
                ResponseError::FencedLeaderEpoch
                | ResponseError::InvalidUpdateVersion
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::NewLeaderElected,
            ) => false,
            Err(_) => true,
        }
    }

    /// A metadata update for this partition while still leader in the same epoch (the
    /// controller changed the ISR itself, e.g. after fencing a broker). Returns `false` if
    /// the update is for another leader epoch: the caller must rebuild its state.
    pub fn on_partition_update(&mut self, committed: CommittedPartition, now_ms: u64) -> bool {
        if committed.leader_epoch != self.leader_epoch || committed.leader_id != self.local_id {
            return false;
        }
        if committed.partition_epoch > self.partition_epoch {
            self.apply_committed(committed, now_ms);
        }
        true
    }

    fn apply_committed(&mut self, committed: CommittedPartition, now_ms: u64) {
        if committed.leader_epoch != self.leader_epoch
            || committed.partition_epoch < self.partition_epoch
        {
            return; // Stale: Kafka ignores it and waits for metadata.
        }
        let isr: BTreeSet<ReplicaId> = committed.isr.into_iter().collect();
        tracing::info!(
            partition_epoch = committed.partition_epoch,
            ?isr,
            "ISR committed"
        );
        self.partition_epoch = committed.partition_epoch;
        self.isr = IsrState::Committed { isr };
        self.unsent_alter = None;
        // The ISR may now be just the leader, or may have grown.
        self.maybe_increment_high_watermark(now_ms);
        self.try_complete_produces();
    }
}
