//! The planning algorithm: drain, then balance replicas, then balance preferred leaders,
//! each a greedy walk that only ever moves a replica from a broker holding at least two
//! more than its destination. That rule is what keeps the plan minimal: the most loaded
//! broker only gives, the least loaded only takes, so no broker both gains and loses and
//! no replica moves twice. Every choice breaks ties by (count, broker id) and partitions
//! are visited in (topic, partition) order, so the same view gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

use super::{ClusterView, Move, PartitionView, RebalancePlan};

/// Why no plan can be made; each names the topic it is about. Reported as `Degraded`
/// with reason `ScaleInBlocked`, and nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A topic's replication factor exceeds the brokers that would remain.
    #[error(
        "topic {topic} has replication factor {replication_factor} but only {brokers} brokers would remain"
    )]
    TooFewBrokers {
        topic: String,
        replication_factor: usize,
        brokers: usize,
    },
    /// A topic spans more racks than the brokers that would remain.
    #[error("topic {topic} spans {racks} racks but only {remaining} racks would remain")]
    TooFewRacks {
        topic: String,
        racks: usize,
        remaining: usize,
    },
    /// No remaining broker can take a drained replica without the partition losing a rack.
    #[error(
        "no remaining broker can take partition {topic}-{partition} from broker {broker} without it spanning fewer racks"
    )]
    NoRoom {
        topic: String,
        partition: i32,
        broker: i32,
    },
}

impl PlanError {
    /// The status condition reason this refusal is reported with.
    pub const REASON: &'static str = "ScaleInBlocked";

    /// The topic the refusal names.
    pub fn topic(&self) -> &str {
        match self {
            PlanError::TooFewBrokers { topic, .. }
            | PlanError::TooFewRacks { topic, .. }
            | PlanError::NoRoom { topic, .. } => topic,
        }
    }
}

/// Working state: the assignment being built and each target broker's load.
struct Work<'a> {
    /// Target brokers (registered, not drained) and their racks.
    racks: BTreeMap<i32, Option<&'a str>>,
    /// Racks of every registered broker, drained ones too: a replica still on a drained
    /// broker keeps its rack until it is replaced.
    all_racks: &'a BTreeMap<i32, Option<String>>,
    /// Partitions in (topic, partition) order, as they are now.
    original: Vec<&'a PartitionView>,
    /// Their assignment as planned so far.
    assignment: Vec<Vec<i32>>,
    /// Racks each partition spans now: it must never span fewer.
    min_racks: Vec<usize>,
}

impl Work<'_> {
    fn rack_count(&self, replicas: &[i32]) -> usize {
        replicas
            .iter()
            .filter_map(|b| self.all_racks.get(b).and_then(|r| r.as_deref()))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Whether replica `from` of partition `p` may be replaced by broker `to`.
    fn may_replace(&self, p: usize, from: i32, to: i32) -> bool {
        let current = &self.assignment[p];
        if current.contains(&to) || !self.racks.contains_key(&to) {
            return false;
        }
        let after: Vec<i32> = current
            .iter()
            .map(|b| if *b == from { to } else { *b })
            .collect();
        self.rack_count(&after) >= self.min_racks[p]
    }

    fn changed(&self, p: usize) -> bool {
        self.assignment[p] != self.original[p].replicas
    }

    /// Replica count per target broker (only replicas on target brokers count).
    fn replica_counts(&self, topic: Option<&str>) -> BTreeMap<i32, usize> {
        let mut counts: BTreeMap<i32, usize> = self.racks.keys().map(|b| (*b, 0)).collect();
        let of_topic = (0..self.assignment.len())
            .filter(|p| topic.is_none_or(|t| self.original[*p].topic == t));
        for b in of_topic.flat_map(|p| self.assignment[p].iter()) {
            if let Some(c) = counts.get_mut(b) {
                *c += 1;
            }
        }
        counts
    }

    /// Preferred-leader count per target broker.
    fn leader_counts(&self) -> BTreeMap<i32, usize> {
        let mut counts: BTreeMap<i32, usize> = self.racks.keys().map(|b| (*b, 0)).collect();
        for first in self.assignment.iter().filter_map(|a| a.first()) {
            if let Some(c) = counts.get_mut(first) {
                *c += 1;
            }
        }
        counts
    }

    /// The partition to take a replica (or leadership) from `giver` in, among those
    /// `keep` accepts: one where `giver` only arrives by this plan (handing that back
    /// undoes a copy), then one already changing (moving it again costs no extra
    /// partition), then the smallest, then the first in order.
    fn best(&self, giver: i32, keep: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.assignment.len())
            .filter(|p| keep(*p))
            .min_by_key(|p| {
                let arrives = !self.original[*p].replicas.contains(&giver);
                (
                    !arrives,
                    !self.changed(*p),
                    self.original[*p].size_bytes,
                    *p,
                )
            })
    }
}

