//! The runtime boundary: what the reconciler observes of a running cluster and how a
//! plan is executed. Two implementations: [`kube`] (Pods, PVCs, ConfigMaps, Services on
//! an API server) and [`local`] (broker child processes on this machine). Runtimes own
//! IO only; deciding what to do is [`crate::plan`]'s job.

pub mod kube;
pub mod local;

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::Plan;
use crate::validate::ValidatedCluster;

/// A node as the runtime sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedNode {
    /// Pod name or process description.
    pub name: String,
    /// Revision the node runs (the pod's revision annotation, the process's config hash).
    pub revision: Option<String>,
    /// Version of the broker it runs.
    pub version: Option<String>,
    /// Passing its readiness check.
    pub ready: bool,
    /// Something is wrong that waiting alone will not fix (crash, unschedulable zone):
    /// `(reason, message)`, reason in PascalCase.
    pub problem: Option<(String, String)>,
}

/// The cluster as the Kafka protocol shows it (through any ready broker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminSnapshot {
    /// Broker ids registered in the cluster metadata.
    pub registered: BTreeSet<i32>,
    /// Active controller id.
    pub controller: Option<i32>,
    /// Partitions without a leader.
    pub offline_partitions: usize,
    /// Partitions whose ISR is smaller than their replica set.
    pub under_replicated_partitions: usize,
    /// Cluster id the brokers report.
    pub cluster_id: Option<String>,
    /// Partition replicas assigned to each broker id (scale-down must not drop them).
    pub hosted_replicas: BTreeMap<i32, usize>,
    /// Finalized feature levels (KIP-584) from ApiVersions, e.g. `metadata.version`;
    /// empty when the broker reports none.
    pub finalized_features: BTreeMap<String, i16>,
    /// Every partition's leader, replicas and ISR with its topic's
    /// `min.insync.replicas`: what the roll gate decides on.
    pub partitions: Vec<crate::roll::gate::PartitionView>,
    /// The KRaft quorum's voters (DescribeQuorum); empty when they could not be read.
    pub voters: BTreeSet<i32>,
}

/// Everything observed in one reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Nodes that exist, by node id.
    pub nodes: BTreeMap<i32, ObservedNode>,
    /// Kafka-protocol view, or why it could not be read.
    pub admin: Option<Result<AdminSnapshot, String>>,
}

/// Reads a cluster's Kafka-protocol view.
pub trait AdminSource: Send + Sync {
    /// Reads metadata through `bootstrap` (`host:port` list).
    fn snapshot(
        &self,
        bootstrap: &[String],
    ) -> impl Future<Output = Result<AdminSnapshot, String>> + Send;

    /// Runs a Kafka admin operation a plan asks for (preferred-leader election, the
    /// `metadata.version` finalize) through `bootstrap`.
    fn execute(
        &self,
        bootstrap: &[String],
        op: &crate::plan::AdminOp,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let _ = (bootstrap, op);
        async { Err("this admin source runs no operations".to_owned()) }
    }
}

/// Executes plans for one kind of infrastructure.
pub trait Runtime {
    /// Runtime failures (API errors, process spawn failures).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Observes the nodes of `cluster`.
    fn observe(
        &mut self,
        cluster: &ValidatedCluster,
    ) -> impl Future<Output = Result<Observed, Self::Error>>;
    /// Revision each desired node should run, by node id.
    fn desired_revisions(&self, cluster: &ValidatedCluster) -> BTreeMap<i32, String>;
    /// Executes `plan`.
    fn apply(
        &mut self,
        cluster: &ValidatedCluster,
        plan: &Plan,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}
