//! status: the `KafkaCluster` status both runtimes publish, computed from the validated
//! spec (or why it is invalid), what was observed, and the plan. Pure: the clock is an
//! argument.

pub mod claims;
pub mod conditions;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use tidewater_client::{METADATA_VERSION_FEATURE, metadata_version_name};

use crate::build::pvc::ClaimConflict;
use crate::crd::{BrokerStatus, ControllerStatus, KafkaClusterStatus};
use crate::observed::Observed;
use crate::plan::{Action, Plan};
use crate::quorum::QUORUM_RESIZING;
use crate::validate::{InvalidSpec, ValidatedCluster};
use conditions::{DEGRADED, Desired, PROGRESSING, READY, merge};

/// Status of a cluster whose spec is invalid: everything observed before stays as it
/// was; `Degraded` says which fields are wrong.
pub fn invalid(
    previous: Option<&KafkaClusterStatus>,
    generation: Option<i64>,
    error: &InvalidSpec,
    now: &Time,
) -> KafkaClusterStatus {
    let mut s = previous.cloned().unwrap_or_default();
    let mut desired = vec![Desired::new(
        DEGRADED,
        true,
        "InvalidSpec",
        format!("{error}; nothing was changed"),
    )];
    if s.conditions.is_empty() {
        desired.push(Desired::new(
            READY,
            false,
            "InvalidSpec",
            "the spec is invalid",
        ));
        desired.push(Desired::new(
            PROGRESSING,
            false,
            "InvalidSpec",
            "the spec is invalid",
        ));
    }
    s.conditions = merge(&s.conditions, &desired, generation, now);
    s.observed_generation = generation;
    s
}

/// Status of a paused cluster: conditions other than `Progressing` are kept.
pub fn paused(
    previous: Option<&KafkaClusterStatus>,
    generation: Option<i64>,
    now: &Time,
) -> KafkaClusterStatus {
    let mut s = previous.cloned().unwrap_or_default();
    s.conditions = merge(
        &s.conditions,
        &[Desired::new(
            PROGRESSING,
            false,
            "Paused",
            "spec.paused is true: the operator changes nothing",
        )],
        generation,
        now,
    );
    s.observed_generation = generation;
    s
}

/// Marks a status `Degraded=True reason ApplyFailed`: the runtime could not carry out
/// the plan (an API server refusal, a process that cannot be started).
pub fn apply_failed(s: &mut KafkaClusterStatus, error: &str, now: &Time) {
    s.conditions = merge(
        &s.conditions,
        &[Desired::new(DEGRADED, true, "ApplyFailed", error)],
        s.observed_generation,
        now,
    );
}

/// Inputs of [`compute`] besides the clock.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The validated spec.
    pub cluster: &'a ValidatedCluster,
    /// What the runtime and the admin client saw.
    pub observed: &'a Observed,
    /// What this reconcile does.
    pub plan: &'a Plan,
    /// Status before this reconcile.
    pub previous: Option<&'a KafkaClusterStatus>,
    /// `bootstrap.servers` of the operator's admin client.
    pub bootstrap_servers: String,
    /// Where clients reach each listener.
    pub listeners: Vec<crate::crd::ListenerStatus>,
    /// Cluster id the nodes were formatted with.
    pub cluster_id: String,
    /// Retained claims the cluster cannot use (kube runtime; none locally).
    pub claim_conflicts: &'a [ClaimConflict],
}

