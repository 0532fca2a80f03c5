//! The `KafkaCluster` and `KafkaUser` APIs (`tidewater.io/v1alpha1`): spec and status
//! types, and the CRDs generated from them (`crdgen`). This module owns the wire shape of the API only: it
//! must not hold reconcile logic. Rules the OpenAPI schema can express (ranges, enums,
//! CEL cross-field rules) live here; rules it cannot see live in `validate`.

pub mod crdgen;
mod listeners;
mod rebalance;
mod status;
mod user;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use listeners::{
    AuthenticationType, CertificateAuthoritySpec, DEFAULT_CA_RENEWAL_DAYS,
    DEFAULT_CA_VALIDITY_DAYS, ListenerAuthentication, ListenerSpec, ListenerStatus, ListenerType,
};
pub use rebalance::{PlannedMove, RebalancePhase, RebalanceSpec, RebalanceStatus};
pub use status::{BrokerStatus, ControllerStatus, KafkaClusterStatus, UpgradePhase, UpgradeStatus};
pub use user::{
    AclOperation, AclPatternType, AclResource, AclResourceType, AclRule, AclRuleType,
    AuthorizationType, CLUSTER_LABEL, KafkaUser, KafkaUserSpec, KafkaUserStatus, PasswordSource,
    PasswordSpec, SecretKeyRef, UserAuthentication, UserAuthenticationType, UserAuthorization,
};

/// API group of every Tidewater resource.
pub const GROUP: &str = "tidewater.io";
/// Default `rack.topologyKey`: the well-known zone label every cloud provider sets.
pub const DEFAULT_TOPOLOGY_KEY: &str = "topology.kubernetes.io/zone";
/// Port of the internal client listener unless the spec says otherwise (Kafka's default).
pub const DEFAULT_CLIENT_PORT: i32 = 9092;

/// A self-hosted Kafka-compatible cluster of Tidewater brokers.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tidewater.io",
    version = "v1alpha1",
    kind = "KafkaCluster",
    namespaced,
    status = "KafkaClusterStatus",
    shortname = "kafka",
    category = "tidewater",
    doc = "A Kafka-compatible cluster of Tidewater brokers, managed by tidewater-operator.",
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Metadata","type":"string","jsonPath":".status.metadataVersion"}"#,
    printcolumn = r#"{"name":"Upgrade","type":"string","jsonPath":".status.upgrade.phase"}"#,
    printcolumn = r#"{"name":"Brokers","type":"integer","jsonPath":".spec.brokers"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Rebalance","type":"string","jsonPath":".status.rebalance.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("!has(self.controllers) || self.controllers == 0 || self.controllers % 2 == 1").message("spec.controllers must be 0 (combined mode) or an odd number: a Raft quorum of an even size tolerates no more failures than one smaller"))]
