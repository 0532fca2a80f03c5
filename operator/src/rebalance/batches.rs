//! Cutting a plan into batches: Kafka's operations advice (seed notes 000/001) is one
//! topic at a time with a bounded number of partitions in flight, so a batch never mixes
//! topics and never holds more than `max_partitions` moves. Moves that only reorder
//! replicas copy nothing and complete at once; they ride in their topic's batches.

use super::{Move, RebalancePlan};

/// How moves are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Partitions in flight at most per batch.
    pub max_partitions: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self { max_partitions: 10 }
    }
}

/// One AlterPartitionReassignments call and the wait for it to finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The topic all moves belong to.
    pub topic: String,
    /// The moves, in partition order.
    pub moves: Vec<Move>,
}

impl Batch {
    /// Bytes this batch copies.
    pub fn bytes(&self) -> u64 {
        self.moves.iter().map(|m| m.bytes).sum()
    }
}

/// The plan's batches, in (topic, partition) order.
pub fn batches(plan: &RebalancePlan, policy: BatchPolicy) -> Vec<Batch> {
    let max = policy.max_partitions.max(1);
    let mut out: Vec<Batch> = Vec::new();
    for m in &plan.moves {
        match out.last_mut() {
            Some(b) if b.topic == m.topic && b.moves.len() < max => b.moves.push(m.clone()),
            _ => out.push(Batch {
                topic: m.topic.clone(),
                moves: vec![m.clone()],
            }),
        }
    }
    out
}
