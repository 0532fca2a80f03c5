//! Staged version upgrades, as KRaft Kafka does them by hand: roll every node onto the
//! new build while the cluster keeps its finalized `metadata.version`, then, once all
//! nodes run it and the cluster has stayed healthy for the soak time, finalize the new
//! level (UpdateFeatures), unless `spec.metadataVersion` pins a lower one. Pure: the
//! clock and the previous status are inputs; the runtimes execute the decision.
//!
//! Refusals change nothing: a version missing from the catalog (`UnknownVersion`), or
//! one that cannot run the finalized level (`DowngradeBlocked`).

use k8s_openapi::jiff::Timestamp;
use tidewater_client::{METADATA_VERSION_FEATURE, metadata_version_name};

use super::catalog::{Catalog, level_of};
use crate::crd::{UpgradePhase, UpgradeStatus};
use crate::observed::Observed;
use crate::validate::ValidatedCluster;

/// What the upgrade logic wants this reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// `(reason, message)` for `Degraded`: the spec cannot be applied and no node is
    /// restarted.
    pub refuse: Option<(&'static str, String)>,
    /// Finalize this `metadata.version` level now.
    pub finalize: Option<i16>,
    /// `(reason, message)` for `Degraded` while the roll goes on being held: a node on
    /// the new version does not get ready (`UpgradeStalled`).
    pub stalled: Option<(&'static str, String)>,
    /// `status.upgrade`.
    pub status: Option<UpgradeStatus>,
}

/// Inputs of [`decide`].
#[derive(Debug)]
pub struct Inputs<'a> {
    /// Desired cluster.
    pub cluster: &'a ValidatedCluster,
    /// What the runtime and admin client saw.
    pub observed: &'a Observed,
    /// `status.upgrade` before this reconcile.
    pub previous: Option<&'a UpgradeStatus>,
    /// `status.version` before this reconcile (what the nodes ran when it started).
    pub previous_version: Option<&'a str>,
    /// `status.metadataVersion` before this reconcile, used when metadata is unreadable.
    pub previous_metadata_version: Option<&'a str>,
    /// The versions catalog.
    pub catalog: &'a Catalog,
}

fn name(level: i16) -> String {
    metadata_version_name(level).map_or_else(|| level.to_string(), str::to_owned)
}

/// [`decide`] with the inputs a reconcile has: the status before it.
pub fn decide_from_status(
    cluster: &ValidatedCluster,
    observed: &Observed,
    previous: Option<&crate::crd::KafkaClusterStatus>,
    catalog: &Catalog,
    now: Timestamp,
) -> Decision {
    decide(
        &Inputs {
            cluster,
            observed,
            previous: previous.and_then(|p| p.upgrade.as_ref()),
            previous_version: previous.and_then(|p| p.version.as_deref()),
            previous_metadata_version: previous.and_then(|p| p.metadata_version.as_deref()),
            catalog,
        },
        now,
    )
}

/// Decides the upgrade step for this reconcile.
pub fn decide(i: &Inputs<'_>, now: Timestamp) -> Decision {
    let c = i.cluster;
    let Some(target) = i.catalog.get(&c.version) else {
        let known: Vec<&str> = i.catalog.versions().collect();
        return Decision {
            refuse: Some((
                "UnknownVersion",
                format!(
                    "spec.version {} is not a version this operator can run (known: {}); nothing was restarted",
                    c.version,
                    known.join(", ")
                ),
            )),
            status: i.previous.cloned(),
            ..Decision::default()
        };
    };
    let snapshot = i.observed.admin.as_ref().and_then(|a| a.as_ref().ok());
    // What the brokers report, else (unreadable, or a broker that reports none) the
    // level recorded in status: a refusal must not depend on a lucky read.
    let finalized = snapshot
        .and_then(|s| s.finalized_features.get(METADATA_VERSION_FEATURE).copied())
        .or_else(|| i.previous_metadata_version.and_then(level_of));
    if let Some(level) = finalized
        && target.metadata_version < level
    {
        return Decision {
            refuse: Some((
                "DowngradeBlocked",
                format!(
                    "metadata.version is finalized at {}; version {} supports up to {}, so the cluster cannot go back to it; nothing was restarted",
                    name(level),
                    c.version,
                    name(target.metadata_version)
                ),
            )),
            status: i.previous.cloned(),
            ..Decision::default()
        };
    }
    let pin = c.metadata_version_pin.as_deref().and_then(level_of);
    let wanted = pin.map_or(target.metadata_version, |p| p.min(target.metadata_version));
    let total = c.nodes.len();
    let done = c
        .nodes
        .iter()
        .filter(|n| {
            i.observed
                .nodes
                .get(&n.id)
                .is_some_and(|o| o.ready && o.version.as_deref() == Some(&c.version))
        })
        .count();
    let from = match i.previous {
        Some(u) if u.to == c.version => u.from.clone(),
        _ => i
            .previous_version
            .map_or_else(|| c.version.clone(), str::to_owned),
    };
    let base = UpgradeStatus {
        from,
        to: c.version.clone(),
        phase: UpgradePhase::Rolling,
        nodes_done: i32::try_from(done).unwrap_or(i32::MAX),
        nodes: i32::try_from(total).unwrap_or(i32::MAX),
        soak_started_at: None,
        metadata_version: Some(name(wanted)),
    };
    // A node on the new version that crashes (or cannot pull its image) stops the
    // roll: the gate waits for it to be ready, and status says how to get out.
    let stalled = c.nodes.iter().find_map(|n| {
        let o = i.observed.nodes.get(&n.id)?;
        let (reason, message) = o.problem.as_ref()?;
        (o.version.as_deref() == Some(&c.version) && base.from != base.to).then(|| {
            (
                "UpgradeStalled",
                format!(
                    "node {} on version {} is not getting ready ({reason}: {message}); the roll stopped after it; set spec.version back to {} to roll it back",
                    n.id, c.version, base.from
                ),
            )
        })
    });
    if stalled.is_some() {
        return Decision {
            stalled,
            status: Some(base),
            ..Decision::default()
        };
    }
    // A cluster that was never upgraded shows no upgrade while it is created.
    let shown = |u: UpgradeStatus| (i.previous.is_some() || u.from != u.to).then_some(u);
    if done < total {
        return Decision {
            status: shown(base),
            ..Decision::default()
        };
    }
    if finalized.is_some_and(|f| f >= wanted) {
        return Decision {
            status: shown(UpgradeStatus {
                phase: UpgradePhase::Done,
                ..base
            }),
            ..Decision::default()
        };
    }
    let healthy = snapshot.is_some_and(|s| {
        s.offline_partitions == 0
            && s.under_replicated_partitions == 0
            && c.brokers().all(|n| s.registered.contains(&n.id))
    });
    if !healthy {
        return Decision {
            status: Some(UpgradeStatus {
                phase: UpgradePhase::Soaking,
                ..base
            }),
            ..Decision::default()
        };
    }
    let started = i
        .previous
        .filter(|u| u.to == c.version)
        .and_then(|u| u.soak_started_at.clone())
        .unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
    let soaked = now.duration_since(started.0).as_secs() >= i64::from(c.soak_seconds).max(0);
    Decision {
        finalize: soaked.then_some(wanted),
        status: Some(UpgradeStatus {
            phase: if soaked {
                UpgradePhase::Finalizing
            } else {
                UpgradePhase::Soaking
            },
            soak_started_at: Some(started),
            ..base
        }),
        ..Decision::default()
    }
}

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;
