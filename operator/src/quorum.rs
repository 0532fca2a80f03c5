//! quorum: how the planner changes the KRaft voter set of dedicated controllers
//! (KIP-853), one voter at a time. Pure: every step is derived from what DescribeQuorum
//! shows now, so an operator restarted mid-change resumes where the quorum is.
//!
//! - Adding (voters missing from the quorum go first, lowest id first): the new
//!   controller is created (it joins as an observer through
//!   `controller.quorum.bootstrap.servers`); once it serves, AddRaftVoter — the active
//!   controller promotes it only once it has caught up — and the next one waits until
//!   DescribeQuorum lists it as a voter.
//! - Removing (once nothing is left to add): RemoveRaftVoter of one voter the spec no
//!   longer has, the active controller last so leadership moves once; its node is
//!   stopped and its state deleted only once DescribeQuorum no longer lists it.
//! - A quorum that cannot be read changes nothing: no controller is created beyond
//!   those that exist and none is removed.
//!
//! The runtimes only carry the steps out: the local runtime with processes and their
//! state dirs, the kube runtime with pods and their claims; each adopts the seed from
//! the config its nodes were started with.
//!
//! Mode changes (combined <-> dedicated, the number of combined voters) are refused by
//! [`voter_change`], as is any change on a runtime that does not set
//! [`ValidatedCluster::quorum_seed`].

use std::collections::{BTreeMap, BTreeSet};

use crate::observed::Observed;
use crate::plan::AdminOp;
use crate::validate::{CONTROLLER_ID_BASE, Role, ValidatedCluster};

/// Condition type while the voter set changes.
pub const QUORUM_RESIZING: &str = "QuorumResizing";

/// The voter change in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resizing {
    /// `AddingVoter` or `RemovingVoter`.
    pub reason: &'static str,
    /// Names the voter, the quorum's voters and what the step waits for.
    pub message: String,
}

/// What this reconcile does to the voter set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumStep {
    /// The change in progress; `None` when the voters match the spec (or cannot be
    /// read).
    pub resizing: Option<Resizing>,
    /// Desired controllers not to create yet (they join one at a time).
    pub hold_create: BTreeSet<i32>,
    /// Controllers the spec dropped that must keep running (still voters, or the
    /// quorum cannot be read).
    pub hold_remove: BTreeSet<i32>,
    /// AddRaftVoter or RemoveRaftVoter to send now.
    pub op: Option<AdminOp>,
}

/// The voter-set step of `cluster` on what was `observed`.
pub fn step(cluster: &ValidatedCluster, observed: &Observed) -> QuorumStep {
    let mut out = QuorumStep::default();
    let desired: BTreeSet<i32> = cluster
        .voters()
        .filter(|n| n.role == Role::Controller)
        .map(|n| n.id)
        .collect();
    if cluster.quorum_seed.is_none() || desired.is_empty() || observed.nodes.is_empty() {
        return out;
    }
    let existing: BTreeSet<i32> = observed
        .nodes
        .keys()
        .copied()
        .filter(|id| *id >= CONTROLLER_ID_BASE)
        .collect();
    let snapshot = observed.admin.as_ref().and_then(|a| a.as_ref().ok());
    let Some(voters) = snapshot.map(|s| &s.voters).filter(|v| !v.is_empty()) else {
        out.hold_create = desired.difference(&existing).copied().collect();
        out.hold_remove = existing.difference(&desired).copied().collect();
        return out;
    };
    let list = |s: &BTreeSet<i32>| format!("{:?}", s.iter().collect::<Vec<_>>());
    let adds: Vec<i32> = desired.difference(voters).copied().collect();
    out.hold_remove = voters.difference(&desired).copied().collect();
    if let Some((&next, later)) = adds.split_first() {
        out.hold_create = later.iter().copied().collect();
        let serving = observed.nodes.get(&next).is_some_and(|n| n.ready);
        let waits = if serving {
            out.op = Some(AdminOp::AddRaftVoter {
                id: next,
                endpoint: None,
            });
            "AddRaftVoter sent; waiting until DescribeQuorum lists it as a voter"
        } else {
            "waiting for it to start and follow the metadata log"
        };
        out.resizing = Some(Resizing {
            reason: "AddingVoter",
            message: format!(
                "adding controller {next} to the KRaft voters {}: {waits}",
                list(voters)
            ),
        });
        return out;
    }
    let active = snapshot.and_then(|s| s.controller);
    // Highest id first, the active controller last: leadership moves once.
    let Some(next) = out
        .hold_remove
        .iter()
        .copied()
        .max_by_key(|id| (active != Some(*id), *id))
    else {
        return out;
    };
    out.op = Some(AdminOp::RemoveRaftVoter(next));
    out.resizing = Some(Resizing {
        reason: "RemovingVoter",
        message: format!(
            "removing controller {next} from the KRaft voters {}{}: RemoveRaftVoter sent; \
             it is stopped and its state deleted once DescribeQuorum no longer lists it",
            list(voters),
            if active == Some(next) {
                " (the active controller, last)"
            } else {
                ""
            }
        ),
    });
    out
}

