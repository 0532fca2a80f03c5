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
    pub admin: Option<Result<AdminSnapshot, AdminError>>,
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

/// Why the Kafka-protocol view could not be read, or a Kafka admin operation failed.
/// Kept in [`Observed`] (the status and the roll gate quote it), so it holds the
/// client's message, not the client's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No broker is ready to send the request to.
    #[error("no broker is ready to answer")]
    NoReadyBroker,
    /// The brokers could not be reached or did not answer (connect, timeout, decoding).
    #[error("{0}")]
    Unreachable(String),
    /// A request failed on the way (not answered, or not decoded).
    #[error("{request}: {message}")]
    Request {
        /// What was asked, e.g. `ElectLeaders`.
        request: &'static str,
        /// The client's message.
        message: String,
    },
    /// A broker answered with a Kafka error code.
    #[error("{request}: error code {code}{}", .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// What was asked, e.g. `UpdateFeatures metadata.version=21`.
        request: String,
        /// The Kafka error code.
        code: i16,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// This admin source runs no operations (a read-only source).
    #[error("this admin source runs no operations")]
    Unsupported,
}

#[cfg(test)]
mod tests {
    use super::AdminError;

    #[test]
    fn admin_errors_name_the_request_and_the_kafka_error_code() {
        let kafka = |request: &str, code, message: Option<&str>| AdminError::Kafka {
            request: request.to_owned(),
            code,
            message: message.map(str::to_owned),
        };
        assert_eq!(
            kafka("ElectLeaders", 7, None).to_string(),
            "ElectLeaders: error code 7"
        );
        assert_eq!(
            kafka("UpdateFeatures metadata.version=21", 35, Some("too new")).to_string(),
            "UpdateFeatures metadata.version=21: error code 35: too new"
        );
        let request = AdminError::Request {
            request: "reading min.insync.replicas",
            message: "request timed out".to_owned(),
        };
        assert_eq!(
            request.to_string(),
            "reading min.insync.replicas: request timed out"
        );
        assert_eq!(
            AdminError::NoReadyBroker.to_string(),
            "no broker is ready to answer"
        );
    }
}
