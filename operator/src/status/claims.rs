//! Conditions about retained claims: a claim holding another cluster's data (the node
//! that would mount it is not started: `Degraded`), and claims of nodes the spec no
//! longer has (kept, unused: `ClaimsRetained`). Each message names the claims and the
//! two ways out, as commands a user can paste. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions::{DEGRADED, Desired};
use crate::build::pvc::ClaimConflict;
use crate::validate::ValidatedCluster;

/// `ClaimsRetained`: claims of nodes the spec no longer has exist; nothing mounts them.
pub const CLAIMS_RETAINED: &str = "ClaimsRetained";
/// `Degraded` reason: a node's claim holds another cluster's data.
pub const CLAIM_OF_ANOTHER_CLUSTER: &str = "ClaimOfAnotherCluster";

/// `Degraded=True` when a desired node's claim holds another cluster id's data.
pub fn other_cluster(c: &ValidatedCluster, conflicts: &[ClaimConflict]) -> Option<Desired> {
    let parts: Vec<String> = conflicts
        .iter()
        .filter_map(|k| match k {
            ClaimConflict::OtherCluster {
                claim,
                node_id,
                found,
                expected,
            } => Some(format!(
                "claim {claim} holds data of Kafka cluster {found}, not this cluster's \
                 {expected}: node {node_id} is not started on it and the claim is left as \
                 it is. To discard that data: kubectl delete pvc {claim} -n {ns} (an empty \
                 claim is then created). To run this cluster on it instead, restore its \
                 old id: kubectl patch kafkacluster {name} -n {ns} --subresource=status \
                 --type=merge -p '{{\"status\":{{\"clusterId\":\"{found}\"}}}}'",
                ns = c.namespace,
                name = c.name,
            )),
            ClaimConflict::RemovedNode { .. } => None,
        })
        .collect();
    (!parts.is_empty())
        .then(|| Desired::new(DEGRADED, true, CLAIM_OF_ANOTHER_CLUSTER, parts.join("; ")))
}

/// `ClaimsRetained`: `True` while claims of removed nodes exist, `False` once they are
/// gone; absent on a cluster that never had any.
pub fn retained(
    c: &ValidatedCluster,
    conflicts: &[ClaimConflict],
    previous: &[Condition],
) -> Option<Desired> {
    let removed: Vec<String> = conflicts
        .iter()
        .filter_map(|k| match k {
            ClaimConflict::RemovedNode {
                claim,
                node_id,
                cluster_id,
            } => Some(match cluster_id {
                Some(id) => format!("{claim} (node {node_id}, cluster id {id})"),
                None => format!("{claim} (node {node_id})"),
            }),
            ClaimConflict::OtherCluster { .. } => None,
        })
        .collect();
    if removed.is_empty() {
        return previous
            .iter()
            .any(|p| p.type_ == CLAIMS_RETAINED)
            .then(|| {
                Desired::new(
                    CLAIMS_RETAINED,
                    false,
                    "NoUnusedClaims",
                    "every claim of the cluster belongs to one of its nodes",
                )
            });
    }
    let names: Vec<&str> = conflicts
        .iter()
        .filter_map(|k| match k {
            ClaimConflict::RemovedNode { claim, .. } => Some(claim.as_str()),
            ClaimConflict::OtherCluster { .. } => None,
        })
        .collect();
    Some(Desired::new(
        CLAIMS_RETAINED,
        true,
        "ClaimsOfRemovedNodes",
        format!(
            "claims of nodes this spec does not have are kept, unused: {}. Their data is \
             never formatted over or deleted by the operator (storage.deleteClaimOnScaleDown \
             is false, or they outlived an earlier cluster of this name). Scale the \
             cluster back out to use them again, or delete them: kubectl delete pvc -n {} {}",
            removed.join(", "),
            c.namespace,
            names.join(" ")
        ),
    ))
}