/// Status after a reconcile of a valid spec.
pub fn compute(i: &Inputs<'_>, now: &Time) -> KafkaClusterStatus {
    let c = i.cluster;
    let obs = i.observed;
    let was_ready = |id: i32| {
        i.previous
            .is_some_and(|p| p.brokers.iter().any(|b| b.id == id && b.ready))
    };
    let brokers: Vec<BrokerStatus> = c
        .nodes
        .iter()
        .map(|n| {
            let o = obs.nodes.get(&n.id);
            BrokerStatus {
                id: n.id,
                rack: n.rack.clone(),
                version: o.and_then(|o| o.version.clone()),
                ready: o.is_some_and(|o| o.ready),
                pod: o.map(|o| o.name.clone()),
            }
        })
        .collect();
    let not_ready: Vec<i32> = brokers.iter().filter(|b| !b.ready).map(|b| b.id).collect();
    let admin = obs.admin.as_ref();
    let snapshot = admin.and_then(|a| a.as_ref().ok());

    let (ready, ready_reason, ready_message) = if !not_ready.is_empty() {
        (
            false,
            "NodesNotReady",
            format!("nodes not ready: {}", ids(&not_ready)),
        )
    } else {
        match admin {
            None => (
                false,
                "AdminUnavailable",
                "no Kafka metadata read yet".to_owned(),
            ),
            Some(Err(e)) => (
                false,
                "AdminUnavailable",
                format!("reading Kafka metadata: {e}"),
            ),
            Some(Ok(s)) => {
                let unregistered: Vec<i32> = c
                    .brokers()
                    .map(|n| n.id)
                    .filter(|id| !s.registered.contains(id))
                    .collect();
                if !unregistered.is_empty() {
                    (
                        false,
                        "BrokersNotRegistered",
                        format!("brokers not registered: {}", ids(&unregistered)),
                    )
                } else if s.offline_partitions > 0 {
                    (
                        false,
                        "OfflinePartitions",
                        format!("{} partitions have no leader", s.offline_partitions),
                    )
                } else if s.under_replicated_partitions > 0 {
                    (
                        false,
                        "UnderReplicatedPartitions",
                        format!(
                            "{} partitions are under-replicated",
                            s.under_replicated_partitions
                        ),
                    )
                } else if i.plan.changes(obs) || i.plan.blocked.is_some() || i.plan.quorum.is_some()
                {
                    (
                        false,
                        "Reconciling",
                        "the operator is changing the cluster".to_owned(),
                    )
                } else {
                    (
                        true,
                        "Ready",
                        format!(
                            "{} brokers registered, all partitions fully replicated",
                            s.registered.len()
                        ),
                    )
                }
            }
        }
    };

    let (progressing, progress_reason, progress_message) = progress(i);

    let problems: Vec<String> = c
        .nodes
        .iter()
        .filter_map(|n| {
            let o = obs.nodes.get(&n.id)?;
            let (reason, message) = o.problem.as_ref()?;
            Some(format!("node {} {reason}: {message}", n.id))
        })
        .collect();
    let first_problem_reason = c
        .nodes
        .iter()
        .find_map(|n| obs.nodes.get(&n.id)?.problem.as_ref().map(|p| p.0.clone()));
    let lost: Vec<i32> = not_ready
        .iter()
        .copied()
        .filter(|id| was_ready(*id))
        .collect();
    // A claim of another cluster comes first: only the user can resolve it.
    let degraded = if let Some(d) = claims::other_cluster(c, i.claim_conflicts) {
        d
    } else if let Some((reason, message)) = &i.plan.degraded {
        Desired::new(DEGRADED, true, reason, message.clone())
    } else if let Some(reason) = first_problem_reason {
        Desired::new(DEGRADED, true, &reason, problems.join("; "))
    } else if !lost.is_empty() {
        Desired::new(
            DEGRADED,
            true,
            "NodesNotReady",
            format!("nodes no longer ready: {}", ids(&lost)),
        )
    } else if snapshot.is_some_and(|s| s.offline_partitions > 0) {
        Desired::new(DEGRADED, true, "OfflinePartitions", ready_message.clone())
    } else {
        Desired::new(DEGRADED, false, "AsExpected", "")
    };

    let previous_conditions = i.previous.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    let generation = c.generation;
    let mut desired = vec![
        Desired::new(READY, ready, ready_reason, ready_message),
        Desired::new(PROGRESSING, progressing, progress_reason, progress_message),
        degraded,
    ];
    desired.extend(claims::retained(c, i.claim_conflicts, previous_conditions));
    desired.extend(quorum_resizing(i, previous_conditions));
    let conditions = merge(previous_conditions, &desired, generation, now);
    let versions: std::collections::BTreeSet<&String> =
        brokers.iter().filter_map(|b| b.version.as_ref()).collect();
    KafkaClusterStatus {
        observed_generation: generation,
        conditions,
        cluster_id: Some(i.cluster_id.clone()),
        version: match (versions.len(), not_ready.is_empty()) {
            (1, true) => versions.into_iter().next().cloned(),
            _ => i.previous.and_then(|p| p.version.clone()),
        },
        metadata_version: match admin {
            Some(Ok(s)) => metadata_version(&s.finalized_features),
            // Unreadable right now: the last known level still holds.
            _ => i.previous.and_then(|p| p.metadata_version.clone()),
        },
        // The caller sets it from the upgrade decision; until then the last one holds.
        upgrade: i.previous.and_then(|p| p.upgrade.clone()),
        brokers,
        controller: snapshot.map(|s| ControllerStatus {
            active_id: s.controller,
            voters: s.voters.iter().copied().collect(),
        }),
        // The first client listener's: on a secured cluster the admin client's own
        // listener is not for clients.
        bootstrap_servers: Some(i.listeners.first().map_or_else(
            || i.bootstrap_servers.clone(),
            |l| l.bootstrap_servers.clone(),
        )),
        listeners: i.listeners.clone(),
        // Owned by `crate::rebalance`, which updates it after this computation.
        rebalance: i.previous.and_then(|p| p.rebalance.clone()),
    }
}

