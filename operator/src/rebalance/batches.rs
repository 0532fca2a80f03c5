//! Cutting a plan into batches: Kafka's operations advice (seed notes 000/001) is one
//! topic at a time with a bounded number of partitions in flight, so a batch never mixes
//! topics and never holds more than `max_partitions` moves. Moves that only reorder
//! replicas copy nothing and complete at once; they ride in their topic's batches.

use std::ops::Range;

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
    ranges(&plan.moves, |m| &m.topic, policy.max_partitions)
        .into_iter()
        .map(|r| Batch {
            topic: plan.moves[r.start].topic.clone(),
            moves: plan.moves[r].to_vec(),
        })
        .collect()
}

/// Index ranges of the batches of `items`: consecutive items of one topic, at most
/// `max` each (the persisted plan is cut with the same rule after a restart).
pub fn ranges<T>(items: &[T], topic: impl Fn(&T) -> &str, max: usize) -> Vec<Range<usize>> {
    let max = max.max(1);
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match out.last_mut() {
            Some(r) if r.len() < max && topic(&items[r.start]) == topic(item) => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}
