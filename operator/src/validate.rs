//! validate: a raw `KafkaCluster` -> [`ValidatedCluster`] or errors naming the field.
//! Pure (no client, no IO). It re-checks every rule the CRD schema states, because the
//! local runtime and `render` have no API server in front of them, and adds the rules
//! the schema cannot see (keys the operator owns inside `spec.config`, value types).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::crd::{
    AuthenticationType, CertificateAuthoritySpec, KafkaCluster, KafkaClusterSpec, PodTemplate,
    StorageSpec,
};
use crate::placement;

mod listeners;
pub use listeners::RESERVED_LISTENER_NAMES;

/// Keys of `server.properties` the operator writes itself.
pub const OWNED_CONFIG_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "process.roles",
    "controller.listener.names",
    "log.dirs",
    "log.dir",
    "broker.rack",
    "tidewater.http.listener",
];
/// Key prefixes the operator owns.
pub const OWNED_CONFIG_PREFIXES: &[&str] = &["controller.quorum."];
/// First node id of dedicated controllers, kept apart from broker ids so scaling brokers
/// never collides with a controller id (Strimzi's node pools do the same by pool).
pub const CONTROLLER_ID_BASE: i32 = 1000;

/// One invalid field: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.config.node.id`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem found in a spec; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSpec(pub Vec<FieldError>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// What a node does in KRaft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Serves clients only.
    Broker,
    /// Dedicated controller (quorum voter).
    Controller,
    /// Broker and quorum voter in one process.
    Combined,
}

impl Role {
    /// `process.roles` value.
    pub fn process_roles(self) -> &'static str {
        match self {
            Role::Broker => "broker",
            Role::Controller => "controller",
            Role::Combined => "broker,controller",
        }
    }
    /// Whether the node serves clients.
    pub fn is_broker(self) -> bool {
        matches!(self, Role::Broker | Role::Combined)
    }
    /// Whether the node votes in the KRaft quorum.
    pub fn is_voter(self) -> bool {
        matches!(self, Role::Controller | Role::Combined)
    }
}

/// One Kafka node the cluster should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Kafka `node.id`.
    pub id: i32,
    /// KRaft roles.
    pub role: Role,
    /// Zone (and `broker.rack`), when rack awareness is on.
    pub rack: Option<String>,
}

impl NodeSpec {
    /// Stable name of the node's pod / process: `<cluster>-broker-<id>` or
    /// `<cluster>-controller-<id>`.
    pub fn name(&self, cluster: &str) -> String {
        match self.role {
            Role::Controller => format!("{cluster}-controller-{}", self.id),
            Role::Broker | Role::Combined => format!("{cluster}-broker-{}", self.id),
        }
    }
}

/// A spec that passed validation, with every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedCluster {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when absent, as kubectl does).
    pub namespace: String,
    /// `metadata.uid`, when the object came from an API server.
    pub uid: Option<String>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Broker version.
    pub version: String,
    /// Image override.
    pub image: Option<String>,
    /// `spec.metadataVersion`: the highest `metadata.version` to finalize.
    pub metadata_version_pin: Option<String>,
    /// Seconds of health before a finalize (`spec.rollout.soakSeconds`).
    pub soak_seconds: i32,
    /// `spec.rollout.parallelRacks`: restart a rack's brokers together when safe.
    pub parallel_racks: bool,
    /// `spec.rollout.readyTimeoutSeconds`: how long a restarted node may stay unready.
    pub ready_timeout_seconds: i32,
    /// Every node, brokers first then controllers, each sorted by id.
    pub nodes: Vec<NodeSpec>,
    /// Topology key of rack placement (when `rack` is set).
    pub topology_key: Option<String>,
    /// Storage of each node.
    pub storage: StorageSpec,
    /// Compute resources.
    pub resources: Option<ResourceRequirements>,
    /// User `server.properties` entries, values rendered as Kafka expects them.
    pub config: BTreeMap<String, String>,
    /// Port of the first client listener.
    pub client_port: i32,
    /// Client listeners in spec order (at least one).
    pub listeners: Vec<Listener>,
    /// `spec.clusterCa` with its defaults: signs the broker certificates.
    pub cluster_ca: CertificateAuthoritySpec,
    /// `spec.clientsCa` with its defaults: signs client certificates.
    pub clients_ca: CertificateAuthoritySpec,
    /// Pod template overrides.
    pub pod_template: PodTemplate,
    /// Stop reconciling.
    pub paused: bool,
    /// Kafka cluster id the brokers' data is formatted with, once known: the recorded
    /// `status.clusterId` (set by the operator, or restored by hand), or the id adopted
    /// from retained claims. `None` for a new cluster (derived from the uid).
    pub cluster_id: Option<String>,
    /// The KRaft voters the running nodes were formatted with, id -> `host:port` as
    /// their `controller.quorum.voters` lists them, set by a runtime that changes the voter set with
    /// KIP-853 AddRaftVoter/RemoveRaftVoter ([`crate::quorum`]). Every node keeps
    /// listing these, so a voter change restarts no node; a new controller outside them
    /// joins through `controller.quorum.bootstrap.servers`. `None`: a new cluster,
    /// combined mode on kube, or voters that could not be read back (then the voter set
    /// does not change).
    pub quorum_seed: Option<BTreeMap<i32, String>>,
}

