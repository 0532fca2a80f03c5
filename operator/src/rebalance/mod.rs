//! rebalance: the reassignment planner the operator owns for scale-out, scale-in and a
//! rebalance without a size change. Sans-IO: a [`ClusterView`] read from the brokers
//! (Metadata for replicas and racks, DescribeLogDirs for sizes) goes in, a
//! [`RebalancePlan`] of partition moves comes out, cut into [`Batch`]es with the
//! throttled-replica configs each needs ([`throttle`]).
//!
//! What the plan guarantees (property-tested in `tests.rs`): replicas on drained brokers
//! all move; replica and preferred-leader counts end balanced (max − min ≤ 1 among the
//! brokers of one rack, and across racks as far as the rack constraint allows); no
//! partition spans fewer racks than before; no broker both gains and loses replicas
//! (so no replica moves that did not need to); the same input gives the same plan.
//!
//! It must not talk to brokers or Kubernetes: the runtimes execute the batches through
//! AlterPartitionReassignments and keep progress in `status.rebalance`.

mod batches;
pub mod drive;
pub mod executor;
pub mod outcome;
mod planner;
mod read;
pub mod rebalancer;
pub mod throttle;

#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use batches::{Batch, BatchPolicy, batches, ranges};
pub use planner::{PlanError, plan};

/// What the planner sees of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replicas in assignment order; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// Bytes one replica holds (the largest DescribeLogDirs size over its replicas), for
    /// bytes to move and the ETA.
    pub size_bytes: u64,
}

/// The cluster as the planner sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Registered brokers and their `broker.rack` (`None`: no rack).
    pub brokers: BTreeMap<i32, Option<String>>,
    /// Every partition of every topic.
    pub partitions: Vec<PartitionView>,
}

/// One partition's reassignment: AlterPartitionReassignments' target for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replicas before the move.
    pub from: Vec<i32>,
    /// Target replicas, preferred leader first.
    pub to: Vec<i32>,
    /// Bytes the new replicas copy (replica size × replicas added).
    pub bytes: u64,
}

impl Move {
    /// Brokers that get a new replica.
    pub fn adding(&self) -> Vec<i32> {
        self.to
            .iter()
            .copied()
            .filter(|b| !self.from.contains(b))
            .collect()
    }

    /// Brokers whose replica is dropped once the new ones are in sync.
    pub fn removing(&self) -> Vec<i32> {
        self.from
            .iter()
            .copied()
            .filter(|b| !self.to.contains(b))
            .collect()
    }

    /// Only the order (the preferred leader) changes: no data moves.
    pub fn is_reorder_only(&self) -> bool {
        self.adding().is_empty()
    }
}

/// The whole plan: moves ordered by (topic, partition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebalancePlan {
    /// Partitions whose replicas (or their order) change.
    pub moves: Vec<Move>,
}

impl RebalancePlan {
    /// Bytes the plan copies in total.
    pub fn bytes(&self) -> u64 {
        self.moves.iter().map(|m| m.bytes).sum()
    }

    /// Replicas the plan copies (one per broker gaining a partition).
    pub fn replica_moves(&self) -> usize {
        self.moves.iter().map(|m| m.adding().len()).sum()
    }
}