#[x_kube(validation = Rule::new("!has(self.rack) || size(self.rack.zones) <= self.brokers").message("spec.rack.zones lists more zones than there are brokers; some zones would hold no broker"))]
#[x_kube(validation = Rule::new("((has(self.controllers) ? self.controllers : 0) == 0) == ((has(oldSelf.controllers) ? oldSelf.controllers : 0) == 0)").message("spec.controllers cannot change between 0 (combined mode) and dedicated controllers: that changes which nodes vote in the KRaft quorum; the number of dedicated controllers can change, one voter at a time (KIP-853)"))]
#[x_kube(validation = Rule::new("(has(self.controllers) && self.controllers > 0) || (self.brokers >= 3) == (oldSelf.brokers >= 3)").message("in combined mode spec.brokers cannot cross between fewer than 3 and 3 or more: that changes the KRaft voter set (1 or 3 combined voters) and would restart brokers with another role; resize the quorum with dedicated controllers"))]
#[x_kube(validation = Rule::new("has(self.rack) == has(oldSelf.rack) && (!has(self.rack) || self.rack.zones == oldSelf.rack.zones)").message("spec.rack cannot be added, removed or have its zones changed: existing brokers would change zone and their replicas would lose rack spread"))]
#[x_kube(validation = Rule::new("(has(self.storage.storageClassName) ? self.storage.storageClassName : '') == (has(oldSelf.storage.storageClassName) ? oldSelf.storage.storageClassName : '')").message("spec.storage.storageClassName cannot change: existing claims keep their class"))]
#[x_kube(validation = Rule::new("(!has(self.clusterCa) || self.clusterCa.renewalDays < self.clusterCa.validityDays) && (!has(self.clientsCa) || self.clientsCa.renewalDays < self.clientsCa.validityDays)").message("spec.clusterCa / spec.clientsCa: renewalDays must be less than validityDays, or every certificate would be renewed at once"))]
#[x_kube(validation = Rule::new("(!has(self.clusterCa) || self.clusterCa.generateCertificateAuthority || has(self.clusterCa.secretName)) && (!has(self.clientsCa) || self.clientsCa.generateCertificateAuthority || has(self.clientsCa.secretName))").message("spec.clusterCa / spec.clientsCa: generateCertificateAuthority: false needs secretName, the Secret holding ca.crt and ca.key"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Broker version to run, e.g. `0.1.0`. The image is `image` if set, otherwise the
    /// operator's broker repository tagged with this version.
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"))]
    pub version: String,

    /// Pin of the cluster's KRaft `metadata.version` (a Kafka level name such as
    /// `3.9-IV0`). After an upgrade the operator finalizes the new build's highest level
    /// unless this names a lower one; raise it later to finalize then. Rolling back
    /// `version` is possible until the finalize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+-IV[0-9]+$"))]
    pub metadata_version: Option<String>,

    /// How version and config changes are rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,

    /// Full image reference overriding the default `repository:version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,

    /// Number of brokers (node ids 0..brokers-1).
    #[schemars(range(min = 1, max = 100))]
    pub brokers: i32,

    /// Number of dedicated KRaft controllers (node ids 1000+). 0 or absent: combined mode,
    /// where brokers 0..2 (or just broker 0 below three brokers) also act as controllers.
    /// A change between dedicated counts (e.g. 3 -> 5 -> 3) is carried out one voter at a
    /// time with KIP-853 AddRaftVoter/RemoveRaftVoter (condition `QuorumResizing`); a
    /// change to or from 0 is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 9))]
    pub controllers: Option<i32>,

    /// Rack awareness: broker i runs in zone i mod n and sets `broker.rack` to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackSpec>,

    /// Persistent storage of each broker's log directory.
    #[serde(default)]
    pub storage: StorageSpec,

    /// Compute resources of every broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Kafka broker configs (`server.properties` keys). Keys the operator owns
    /// (`node.id`, `listeners`, `advertised.listeners`, `process.roles`,
    /// `controller.quorum.*`, `controller.listener.names`, `log.dirs`, `broker.rack`)
    /// are rejected. Values are strings, numbers or booleans.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "config_schema")]
    pub config: BTreeMap<String, serde_json::Value>,

    /// Client listeners (Strimzi's shape): each a name, a port, `tls` and an
    /// `authentication`. Absent: one plaintext listener `plain` on 9092. When any
    /// listener has TLS or authentication, the inter-broker (`REPLICATION`, 9091) and
    /// controller (9093) listeners are mutual TLS with operator-issued certificates.
    #[serde(default = "default_listeners")]
    #[schemars(length(min = 1, max = 8))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[x_kube(validation = Rule::new("self.all(l, l.port != 9093 && l.port != 9404)").message("spec.listeners: ports 9093 (controller) and 9404 (health/metrics) are reserved"))]
    #[x_kube(validation = Rule::new("self.all(l, self.exists_one(m, m.port == l.port))").message("spec.listeners: ports must be unique (names are the list's keys)"))]
    #[x_kube(validation = Rule::new("self.all(l, !has(l.authentication) || l.authentication.type != 'tls' || l.tls)").message("spec.listeners: authentication type tls (client certificates) needs tls: true"))]
    #[x_kube(validation = Rule::new("self.all(l, l.name != 'replication' && l.name != 'operator' && l.name != 'controller')").message("spec.listeners: the names replication, operator and controller are the operator's own listeners"))]
    #[x_kube(validation = Rule::new("!self.exists(l, l.tls || has(l.authentication)) || self.all(l, l.port != 9090 && l.port != 9091)").message("spec.listeners: with TLS or authentication on, ports 9090 (operator) and 9091 (replication) are reserved"))]
    pub listeners: Vec<ListenerSpec>,

    /// The cluster CA that signs every broker's certificate (used when a listener has
    /// TLS or authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ca: Option<CertificateAuthoritySpec>,

    /// The clients CA that signs client certificates trusted by listeners with
    /// `authentication: {type: tls}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients_ca: Option<CertificateAuthoritySpec>,

    /// Pod template overrides for broker and controller pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,

    /// Stop reconciling: the operator changes nothing while this is true.
    #[serde(default)]
    pub paused: bool,

    /// Partition reassignment on scale-out/in and on request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSpec>,
}