/// One client listener of `spec.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `spec.listeners[].name`.
    pub name: String,
    /// Its port (kube; the local runtime allocates its own).
    pub port: i32,
    /// TLS with the broker's certificate.
    pub tls: bool,
    /// Client authentication, if any.
    pub authentication: Option<AuthenticationType>,
}

impl Listener {
    /// Whether the listener has TLS or authentication.
    pub fn secured(&self) -> bool {
        self.tls || self.authentication.is_some()
    }
}

impl ValidatedCluster {
    /// Whether any listener has TLS or authentication: then the inter-broker and
    /// controller listeners are mutual TLS too, and the operator manages certificates.
    pub fn secured(&self) -> bool {
        self.listeners.iter().any(Listener::secured)
    }
    /// Nodes that vote in the KRaft quorum.
    pub fn voters(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role.is_voter())
    }
    /// Nodes that serve clients.
    pub fn brokers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role.is_broker())
    }
}

/// Validates a cluster object.
pub fn validate(cluster: &KafkaCluster) -> Result<ValidatedCluster, InvalidSpec> {
    let meta = &cluster.metadata;
    let mut errors = Vec::new();
    let name = meta.name.clone().unwrap_or_default();
    if !is_dns_label(&name) || name.len() > 40 {
        errors.push(err(
            "metadata.name",
            "must be a DNS label of at most 40 characters (it prefixes pod and service names)",
        ));
    }
    let spec = &cluster.spec;
    check_spec(spec, &mut errors);
    let config = check_config(&spec.config, &mut errors);
    if let Some(id) = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_id.as_deref())
        && !is_cluster_id(id)
    {
        // Only a hand-edited status gets here: the broker's `format` would refuse it.
        errors.push(err(
            "status.clusterId",
            "must be 1-64 characters from [A-Za-z0-9_-] (the id in the brokers' meta.properties)",
        ));
    }
    if !errors.is_empty() {
        return Err(InvalidSpec(errors));
    }
    let zones = spec
        .rack
        .as_ref()
        .map(|r| r.zones.as_slice())
        .unwrap_or(&[]);
    Ok(ValidatedCluster {
        name,
        namespace: meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        uid: meta.uid.clone(),
        generation: meta.generation,
        version: spec.version.clone(),
        image: spec.image.clone(),
        metadata_version_pin: spec.metadata_version.clone(),
        soak_seconds: spec
            .rollout
            .as_ref()
            .map_or(crate::crd::DEFAULT_SOAK_SECONDS, |r| r.soak_seconds),
        parallel_racks: spec.rollout.as_ref().is_some_and(|r| r.parallel_racks),
        ready_timeout_seconds: spec
            .rollout
            .as_ref()
            .map_or(crate::crd::DEFAULT_READY_TIMEOUT_SECONDS, |r| {
                r.ready_timeout_seconds
            }),
        nodes: nodes(spec.brokers, spec.controllers.unwrap_or(0), zones),
        topology_key: spec.rack.as_ref().map(|r| r.topology_key.clone()),
        storage: spec.storage.clone(),
        resources: spec.resources.clone(),
        config,
        client_port: spec.listeners.first().map_or(9092, |l| l.port),
        listeners: spec
            .listeners
            .iter()
            .map(|l| Listener {
                name: l.name.clone(),
                port: l.port,
                tls: l.tls,
                authentication: l.authentication.map(|a| a.kind),
            })
            .collect(),
        cluster_ca: spec.cluster_ca.clone().unwrap_or_default(),
        clients_ca: spec.clients_ca.clone().unwrap_or_default(),
        pod_template: spec
            .template
            .as_ref()
            .and_then(|t| t.pod.clone())
            .unwrap_or_default(),
        paused: spec.paused,
        cluster_id: cluster.status.as_ref().and_then(|s| s.cluster_id.clone()),
        quorum_seed: None,
    })
}

