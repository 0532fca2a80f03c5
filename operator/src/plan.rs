//! plan: desired cluster + observed nodes -> the actions that move one toward the other.
//! Pure. Rules: create every missing node at once (a new quorum needs all its voters);
//! remove nodes no longer desired; restart at most one node whose revision changed (or,
//! with `spec.rollout.parallelRacks`, all stale brokers of one rack when every partition
//! keeps `min.insync.replicas` in-sync replicas in the other racks), and only when the
//! roll gate ([`crate::roll::gate`]) lets it; never remove a broker that
//! still hosts partition replicas, or while that cannot be checked (Strimzi's
//! scale-down check: reassign first, then scale down). A version upgrade's refusals and
//! finalize come from [`crate::roll::upgrade`]. Dedicated controllers join and leave the
//! KRaft quorum one voter at a time ([`crate::quorum`], KIP-853) where the runtime
//! supports it; any other change of the voter set is refused whole ([`voter_change`]):
//! nothing is created, restarted or removed.

use std::collections::{BTreeMap, BTreeSet};

use crate::build::dynamic;
use crate::observed::Observed;
use crate::quorum;
pub use crate::quorum::{voter_change, voter_set_change};
use crate::roll::gate::{self, Hold};
use crate::roll::upgrade::Decision;
use crate::validate::{CONTROLLER_ID_BASE, NodeSpec, Role, ValidatedCluster};

/// Reason of `Degraded` while a spec would change the KRaft voter set.
pub const VOTER_CHANGE_BLOCKED: &str = "VoterChangeBlocked";

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

/// A Kafka admin operation, run after the actions through any ready broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    /// Move leaderships back to preferred replicas (after a restart).
    ElectPreferredLeaders,
    /// Finalize `metadata.version` at this level (UpdateFeatures).
    FinalizeMetadataVersion(i16),
    /// IncrementalAlterConfigs of the cluster-wide default broker resource (name ""):
    /// `Some(value)` sets a key, `None` deletes it. Dynamic keys of `spec.config`
    /// change this way, without a restart ([`crate::build::dynamic`]).
    AlterClusterConfigs(Vec<(String, Option<String>)>),
    /// AddRaftVoter (KIP-853) of a running controller ([`crate::quorum`]). The planner
    /// knows no addresses: the runtime fills in `endpoint`, the new voter's controller
    /// listener `(host, port)`, before sending it.
    AddRaftVoter {
        /// Node id of the controller.
        id: i32,
        /// Its controller listener.
        endpoint: Option<(String, u16)>,
    },
    /// RemoveRaftVoter (KIP-853) of this voter.
    RemoveRaftVoter(i32),
}