/// Broker releases that resolve every `controller.quorum.voters` host name when they
/// start (waiting up to two minutes, then failing): on Kubernetes a node of one of them
/// cannot start once the pod of one of the quorum's initial voters is gone, so those
/// voters stay while such a version runs or is asked for. Later builds resolve a
/// voter's name when connecting to it, and an unresolvable one is just unreachable.
pub const RESOLVE_VOTERS_AT_START: &[&str] = &["0.1.0", "0.2.0"];

/// The version among `versions` (`None`: unknown, e.g. a pod without its version
/// label) that keeps the initial voters ([`RESOLVE_VOTERS_AT_START`]), if any.
pub fn keeps_initial_voters<'a>(
    versions: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    versions.into_iter().find_map(|v| match v {
        None => Some("unknown".to_owned()),
        Some(v) if RESOLVE_VOTERS_AT_START.contains(&v) => Some(v.to_owned()),
        Some(_) => None,
    })
}

/// The initial voters a node's `server.properties` text lists
/// (`controller.quorum.voters`, id -> `host:port`): what a runtime adopts as
/// [`ValidatedCluster::quorum_seed`] from the config its running nodes were started
/// with. `None` without the key or when an entry is not `id@host:port`.
pub fn seed_from_properties(text: &str) -> Option<BTreeMap<i32, String>> {
    let voters = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("controller.quorum.voters="))?;
    voters
        .split(',')
        .map(|v| {
            let (id, addr) = v.split_once('@')?;
            Some((id.trim().parse().ok()?, addr.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
#[path = "quorum_tests.rs"]
mod tests;

/// Why `cluster` cannot be carried out on the nodes observed: it asks for other KRaft
/// voters than the running quorum has in a way no one-voter step reaches (combined mode
/// across 1 <-> 3 brokers, combined <-> dedicated, or dedicated controllers on a runtime
/// without [`ValidatedCluster::quorum_seed`]): restarting nodes onto another voter list
/// would split or stall the quorum. The CRD's CEL rules refuse the mode changes at
/// admission on Kubernetes; this check holds for the local runtime too, and when
/// admission was bypassed.
///
/// The quorum's own voters (DescribeQuorum) decide. Without them the observed nodes do,
/// only where they cannot be a quorum still coming up or recovering: a controller the
/// spec no longer has, controllers under a combined spec, or three or more combined
/// nodes under a spec of one voter. (A quorum that cannot be read and looks smaller
/// than the spec may be one recovering its missing voters, so that is not refused.)
/// `None` for a new cluster (nothing observed).
pub fn voter_change(cluster: &ValidatedCluster, observed: &Observed) -> Option<String> {
    if observed.nodes.is_empty() {
        return None;
    }
    let quorum = observed
        .admin
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .map(|a| &a.voters)
        .filter(|v| !v.is_empty());
    if let Some(voters) = quorum {
        return voter_set_change(cluster, voters);
    }
    let desired: BTreeSet<i32> = cluster.voters().map(|n| n.id).collect();
    let dedicated = cluster.voters().any(|n| n.role == Role::Controller);
    let (controllers, combined): (BTreeSet<i32>, BTreeSet<i32>) = observed
        .nodes
        .keys()
        .partition(|id| **id >= CONTROLLER_ID_BASE);
    let changes = if dedicated {
        !controllers.is_subset(&desired)
    } else {
        !controllers.is_empty() || (combined.len() >= 3 && desired.len() < 3)
    };
    if !changes {
        return None;
    }
    let current = if controllers.is_empty() {
        combined.into_iter().take(3).collect()
    } else {
        controllers
    };
    voter_set_change(cluster, &current)
}

/// Why `cluster` cannot run on a quorum whose voters are `current` (the quorum's own
/// list, or the `controller.quorum.voters` its nodes were started with); `None` when
/// the spec keeps exactly these voters.
pub fn voter_set_change(cluster: &ValidatedCluster, current: &BTreeSet<i32>) -> Option<String> {
    let desired: BTreeSet<i32> = cluster.voters().map(|n| n.id).collect();
    if desired == *current {
        return None;
    }
    let dedicated =
        |s: &BTreeSet<i32>| !s.is_empty() && s.iter().all(|id| *id >= CONTROLLER_ID_BASE);
    let ids = |s: &BTreeSet<i32>| format!("{:?}", s.iter().collect::<Vec<_>>());
    if dedicated(&desired) && dedicated(current) {
        if cluster.quorum_seed.is_some() {
            // KIP-853: `crate::quorum` changes dedicated controllers one at a time.
            return None;
        }
        return Some(format!(
            "the spec asks for KRaft voters {} but the quorum's voters are {}: the voter set \
             cannot change without knowing the voters the nodes were started with (on \
             Kubernetes: the controller.quorum.voters of the lowest controller's ConfigMap, \
             which could not be read), so nothing was changed; set spec.controllers back",
            ids(&desired),
            ids(current)
        ));
    }
    Some(format!(
        "the spec asks for KRaft voters {} but the quorum's voters are {}: the operator changes \
         the voter set (KIP-853) only among dedicated controllers, not between combined mode \
         and dedicated controllers nor across 1 <-> 3 combined voters (that would restart \
         brokers with another role), so nothing was changed; set spec.brokers and \
         spec.controllers back (combined mode keeps one voter below 3 brokers and three from \
         3 on)",
        ids(&desired),
        ids(current)
    ))
}
