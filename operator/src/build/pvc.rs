//! A node's PersistentVolumeClaim (the broker's log directory), and whose data a claim
//! holds.
//!
//! Claims outlive their `KafkaCluster` unless `storage.deleteClaim` is true: without an
//! owner reference the garbage collector leaves them, as Strimzi (`deleteClaim: false`)
//! and StatefulSets (`whenDeleted: Retain`) do. Each claim records the Kafka cluster id
//! its data is formatted with in [`CLUSTER_ID_ANNOTATION`], so that id outlives the
//! `KafkaCluster` (and its status) with the data: a cluster re-created over retained
//! claims adopts it ([`adopt`]), and a claim of another id is never given to a broker
//! (whose `format` would refuse it anyway). Pure: the kube runtime reads the claims and
//! applies what this module decides.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{NODE_ID_LABEL, cluster_id, node_labels, owned_meta};
use crate::validate::{NodeSpec, ValidatedCluster};

/// Annotation on every claim: the Kafka cluster id its data is formatted with.
pub const CLUSTER_ID_ANNOTATION: &str = "tidewater.io/cluster-id";

/// Claim name: `data-<pod>`, the name a StatefulSet would give it.
pub fn claim_name(c: &ValidatedCluster, n: &NodeSpec) -> String {
    format!("data-{}", n.name(&c.name))
}

/// A node's claim: owned by the cluster only when `storage.deleteClaim` is true, always
/// labelled with the cluster and node id and annotated with the cluster id.
pub fn claim(c: &ValidatedCluster, n: &NodeSpec) -> PersistentVolumeClaim {
    let mut metadata = owned_meta(c, claim_name(c, n), node_labels(c, n));
    if !c.storage.delete_claim {
        // Server-side apply drops the reference this field manager set earlier, so
        // turning deleteClaim off on a live cluster releases its claims.
        metadata.owner_references = None;
    }
    metadata.annotations = Some(BTreeMap::from([(
        CLUSTER_ID_ANNOTATION.to_owned(),
        cluster_id(c),
    )]));
    PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: c.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(c.storage.size.clone()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// A claim carrying the cluster's labels, as read back from the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedClaim {
    /// Claim name.
    pub name: String,
    /// Node id from its [`NODE_ID_LABEL`].
    pub node_id: Option<i32>,
    /// Cluster id from its [`CLUSTER_ID_ANNOTATION`] (absent on claims made before the
    /// annotation existed: those are annotated with the cluster's id on the next apply).
    pub cluster_id: Option<String>,
}

impl ObservedClaim {
    /// What matters of a listed claim.
    pub fn from_claim(pvc: &PersistentVolumeClaim) -> Self {
        let meta = &pvc.metadata;
        Self {
            name: meta.name.clone().unwrap_or_default(),
            node_id: meta
                .labels
                .as_ref()
                .and_then(|l| l.get(NODE_ID_LABEL))
                .and_then(|v| v.parse().ok()),
            cluster_id: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(CLUSTER_ID_ANNOTATION))
                .filter(|id| !id.is_empty())
                .cloned(),
        }
    }
}

/// A retained claim the cluster cannot use as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimConflict {
    /// A desired node's claim holds data of another cluster id: the node is not started
    /// and the claim is not touched.
    OtherCluster {
        /// Claim name.
        claim: String,
        /// The node that would mount it.
        node_id: i32,
        /// Cluster id on the claim.
        found: String,
        /// This cluster's id.
        expected: String,
    },
    /// A claim of a node the spec no longer has: nothing mounts it, nothing deletes it.
    RemovedNode {
        /// Claim name.
        claim: String,
        /// Node id on its label.
        node_id: i32,
        /// Cluster id on the claim, when annotated.
        cluster_id: Option<String>,
    },
}

/// What the retained claims say about the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    /// Cluster id to run with: the known one ([`ValidatedCluster::cluster_id`]), else
    /// the one the claims carry; `None` when neither exists (a new cluster).
    pub cluster_id: Option<String>,
    /// Claims the cluster cannot use, in claim name order.
    pub conflicts: Vec<ClaimConflict>,
}

impl Adoption {
    /// Node ids that must not start: their claim holds another cluster's data.
    pub fn blocked_nodes(&self) -> impl Iterator<Item = i32> + '_ {
        self.conflicts.iter().filter_map(|k| match k {
            ClaimConflict::OtherCluster { node_id, .. } => Some(*node_id),
            ClaimConflict::RemovedNode { .. } => None,
        })
    }
}

/// Decides the cluster id and the unusable claims. A known id (the status) wins;
/// otherwise the id most claims carry, ties going to the claim of the lowest node id, so
/// a re-created cluster starts on the data it finds and every run decides the same.
pub fn adopt(c: &ValidatedCluster, claims: &[ObservedClaim]) -> Adoption {
    let cluster_id = c.cluster_id.clone().or_else(|| majority_id(claims));
    let desired: BTreeMap<String, i32> = c.nodes.iter().map(|n| (claim_name(c, n), n.id)).collect();
    let mut sorted: Vec<&ObservedClaim> = claims.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut conflicts = Vec::new();
    for k in sorted {
        match desired.get(&k.name) {
            Some(&node_id) => {
                if let (Some(found), Some(expected)) = (&k.cluster_id, &cluster_id)
                    && found != expected
                {
                    conflicts.push(ClaimConflict::OtherCluster {
                        claim: k.name.clone(),
                        node_id,
                        found: found.clone(),
                        expected: expected.clone(),
                    });
                }
            }
            None => {
                if let Some(node_id) = k.node_id {
                    conflicts.push(ClaimConflict::RemovedNode {
                        claim: k.name.clone(),
                        node_id,
                        cluster_id: k.cluster_id.clone(),
                    });
                }
            }
        }
    }
    Adoption {
        cluster_id,
        conflicts,
    }
}

fn majority_id(claims: &[ObservedClaim]) -> Option<String> {
    // id -> (claims carrying it, lowest node id among them)
    let mut votes: BTreeMap<&str, (usize, i32)> = BTreeMap::new();
    for k in claims {
        if let Some(id) = &k.cluster_id {
            let node = k.node_id.unwrap_or(i32::MAX);
            let v = votes.entry(id).or_insert((0, node));
            v.0 += 1;
            v.1 = v.1.min(node);
        }
    }
    votes
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map(|(id, _)| id.to_owned())
}

#[cfg(test)]
#[path = "pvc_tests.rs"]
mod tests;
