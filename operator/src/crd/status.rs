//! Status of a `KafkaCluster`: what the operator observed, written by either runtime
//! (the kube runtime through the `/status` subresource, the local runtime into
//! `status.yaml`). Pure data; `crate::status` computes it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a `KafkaCluster`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, following Kubernetes conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Kafka cluster id the brokers were formatted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Broker version every broker runs, once they all run the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Finalized KRaft `metadata.version` as Kafka names it (e.g. `3.9-IV0`; the bare
    /// feature level when the operator does not know its name), read from ApiVersions.
    /// Unset while the brokers report no finalized `metadata.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    /// The last version upgrade (or `spec.metadataVersion` raise) and how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStatus>,
    /// Every broker the operator runs, by node id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerStatus>,
    /// The KRaft quorum as the brokers report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerStatus>,
    /// `host:port` list clients bootstrap from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Where clients reach each listener of `spec.listeners`, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<super::ListenerStatus>,
    /// The partition reassignment plan the operator owns, and its progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<super::RebalanceStatus>,
}

/// One broker as observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    /// Kafka `node.id`.
    pub id: i32,
    /// `broker.rack` (the zone), when rack awareness is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    /// Version the broker runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Running, passing its readiness check and registered with the cluster.
    pub ready: bool,
    /// Pod (kube runtime) or process id (local runtime) running the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

/// The active KRaft controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    /// Node id of the active controller: the KRaft quorum leader (DescribeQuorum), or
    /// Metadata's controller on a cluster without a quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_id: Option<i32>,
    /// The KRaft voters (DescribeQuorum), by node id; empty when they could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voters: Vec<i32>,
}

/// A staged upgrade: roll every node onto `to`, soak, then finalize `metadataVersion`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// Version the nodes ran before.
    pub from: String,
    /// Version being rolled out (`spec.version`).
    pub to: String,
    /// Where the upgrade is.
    pub phase: UpgradePhase,
    /// Nodes running `to` and ready.
    pub nodes_done: i32,
    /// Nodes in the cluster.
    pub nodes: i32,
    /// When the cluster was first seen healthy with every node on `to` (the soak time
    /// runs from here; kept in status so an operator restart does not reset it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_started_at: Option<Time>,
    /// `metadata.version` finalized at the end (the new build's highest level, or
    /// `spec.metadataVersion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
}

/// Phase of an upgrade.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpgradePhase {
    /// Nodes are being restarted onto the new version, one at a time (or one rack).
    #[default]
    Rolling,
    /// Every node runs the new version; the cluster must stay healthy for the soak time.
    Soaking,
    /// UpdateFeatures is raising `metadata.version`.
    Finalizing,
    /// Every node runs the new version and its `metadata.version` is finalized.
    Done,
}
