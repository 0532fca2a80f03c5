//! plan: desired cluster + observed nodes -> the actions that move one toward the other.
//! Pure. Rules: create every missing node at once (a new quorum needs all its voters);
//! remove nodes no longer desired; restart at most one node whose revision changed, and
//! only while every other node is ready (never take two replicas of a partition down);
//! never remove a broker that still hosts partition replicas, or while that cannot be
//! checked (Strimzi's scale-down check: reassign first, then scale down).

use std::collections::BTreeMap;

use crate::runtime::Observed;
use crate::validate::{NodeSpec, Role, ValidatedCluster};

/// One step for a runtime to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create (or keep in place) a node's objects / process.
    Ensure(NodeSpec),
    /// Stop the node and start it again on its desired revision.
    Restart(NodeSpec),
    /// Remove a node scaled away; delete its storage too when asked.
    Remove {
        /// Node id.
        id: i32,
        /// `storage.deleteClaimOnScaleDown`.
        delete_storage: bool,
    },
}

/// What a reconcile does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Why a needed restart or removal is held back: (reason, message).
    pub blocked: Option<(&'static str, String)>,
}

impl Plan {
    /// The Event (reason, note) each changing action is reported with, in order; both
    /// runtimes record exactly these.
    pub fn events(&self, observed: &Observed) -> Vec<(&'static str, String)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Ensure(n) if !observed.nodes.contains_key(&n.id) => Some((
                    "NodeCreated",
                    format!("created node {} ({})", n.id, n.role.process_roles()),
                )),
                Action::Ensure(_) => None,
                Action::Restart(n) => Some((
                    "NodeRestarting",
                    format!("restarting node {} to apply a changed spec", n.id),
                )),
                Action::Remove { id, .. } => {
                    Some(("NodeRemoved", format!("removed node {id} (scaled down)")))
                }
            })
            .collect()
    }

    /// Whether anything changes besides keeping existing nodes in place.
    pub fn changes(&self, observed: &Observed) -> bool {
        self.actions.iter().any(|a| match a {
            Action::Ensure(n) => !observed.nodes.contains_key(&n.id),
            Action::Restart(_) | Action::Remove { .. } => true,
        })
    }
}

/// Plans the next step.
pub fn plan(
    cluster: &ValidatedCluster,
    revisions: &BTreeMap<i32, String>,
    observed: &Observed,
) -> Plan {
    let mut out = Plan::default();
    for node in &cluster.nodes {
        out.actions.push(Action::Ensure(node.clone()));
    }
    let desired_ids: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    // Highest ids go first, as scaling down removes the newest brokers.
    let snapshot = observed.admin.as_ref().and_then(|a| a.as_ref().ok());
    for (id, node) in observed.nodes.iter().rev() {
        if desired_ids.contains(id) {
            continue;
        }
        let hosted = snapshot.map(|s| s.hosted_replicas.get(id).copied().unwrap_or(0));
        match hosted {
            Some(0) => out.actions.push(Action::Remove {
                id: *id,
                delete_storage: cluster.storage.delete_claim_on_scale_down,
            }),
            // A node that never registered (or a controller) hosts nothing it could lose.
            None if !node.ready => out.actions.push(Action::Remove {
                id: *id,
                delete_storage: cluster.storage.delete_claim_on_scale_down,
            }),
            Some(n) => {
                out.blocked = Some((
                    "ScaleDownBlocked",
                    format!(
                        "node {id} still hosts {n} partition replicas; reassign them before scaling down"
                    ),
                ));
            }
            None => {
                out.blocked = Some((
                    "ScaleDownBlocked",
                    format!(
                        "node {id} is kept until Kafka metadata shows it hosts no partition replicas"
                    ),
                ));
            }
        }
    }
    let stale: Vec<&NodeSpec> = cluster
        .nodes
        .iter()
        .filter(|n| {
            observed
                .nodes
                .get(&n.id)
                .is_some_and(|o| o.revision.as_ref() != revisions.get(&n.id))
        })
        .collect();
    if let Some(next) = pick_restart(&stale, observed) {
        let others_ready = observed
            .nodes
            .iter()
            .filter(|(id, _)| **id != next.id && desired_ids.contains(id))
            .all(|(_, o)| o.ready);
        let all_exist = desired_ids.iter().all(|id| observed.nodes.contains_key(id));
        if others_ready && all_exist {
            out.actions.push(Action::Restart(next.clone()));
        } else {
            out.blocked = Some((
                "RollBlocked",
                format!(
                    "restart of node {} waits until every other node is ready",
                    next.id
                ),
            ));
        }
    }
    out
}

/// Which stale node restarts first: a node that is not ready anyway (restarting it costs
/// nothing), then controllers before brokers (Kafka's upgrade order), then the active
/// controller last, then by id.
fn pick_restart<'a>(stale: &[&'a NodeSpec], observed: &Observed) -> Option<&'a NodeSpec> {
    let active = observed
        .admin
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .and_then(|a| a.controller);
    stale.iter().copied().min_by_key(|n| {
        let ready = observed.nodes.get(&n.id).is_some_and(|o| o.ready);
        let role_rank = match n.role {
            Role::Controller => 0,
            Role::Combined => 1,
            Role::Broker => 2,
        };
        (ready, active == Some(n.id), role_rank, n.id)
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