/// What a reconcile does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Why a needed restart or removal is held back: (reason, message). Reason
    /// `RollBlocked` means the roll waits on something outside the operator.
    pub blocked: Option<(&'static str, String)>,
    /// Kafka admin operations to run after the actions.
    pub admin_ops: Vec<AdminOp>,
    /// Why the spec cannot be carried out (`Degraded`): `(reason, message)`.
    pub degraded: Option<(&'static str, String)>,
    /// How this step's restarts are grouped, when rack-parallel rolls are on:
    /// `RackRoll` (a whole rack together) or `OneAtATime` (and why not a rack).
    pub roll_note: Option<(&'static str, String)>,
    /// Events a runtime adds for what it did around the actions (kube: the disruption
    /// budget narrowed for a rack step, and restored): (reason, note).
    pub notices: Vec<(&'static str, String)>,
    /// The KRaft voter change in progress (`QuorumResizing`): nothing restarts
    /// meanwhile.
    pub quorum: Option<quorum::Resizing>,
}

impl Plan {
    /// Ids of the nodes this plan removes, in order.
    pub fn removed_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.actions.iter().filter_map(|a| match a {
            Action::Remove { id, .. } => Some(*id),
            _ => None,
        })
    }

    /// The Event (reason, note) each changing action is reported with, in order; both
    /// runtimes record exactly these.
    pub fn events(&self, observed: &Observed) -> Vec<(&'static str, String)> {
        // The grouping note goes with the restarts it explains (not every waiting tick).
        let restarting = self.actions.iter().any(|a| matches!(a, Action::Restart(_)));
        let note = self.roll_note.iter().filter(|_| restarting).cloned();
        let config = self.admin_ops.iter().filter_map(|op| match op {
            AdminOp::AlterClusterConfigs(keys) => Some((
                "ConfigApplied",
                format!(
                    "applying dynamic broker config {} cluster-wide without a restart",
                    keys.iter()
                        .map(|(k, v)| match v {
                            Some(v) => format!("{k}={v}"),
                            None => format!("{k} (removed)"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => None,
        });
        note.chain(self.notices.iter().cloned())
            .chain(config)
            .chain(self.actions.iter().filter_map(|a| match a {
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
            }))
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

/// Plans the next step without a version upgrade in view.
pub fn plan(
    cluster: &ValidatedCluster,
    revisions: &BTreeMap<i32, String>,
    observed: &Observed,
) -> Plan {
    plan_with(cluster, revisions, observed, &Decision::default())
}

/// Plans the next step; `upgrade` is [`crate::roll::upgrade::decide`]'s answer.
pub fn plan_with(
    cluster: &ValidatedCluster,
    revisions: &BTreeMap<i32, String>,
    observed: &Observed,
    upgrade: &Decision,
) -> Plan {
    let mut out = Plan::default();
    if let Some(message) = voter_change(cluster, observed) {
        out.degraded = Some((VOTER_CHANGE_BLOCKED, message));
        return out;
    }
    let voters = quorum::step(cluster, observed);
    for node in &cluster.nodes {
        if !voters.hold_create.contains(&node.id) {
            out.actions.push(Action::Ensure(node.clone()));
        }
    }
    let desired_ids: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    // Highest ids go first, as scaling down removes the newest brokers.
    let snapshot = observed.admin.as_ref().and_then(|a| a.as_ref().ok());
    for (id, node) in observed.nodes.iter().rev() {
        if desired_ids.contains(id) || voters.hold_remove.contains(id) {
            continue;
        }
        // A removed voter's metadata log must not come back: a controller that left
        // the quorum (RemoveRaftVoter) is deleted with its state.
        let delete_storage = cluster.storage.delete_claim_on_scale_down
            || (*id >= CONTROLLER_ID_BASE && cluster.quorum_seed.is_some());
        let hosted = snapshot.map(|s| s.hosted_replicas.get(id).copied().unwrap_or(0));
        match hosted {
            Some(0) => out.actions.push(Action::Remove {
                id: *id,
                delete_storage,
            }),
            // A node that never registered (or a controller) hosts nothing it could lose.
            None if !node.ready => out.actions.push(Action::Remove {
                id: *id,
                delete_storage,
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
    if voters.resizing.is_some() {
        // One change at a time: restarts wait until the voter set matches the spec.
        out.admin_ops.extend(voters.op);
        out.quorum = voters.resizing;
        return out;
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
    out.degraded.clone_from(&upgrade.stalled);
    if let Some(refusal) = &upgrade.refuse {
        // Nothing restarts on a spec that cannot be carried out.
        out.degraded = Some(refusal.clone());
        return out;
    }
    let upgrading = upgrade
        .status
        .as_ref()
        .is_some_and(|u| u.phase != crate::crd::UpgradePhase::Done);
    let defer_elections = gate::defer_preferred_elections(upgrading, snapshot);
    if let Some(next) = pick_restart(&stale, observed) {
        let (group, note) = rack_group(cluster, next, &stale, observed);
        out.roll_note = note;
        match restart_gate(cluster, &group, observed) {
            Err(Hold::ElectPreferred(_)) if defer_elections => out
                .actions
                .extend(group.iter().map(|n| Action::Restart((*n).clone()))),
            Ok(()) => out
                .actions
                .extend(group.iter().map(|n| Action::Restart((*n).clone()))),
            Err(Hold::Blocked { message, .. }) => out.blocked = Some(("RollBlocked", message)),
            Err(Hold::Settling(message)) => out.blocked = Some(("Rolling", message)),
            Err(Hold::ElectPreferred(parts)) => {
                out.admin_ops.push(AdminOp::ElectPreferredLeaders);
                out.blocked = Some((
                    "Rolling",
                    format!(
                        "restoring preferred leaders ({} partitions) before restarting node {}",
                        parts.len(),
                        group
                            .iter()
                            .map(|n| n.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    } else if let Some(Ok(s)) = observed.admin.as_ref()
        && s.under_replicated_partitions == 0
        && !defer_elections
        && !gate::not_on_preferred_leader(&s.partitions).is_empty()
    {
        // After the last restart (and after any broker came back): leaderships go home,
        // as Kafka's auto.leader.rebalance does.
        out.admin_ops.push(AdminOp::ElectPreferredLeaders);
    }
    if let Some(level) = upgrade.finalize {
        out.admin_ops.push(AdminOp::FinalizeMetadataVersion(level));
    }
    if let Some(current) = snapshot.and_then(|s| s.cluster_configs.as_ref()) {
        let changes = dynamic::cluster_config_changes(&cluster.config, current);
        if !changes.is_empty() {
            out.admin_ops.push(AdminOp::AlterClusterConfigs(changes));
        }
    }
    out
}

/// The nodes to restart together with `next`: with `spec.rollout.parallelRacks`, every
/// stale ready broker-only node of `next`'s rack when restarting them together keeps
/// every partition at `min.insync.replicas` in the other racks; else `next` alone.
/// Controllers and combined nodes always go alone (a quorum loses a voter at a time).
/// The note says which, and why not a rack.
fn rack_group<'a>(
    cluster: &ValidatedCluster,
    next: &'a NodeSpec,
    stale: &[&'a NodeSpec],
    observed: &Observed,
) -> (Vec<&'a NodeSpec>, Option<(&'static str, String)>) {
    let ready = |n: &NodeSpec| observed.nodes.get(&n.id).is_some_and(|o| o.ready);
    let alone = vec![next];
    if !cluster.parallel_racks || next.role != Role::Broker || !ready(next) {
        return (alone, None);
    }
    let Some(rack) = next.rack.as_deref() else {
        return (
            alone,
            Some((
                "OneAtATime",
                format!("restarting node {} alone: it has no rack", next.id),
            )),
        );
    };
    let group: Vec<&NodeSpec> = stale
        .iter()
        .copied()
        .filter(|n| n.role == Role::Broker && n.rack.as_deref() == Some(rack) && ready(n))
        .collect();
    if group.len() < 2 {
        return (alone, None);
    }
    let ids: BTreeSet<i32> = group.iter().map(|n| n.id).collect();
    let listed = ids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match observed.admin.as_ref() {
        Some(Ok(s)) => {
            let blockers = gate::restart_blockers(&ids, &s.partitions);
            if blockers.is_empty() {
                (
                    group,
                    Some((
                        "RackRoll",
                        format!("restarting the brokers of rack {rack} together: {listed}"),
                    )),
                )
            } else {
                let shown: Vec<&str> = blockers.iter().take(5).map(String::as_str).collect();
                (
                    alone,
                    Some((
                        "OneAtATime",
                        format!(
                            "restarting node {} alone: restarting rack {rack} ({listed}) together would leave {} partition(s) below min.insync.replicas outside it ({}{})",
                            next.id,
                            blockers.len(),
                            shown.join(", "),
                            if blockers.len() > shown.len() {
                                ", ..."
                            } else {
                                ""
                            }
                        ),
                    )),
                )
            }
        }
        // Unreadable metadata: the gate blocks every restart anyway.
        _ => (alone, None),
    }
}

/// Whether `group` may restart now. A lone node that is not ready is down anyway: only
/// the in-sync rule applies to it (so a crash-looping new version can be rolled back);
/// ready nodes also wait for every other node and for the cluster to settle.
fn restart_gate(
    cluster: &ValidatedCluster,
    group: &[&NodeSpec],
    observed: &Observed,
) -> Result<(), Hold> {
    let nodes: BTreeSet<i32> = group.iter().map(|n| n.id).collect();
    let admin = observed.admin.as_ref();
    let Some(Ok(s)) = admin else {
        return gate::check(admin, &nodes, &[]);
    };
    if !gate::restart_blockers(&nodes, &s.partitions).is_empty() {
        return gate::check(admin, &nodes, &[]);
    }
    if let [next] = group
        && !observed.nodes.get(&next.id).is_some_and(|o| o.ready)
    {
        return Ok(());
    }
    let waiting: Vec<i32> = cluster
        .nodes
        .iter()
        .filter(|n| !nodes.contains(&n.id))
        .filter(|n| !observed.nodes.get(&n.id).is_some_and(|o| o.ready))
        .map(|n| n.id)
        .collect();
    if !waiting.is_empty() {
        return Err(Hold::Settling(format!(
            "restart of node {} waits until node {} is ready",
            nodes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            waiting
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let brokers: Vec<i32> = cluster.brokers().map(|n| n.id).collect();
    gate::check(observed.admin.as_ref(), &nodes, &brokers)
}

/// Which stale node restarts first: a node that is not ready anyway (restarting it costs
/// nothing), then dedicated controllers before brokers (Kafka's upgrade order), the
/// active controller last among them; combined nodes and brokers after, the active
/// controller's node last; then by id.
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
            Role::Combined | Role::Broker => 1,
        };
        (ready, role_rank, active == Some(n.id), n.id)
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plan_rack_tests.rs"]
mod rack_tests;
