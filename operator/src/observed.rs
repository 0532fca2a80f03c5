//! observed: what a reconcile reads of a running cluster, whichever runtime reads it —
//! its nodes as the runtime sees them ([`ObservedNode`]) and the cluster as the Kafka
//! protocol shows it ([`AdminSnapshot`], [`PartitionView`]). Plain data: the planner,
//! the roll gate, the upgrade logic and the status read it; runtimes fill it in. It
//! imports nothing of theirs, so none of them import each other through it.

use std::collections::{BTreeMap, BTreeSet};

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
    pub partitions: Vec<PartitionView>,
    /// The cluster-wide default broker configs (DescribeConfigs of broker `""`), what
    /// dynamic `spec.config` keys are diffed against; `None` when not read (then
    /// nothing is altered).
    pub cluster_configs: Option<BTreeMap<String, String>>,
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

/// One partition as Metadata shows it, with its topic's `min.insync.replicas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionView {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, -1 when offline.
    pub leader: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The topic's `min.insync.replicas` (1 when it could not be read: the broker
    /// default, and the least strict, so the gate never invents a block).
    pub min_insync: i32,
}

impl PartitionView {
    /// `topic-partition`, as Kafka's tools print it.
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    pub(crate) fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}
