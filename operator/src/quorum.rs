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
//! Mode changes (combined <-> dedicated, the number of combined voters) are refused by
//! [`crate::plan::voter_change`], as is any change on a runtime that does not set
//! [`ValidatedCluster::quorum_seed`].

use std::collections::BTreeSet;

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

#[cfg(test)]
#[path = "quorum_tests.rs"]
mod tests;