/// Plans the moves that drain `drain` and balance the rest. Partitions with a replica on
/// a broker that is neither registered nor drained are left alone: their state cannot be
/// trusted to move them.
pub fn plan(view: &ClusterView, drain: &BTreeSet<i32>) -> Result<RebalancePlan, PlanError> {
    let racks: BTreeMap<i32, Option<&str>> = view
        .brokers
        .iter()
        .filter(|(b, _)| !drain.contains(b))
        .map(|(b, r)| (*b, r.as_deref()))
        .collect();
    let mut original: Vec<&PartitionView> = view
        .partitions
        .iter()
        .filter(|p| {
            p.replicas
                .iter()
                .all(|b| racks.contains_key(b) || drain.contains(b))
        })
        .collect();
    original.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut work = Work {
        assignment: original.iter().map(|p| p.replicas.clone()).collect(),
        min_racks: Vec::new(),
        original,
        racks,
        all_racks: &view.brokers,
    };
    work.min_racks = work
        .original
        .iter()
        .map(|p| {
            let all: BTreeSet<&str> = p
                .replicas
                .iter()
                .filter_map(|b| view.brokers.get(b).and_then(|r| r.as_deref()))
                .collect();
            all.len()
        })
        .collect();
    refuse(&work)?;
    drain_replicas(&mut work, drain)?;
    balance_replicas(&mut work);
    balance_leaders(&mut work);
    let moves = (0..work.assignment.len())
        .filter(|p| work.changed(*p))
        .map(|p| {
            let o = work.original[p];
            let mut m = Move {
                topic: o.topic.clone(),
                partition: o.partition,
                from: o.replicas.clone(),
                to: work.assignment[p].clone(),
                bytes: 0,
            };
            m.bytes = o.size_bytes * m.adding().len() as u64;
            m
        })
        .collect();
    Ok(RebalancePlan { moves })
}

/// Refuses what no plan can do: fewer brokers than a replication factor, fewer racks
/// than a topic spans.
fn refuse(work: &Work<'_>) -> Result<(), PlanError> {
    let remaining_racks = work.racks.values().flatten().collect::<BTreeSet<_>>().len();
    for (p, part) in work.original.iter().enumerate() {
        if part.replicas.len() > work.racks.len() {
            return Err(PlanError::TooFewBrokers {
                topic: part.topic.clone(),
                replication_factor: part.replicas.len(),
                brokers: work.racks.len(),
            });
        }
        if work.min_racks[p] > remaining_racks {
            return Err(PlanError::TooFewRacks {
                topic: part.topic.clone(),
                racks: work.min_racks[p],
                remaining: remaining_racks,
            });
        }
    }
    Ok(())
}

/// Replaces every replica on a drained broker by the least loaded broker that keeps the
/// partition's racks, in place (a drained preferred leader's successor leads).
fn drain_replicas(work: &mut Work<'_>, drain: &BTreeSet<i32>) -> Result<(), PlanError> {
    let mut counts = work.replica_counts(None);
    for p in 0..work.assignment.len() {
        for slot in 0..work.assignment[p].len() {
            let from = work.assignment[p][slot];
            if !drain.contains(&from) {
                continue;
            }
            let to = counts
                .iter()
                .filter(|(b, _)| work.may_replace(p, from, **b))
                .min_by_key(|(b, c)| (**c, **b))
                .map(|(b, _)| *b)
                .ok_or_else(|| PlanError::NoRoom {
                    topic: work.original[p].topic.clone(),
                    partition: work.original[p].partition,
                    broker: from,
                })?;
            work.assignment[p][slot] = to;
            *counts.entry(to).or_insert(0) += 1;
        }
    }
    Ok(())
}

/// Brokers paired most loaded → least loaded, for pairs at least two apart.
fn uneven_pairs(counts: &BTreeMap<i32, usize>) -> Vec<(i32, i32)> {
    let mut by_load: Vec<(usize, i32)> = counts.iter().map(|(b, c)| (*c, *b)).collect();
    by_load.sort_unstable();
    let mut pairs = Vec::new();
    for (hi_count, hi) in by_load.iter().rev() {
        for (lo_count, lo) in &by_load {
            if *hi_count >= lo_count + 2 {
                pairs.push((*hi, *lo));
            }
        }
    }
    pairs
}

/// Moves one replica at a time from a broker to one holding at least two fewer.
/// Each topic first (so a topic's data spreads over the new brokers, not just the
/// smallest partitions of some other topic), then all replicas together.
fn balance_replicas(work: &mut Work<'_>) {
    let topics: BTreeSet<String> = work.original.iter().map(|p| p.topic.clone()).collect();
    for topic in &topics {
        balance_replicas_of(work, Some(topic));
    }
    balance_replicas_of(work, None);
}

fn balance_replicas_of(work: &mut Work<'_>, topic: Option<&str>) {
    // Each step lowers the sum of squared loads, so this ends; the bound is a guard.
    let limit = work.assignment.iter().map(Vec::len).sum::<usize>() + 1;
    for _ in 0..limit {
        let counts = work.replica_counts(topic);
        let step = uneven_pairs(&counts).into_iter().find_map(|(hi, lo)| {
            work.best(hi, |p| {
                topic.is_none_or(|t| work.original[p].topic == t)
                    && work.assignment[p].contains(&hi)
                    && work.may_replace(p, hi, lo)
            })
            .map(|p| (p, hi, lo))
        });
        let Some((p, hi, lo)) = step else { return };
        for b in &mut work.assignment[p] {
            if *b == hi {
                *b = lo;
            }
        }
    }
}

/// Swaps preferred leaders inside replica sets: a partition led by a broker with at
/// least two more leaderships than another of its replicas puts that one first.
fn balance_leaders(work: &mut Work<'_>) {
    let limit = work.assignment.len() + 1;
    for _ in 0..limit {
        let counts = work.leader_counts();
        let step = uneven_pairs(&counts).into_iter().find_map(|(hi, lo)| {
            work.best(hi, |p| {
                let a = &work.assignment[p];
                a.first() == Some(&hi) && a.contains(&lo)
            })
            .map(|p| (p, lo))
        });
        let Some((p, lo)) = step else { return };
        let a = &mut work.assignment[p];
        if let Some(pos) = a.iter().position(|b| *b == lo) {
            a.swap(0, pos);
        }
    }
}
