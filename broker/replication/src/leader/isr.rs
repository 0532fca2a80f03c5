//! The ISR of a partition as its leader sees it (Kafka's `PartitionState`): the ISR
//! last committed by the controller, or a pending AlterPartition on top of it.
//!
//! KIP-497: while an expansion is in flight the "maximal ISR" already includes the new
//! member (so the high watermark waits for it), while a shrink only takes effect once
//! committed (so the high watermark never counts on fewer replicas than the controller
//! might elect from). Only one change is in flight at a time.

use std::collections::BTreeSet;

use crate::ReplicaId;
use crate::error::ErrorCode;

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
    pub result: Result<CommittedPartition, ErrorCode>,
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