/// `status.metadataVersion` from finalized features: Kafka's name for the level
/// (`3.9-IV0`), or the bare level for one newer than this operator knows. `None` when
/// the cluster reports no `metadata.version`.
pub fn metadata_version(features: &BTreeMap<String, i16>) -> Option<String> {
    let level = *features.get(METADATA_VERSION_FEATURE)?;
    Some(metadata_version_name(level).map_or_else(|| level.to_string(), str::to_owned))
}

/// `QuorumResizing` while the voter set changes (KIP-853), naming the voter; `False`
/// once it matches the spec again. Absent on a cluster whose voters never changed.
fn quorum_resizing(i: &Inputs<'_>, previous: &[Condition]) -> Option<Desired> {
    if let Some(r) = &i.plan.quorum {
        return Some(Desired::new(
            QUORUM_RESIZING,
            true,
            r.reason,
            r.message.clone(),
        ));
    }
    let was = previous.iter().any(|c| c.type_ == QUORUM_RESIZING);
    let voters = i
        .observed
        .admin
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .map(|s| s.voters.iter().copied().collect::<Vec<_>>())
        .filter(|v| !v.is_empty())?;
    was.then(|| {
        Desired::new(
            QUORUM_RESIZING,
            false,
            "VotersMatchSpec",
            format!("the KRaft voters are {}", ids(&voters)),
        )
    })
}

fn progress(i: &Inputs<'_>) -> (bool, &'static str, String) {
    let obs = i.observed;
    let mut creating = Vec::new();
    let mut restarting = Vec::new();
    let mut removing = Vec::new();
    for a in &i.plan.actions {
        match a {
            Action::Ensure(n) if !obs.nodes.contains_key(&n.id) => creating.push(n.id),
            Action::Ensure(_) => {}
            Action::Restart(n) => restarting.push(n.id),
            Action::Remove { id, .. } => removing.push(*id),
        }
    }
    if !creating.is_empty() {
        (
            true,
            "Creating",
            format!("creating nodes {}", ids(&creating)),
        )
    } else if !restarting.is_empty() {
        match &i.plan.roll_note {
            // Rack-parallel rolls say how this step is grouped, and why not a rack.
            Some((reason, note)) => (true, *reason, note.clone()),
            None => (
                true,
                "RollingRestart",
                format!("restarting node {}", ids(&restarting)),
            ),
        }
    } else if let Some(r) = &i.plan.quorum {
        (true, QUORUM_RESIZING, r.message.clone())
    } else if !removing.is_empty() {
        (
            true,
            "ScalingDown",
            format!("removing nodes {}", ids(&removing)),
        )
    } else if let Some((reason, why)) = &i.plan.blocked {
        // A blocked roll is not progressing (it resumes by itself once the cause clears).
        (*reason != "RollBlocked", *reason, why.clone())
    } else if obs.nodes.values().any(|o| !o.ready) {
        (
            true,
            "WaitingForNodes",
            "waiting for nodes to become ready".to_owned(),
        )
    } else {
        (
            false,
            "Reconciled",
            "the cluster matches its spec".to_owned(),
        )
    }
}

fn ids(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
