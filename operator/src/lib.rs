//! The Tidewater operator: the `KafkaCluster` API, its reconciler, and the runtimes
//! (`kube` and `local`) that turn a plan into running brokers.
//!
//! Pipeline (both runtimes): observe -> [`validate`] -> [`plan`] (pure) -> apply.
//! [`build`] renders Kubernetes objects; [`placement`] decides zones; [`status`]
//! computes the status object both runtimes publish.

pub mod admin;
pub mod build;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod identity;
pub mod kafka_ops;
pub mod lease;
pub mod metrics;
pub mod observed;
pub mod pki;
pub mod placement;
pub mod plan;
pub mod quorum;
pub mod quorum_ops;
pub mod rebalance;
pub mod reconcile;
pub mod render;
pub mod roll;
pub mod runtime;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod user;
pub mod validate;