/// Node ids and roles. Combined mode makes the first three brokers (or broker 0 alone
/// below three brokers: two voters tolerate no more failures than one) KRaft voters.
fn nodes(brokers: i32, controllers: i32, zones: &[String]) -> Vec<NodeSpec> {
    let combined_voters = if brokers >= 3 { 3 } else { 1 };
    let mut nodes: Vec<NodeSpec> = (0..brokers)
        .map(|id| NodeSpec {
            id,
            role: if controllers == 0 && id < combined_voters {
                Role::Combined
            } else {
                Role::Broker
            },
            rack: placement::zone_for(id, zones).map(str::to_owned),
        })
        .collect();
    nodes.extend((0..controllers).map(|i| NodeSpec {
        id: CONTROLLER_ID_BASE + i,
        role: Role::Controller,
        rack: placement::zone_for(i, zones).map(str::to_owned),
    }));
    nodes
}

fn check_spec(spec: &KafkaClusterSpec, errors: &mut Vec<FieldError>) {
    if !is_version(&spec.version) {
        errors.push(err("spec.version", "must be a version like 0.1.0"));
    }
    if spec.image.as_deref() == Some("") {
        errors.push(err("spec.image", "must not be empty when set"));
    }
    if let Some(mv) = &spec.metadata_version
        && crate::roll::catalog::level_of(mv).is_none()
    {
        errors.push(err(
            "spec.metadataVersion",
            "must be a Kafka metadata.version name such as 3.9-IV0 or 4.0-IV3",
        ));
    }
    if !(1..=100).contains(&spec.brokers) {
        errors.push(err("spec.brokers", "must be between 1 and 100"));
    }
    if let Some(c) = spec.controllers
        && (!(0..=9).contains(&c) || (c != 0 && c % 2 == 0))
    {
        errors.push(err(
            "spec.controllers",
            "must be 0 (combined mode) or an odd number up to 9",
        ));
    }
    if let Some(rack) = &spec.rack {
        if rack.topology_key.is_empty() {
            errors.push(err("spec.rack.topologyKey", "must not be empty"));
        }
        if rack.zones.is_empty() {
            errors.push(err("spec.rack.zones", "must list at least one zone"));
        }
        if rack.zones.len() as i64 > i64::from(spec.brokers) {
            errors.push(err(
                "spec.rack.zones",
                "lists more zones than there are brokers; some zones would hold no broker",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, z) in rack.zones.iter().enumerate() {
            if z.is_empty() || !seen.insert(z) {
                errors.push(err(
                    &format!("spec.rack.zones[{i}]"),
                    "zones must be non-empty and unique",
                ));
            }
        }
    }
    if !is_quantity(&spec.storage.size) {
        errors.push(err(
            "spec.storage.size",
            "must be a Kubernetes quantity such as 10Gi",
        ));
    }
    listeners::check_listeners(spec, errors);
    for (field, ca) in [
        ("spec.clusterCa", &spec.cluster_ca),
        ("spec.clientsCa", &spec.clients_ca),
    ] {
        if let Some(ca) = ca {
            listeners::check_ca(field, ca, errors);
        }
    }
}

/// Renders user configs to strings, rejecting owned keys and non-scalar values.
fn check_config(
    config: &BTreeMap<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in config {
        let field = format!("spec.config.{key}");
        if OWNED_CONFIG_KEYS.contains(&key.as_str())
            || OWNED_CONFIG_PREFIXES.iter().any(|p| key.starts_with(p))
        {
            errors.push(err(
                &field,
                "is set by the operator and cannot be configured",
            ));
            continue;
        }
        let rendered = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                errors.push(err(&field, "must be a string, number or boolean"));
                continue;
            }
        };
        if rendered.contains('\n') {
            errors.push(err(&field, "must not contain a newline"));
            continue;
        }
        out.insert(key.clone(), rendered);
    }
    out
}

fn err(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kafka cluster id as the broker's `format` accepts it.
fn is_cluster_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_version(s: &str) -> bool {
    let core = s.split_once('-').map_or(s, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_quantity(s: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", "",
    ];
    SUFFIXES.iter().any(|suffix| {
        s.strip_suffix(suffix).is_some_and(|num| {
            let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
            !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