fn config_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn default_listeners() -> Vec<ListenerSpec> {
    vec![ListenerSpec::default()]
}

/// Rollout settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Seconds every node must have run the new version with the cluster healthy (no
    /// offline or under-replicated partition) before `metadata.version` is finalized.
    #[serde(default = "default_soak_seconds")]
    #[schemars(range(min = 0, max = 604800))]
    pub soak_seconds: i32,
    /// Restart all brokers of one rack (`broker.rack`) together when every partition
    /// keeps at least `min.insync.replicas` in-sync replicas in the other racks; else,
    /// and for controllers and combined nodes, one node at a time.
    #[serde(default)]
    pub parallel_racks: bool,
    /// Seconds a restarted node may run without getting ready (registered, unfenced)
    /// before an upgrade onto its version is reported stalled (`UpgradeStalled`).
    #[serde(default = "default_ready_timeout_seconds")]
    #[schemars(range(min = 1, max = 86400))]
    pub ready_timeout_seconds: i32,
}

fn default_soak_seconds() -> i32 {
    DEFAULT_SOAK_SECONDS
}

fn default_ready_timeout_seconds() -> i32 {
    DEFAULT_READY_TIMEOUT_SECONDS
}

/// How long a restarted node may stay unready when `spec.rollout` does not say.
pub const DEFAULT_READY_TIMEOUT_SECONDS: i32 = 300;

/// Soak time before a finalize when `spec.rollout` does not say.
pub const DEFAULT_SOAK_SECONDS: i32 = 300;

/// Zone placement of brokers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RackSpec {
    /// Node label whose value names a zone.
    #[serde(default = "default_topology_key")]
    #[schemars(length(min = 1, max = 316))]
    pub topology_key: String,
    /// Zones to spread brokers over, in order: broker i goes to `zones[i mod n]`.
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub zones: Vec<String>,
}

fn default_topology_key() -> String {
    DEFAULT_TOPOLOGY_KEY.to_owned()
}

/// Per-broker persistent volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size, a Kubernetes quantity such as `10Gi`.
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// StorageClass of the claims; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Delete the claims (and every broker's data) together with the `KafkaCluster`.
    /// `false` (the default, as Strimzi's `deleteClaim` and a StatefulSet's
    /// `persistentVolumeClaimRetentionPolicy.whenDeleted: Retain`): the claims carry no
    /// owner reference, outlive the cluster, and a `KafkaCluster` re-created with the
    /// same name and namespace starts on them with the same cluster id. `true`: they
    /// are owned by the cluster and garbage-collected with it. Changing it on a live
    /// cluster adds or removes the owner references.
    #[serde(default)]
    pub delete_claim: bool,
    /// Delete a broker's claim (and its data) when scaling down removes the broker.
    #[serde(default)]
    pub delete_claim_on_scale_down: bool,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
            delete_claim: false,
            delete_claim_on_scale_down: false,
        }
    }
}

fn default_storage_size() -> String {
    "10Gi".to_owned()
}

/// Pod template overrides.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Extra pod metadata and scheduling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodTemplate>,
}

/// Extra pod metadata and scheduling for broker pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Added to every broker pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Added to every broker pod; the operator's own labels win on conflict.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Tolerations of every broker pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node selector of every broker pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// PriorityClass of every broker pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}
