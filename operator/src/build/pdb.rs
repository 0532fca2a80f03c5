//! The cluster's PodDisruptionBudget: voluntary disruptions (node drains) take at most
//! one node at a time, so a partition with RF 3 and min.insync.replicas 2 stays
//! writable.
//!
//! The budget is an integer `minAvailable` (every node but one), never `maxUnavailable`:
//! Kubernetes computes `maxUnavailable` from the scale of the pods' controller, and the
//! `KafkaCluster` that owns them has no scale subresource, so the disruption controller
//! would allow no disruption at all and every drain would hang.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{owned_meta, selector_labels};
use crate::validate::ValidatedCluster;

/// Budget name: `<cluster>-kafka`.
pub fn budget_name(c: &ValidatedCluster) -> String {
    format!("{}-kafka", c.name)
}

/// The budget over every node of the cluster.
pub fn budget(c: &ValidatedCluster) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owned_meta(c, budget_name(c), selector_labels(c)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min_available(c))),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(c)),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

/// Every node of the cluster but one (0 for a single node: it may always be drained).
fn min_available(c: &ValidatedCluster) -> i32 {
    i32::try_from(c.nodes.len().saturating_sub(1)).unwrap_or(i32::MAX)
}
