//! The replication throttle of a batch, as `kafka-reassign-partitions --throttle` sets
//! it: the rate on every broker a move reads from or writes to
//! (`leader.replication.throttled.rate`, `follower.replication.throttled.rate`), and on
//! each topic the replicas it applies to: `leader.replication.throttled.replicas` lists
//! `partition:broker` for the current replicas (the sources), and
//! `follower.replication.throttled.replicas` the new ones (the destinations). Sans-IO:
//! this says what to set and clear; the runtimes send it with IncrementalAlterConfigs.

use std::collections::{BTreeMap, BTreeSet};

use super::Move;

/// Broker config: bytes/s a leader serves to throttled followers.
pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
/// Broker config: bytes/s a follower fetches for throttled replicas.
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
/// Topic config: `partition:broker` list of throttled leader-side replicas.
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
/// Topic config: `partition:broker` list of throttled follower-side replicas.
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// `(partition, broker)` pairs of one topic config.
type Replicas = BTreeSet<(i32, i32)>;

/// The configs one batch needs while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Brokers that get both rate configs (sources and destinations of data moves).
    pub brokers: BTreeSet<i32>,
    /// Per topic: (leader throttled replicas, follower throttled replicas).
    pub topics: BTreeMap<String, (String, String)>,
}

impl Throttle {
    /// Whether the batch copies nothing (reorders only) and needs no throttle.
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty()
    }
}

/// The throttle for `moves`. Reorder-only moves copy nothing and are left out.
pub fn for_moves<'a>(moves: impl IntoIterator<Item = &'a Move>) -> Throttle {
    let mut out = Throttle::default();
    let mut lists: BTreeMap<&str, (Replicas, Replicas)> = BTreeMap::new();
    for m in moves {
        let adding = m.adding();
        if adding.is_empty() {
            continue;
        }
        let entry = lists.entry(m.topic.as_str()).or_default();
        for b in &m.from {
            entry.0.insert((m.partition, *b));
            out.brokers.insert(*b);
        }
        for b in adding {
            entry.1.insert((m.partition, b));
            out.brokers.insert(b);
        }
    }
    let render = |set: &Replicas| {
        set.iter()
            .map(|(p, b)| format!("{p}:{b}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    out.topics = lists
        .into_iter()
        .map(|(t, (l, f))| (t.to_owned(), (render(&l), render(&f))))
        .collect();
    out
}
