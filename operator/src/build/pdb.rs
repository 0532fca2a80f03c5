//! The cluster's PodDisruptionBudget: voluntary disruptions (node drains) take at most
//! one node at a time, so a partition with RF 3 and min.insync.replicas 2 stays
//! writable.

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
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(c)),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}
