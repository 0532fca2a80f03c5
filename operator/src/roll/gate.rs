//! The roll gate: whether restarting a node now keeps every partition writable with
//! `acks=all`, read from the brokers' own metadata (replicas, ISR, leader, each topic's
//! `min.insync.replicas`). Pure: `plan` asks it before every restart.
//!
//! Rules (issue 11 item 3, Strimzi's `KafkaAvailability` made stricter):
//! - metadata that cannot be read blocks every restart: never roll blind;
//! - a broker is restarted only if, for every partition it hosts, the in-sync replicas
//!   other than it still meet `min.insync.replicas` (capped at replicas - 1, so a
//!   partition whose replication factor makes that impossible is not blocked forever)
//!   and no partition loses its last in-sync replica; while the missing replicas are on
//!   registered brokers (catching up) that is a wait, when one is on a broker that is
//!   gone it is a block;
//! - between restarts the cluster settles: every broker registered and unfenced, no
//!   under-replicated or offline partition, preferred leaders back in place.

use std::collections::BTreeSet;

use crate::observed::{AdminError, AdminSnapshot, PartitionView};

/// Why a restart is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The roll cannot proceed until something outside the operator changes (reason
    /// `RollBlocked`): Kafka metadata unreadable, or partitions that would drop below
    /// `min.insync.replicas`.
    Blocked {
        /// Partitions named in the message (empty when metadata is unreadable).
        partitions: Vec<String>,
        /// Human message.
        message: String,
    },
    /// The cluster is still settling after the previous restart (waiting is normal).
    Settling(String),
    /// Preferred leaders are not in place: elect them, then go on.
    ElectPreferred(Vec<String>),
}

/// How many partitions a message names before "and N more".
const NAMED: usize = 5;

fn named(parts: &[String]) -> String {
    let mut s = parts
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if parts.len() > NAMED {
        s.push_str(&format!(" and {} more", parts.len() - NAMED));
    }
    s
}

/// Partitions that restarting all of `nodes` together would leave with fewer in-sync
/// replicas than `min.insync.replicas` (or with none).
pub fn restart_blockers(nodes: &BTreeSet<i32>, partitions: &[PartitionView]) -> Vec<String> {
    partitions
        .iter()
        .filter(|p| p.replicas.iter().any(|r| nodes.contains(r)))
        .filter(|p| {
            let remaining = p.isr.iter().filter(|r| !nodes.contains(r)).count();
            // A replication factor of 1 cannot be restarted without a gap: nothing to wait for.
            if p.replicas.len() <= 1 {
                return false;
            }
            let cap = p.replicas.len() - 1;
            let needed = usize::try_from(p.min_insync).unwrap_or(1).clamp(1, cap);
            remaining < needed
        })
        .map(PartitionView::name)
        .collect()
}

/// Whether `nodes` may be restarted now; `brokers` are the node ids that must be
/// registered. `Ok` means go.
pub fn check(
    admin: Option<&Result<AdminSnapshot, AdminError>>,
    nodes: &BTreeSet<i32>,
    brokers: &[i32],
) -> Result<(), Hold> {
    let s = match admin {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            return Err(Hold::Blocked {
                partitions: vec![],
                message: format!("Kafka metadata cannot be read ({e}); no node is restarted"),
            });
        }
        None => {
            return Err(Hold::Blocked {
                partitions: vec![],
                message: "Kafka metadata not read yet; no node is restarted".to_owned(),
            });
        }
    };
    let blockers = restart_blockers(nodes, &s.partitions);
    if !blockers.is_empty() {
        // Out-of-sync replicas on registered brokers are catching up (e.g. the node
        // restarted just before): waiting is normal. On a broker that is gone (stopped,
        // fenced), only something outside the operator can help: the roll is blocked.
        let gone: Vec<String> = s
            .partitions
            .iter()
            .filter(|p| blockers.contains(&p.name()))
            .filter(|p| {
                p.replicas
                    .iter()
                    .any(|r| !p.isr.contains(r) && !s.registered.contains(r))
            })
            .map(PartitionView::name)
            .collect();
        if gone.is_empty() {
            return Err(Hold::Settling(format!(
                "waiting for {} to catch up before restarting node {}",
                named(&blockers),
                ids(nodes)
            )));
        }
        return Err(Hold::Blocked {
            message: format!(
                "restarting node {} would leave {} below min.insync.replicas: {}",
                ids(nodes),
                if gone.len() == 1 {
                    "partition"
                } else {
                    "partitions"
                },
                named(&gone)
            ),
            partitions: gone,
        });
    }
    let unregistered: Vec<i32> = brokers
        .iter()
        .copied()
        .filter(|b| !s.registered.contains(b))
        .collect();
    if !unregistered.is_empty() {
        return Err(Hold::Settling(format!(
            "waiting for broker {} to register and be unfenced",
            unregistered
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let lagging: Vec<String> = s
        .partitions
        .iter()
        .filter(|p| p.under_replicated() || p.leader < 0)
        .map(PartitionView::name)
        .collect();
    if !lagging.is_empty() {
        return Err(Hold::Settling(format!(
            "waiting for {} to catch up",
            named(&lagging)
        )));
    }
    let unpreferred = not_on_preferred_leader(&s.partitions);
    if !unpreferred.is_empty() {
        return Err(Hold::ElectPreferred(unpreferred));
    }
    Ok(())
}

/// `metadata.version` 4.1-IV0: from this level a preferred-leader election is a handoff
/// (the old leader stops taking acks=1 appends until the new one holds the last of
/// them), below it the
/// old leader can take acks=1 writes the new one never gets, which the election then
/// truncates.
pub const LEADER_HANDOFF_LEVEL: i16 = 26;

/// Whether preferred-leader elections should wait: an upgrade is under way (`upgrading`:
/// `status.upgrade` not Done) and the finalized level still elects without a handoff.
/// The leaderships then go home once the finalize has raised the level (as handoffs,
/// losing nothing); meanwhile each restart's drain still moves them losslessly.
pub fn defer_preferred_elections(upgrading: bool, s: Option<&AdminSnapshot>) -> bool {
    let level = s.and_then(|s| {
        s.finalized_features
            .get(tidewater_client::METADATA_VERSION_FEATURE)
            .copied()
    });
    upgrading && level.is_none_or(|l| l < LEADER_HANDOFF_LEVEL)
}

/// Partitions led by another broker while their preferred leader is in sync.
pub fn not_on_preferred_leader(partitions: &[PartitionView]) -> Vec<String> {
    partitions
        .iter()
        .filter(|p| {
            p.replicas
                .first()
                .is_some_and(|pref| *pref != p.leader && p.isr.contains(pref))
        })
        .map(PartitionView::name)
        .collect()
}

fn ids(nodes: &BTreeSet<i32>) -> String {
    nodes
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
