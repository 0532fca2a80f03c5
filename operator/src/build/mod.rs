//! build: pure functions from a [`ValidatedCluster`] to the Kubernetes objects the kube
//! runtime applies (and `render` prints). No client, no IO, no clock: the same input
//! renders byte-identical objects, so a reconcile never flaps. Maps are BTreeMaps.
//!
//! Why one Pod + PVC per broker instead of a StatefulSet: the operator must choose
//! exactly which broker restarts and when (one at a time, only while every other broker
//! is ready, later: never the active controller first). A StatefulSet with `OnDelete`
//! would give the same control but adds a second owner of pod identity and makes
//! per-broker differences (rack, roles, config) awkward; plain pods keep one owner.

pub mod config;
pub mod dynamic;
#[cfg(test)]
pub(crate) mod kraft_rules;
pub mod listeners;
pub mod pdb;
pub mod pod;
pub mod pvc;
pub mod secrets;
pub mod services;

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;

use crate::validate::{NodeSpec, Role, ValidatedCluster};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "tidewater-operator";
/// `app.kubernetes.io/managed-by` value on every object the operator creates.
pub const MANAGED_BY: &str = "tidewater-operator";
/// Label holding the node id.
pub const NODE_ID_LABEL: &str = "tidewater.io/node-id";
/// Annotation holding the hash of everything that requires a restart to change.
pub const REVISION_ANNOTATION: &str = "tidewater.io/revision";
/// Default image repository of the broker; the tag is the spec version.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/tidewater-io/tidewater";
/// Port of the broker's KRaft controller listener.
pub const CONTROLLER_PORT: i32 = 9093;
/// Port of the broker's `/healthz`, `/readyz` and `/metrics`.
pub const HTTP_PORT: i32 = 9404;
/// Where the data volume is mounted.
pub const DATA_DIR: &str = "/var/lib/tidewater/data";
/// Where a secured cluster's node Secret (keystore and CA certificates) is mounted.
pub const TLS_DIR: &str = "/etc/tidewater/tls";

/// One object the kube runtime applies, in apply order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Desired {
    /// A node's `server.properties`.
    ConfigMap(ConfigMap),
    /// Headless or bootstrap Service.
    Service(Service),
    /// A node's data volume claim.
    Pvc(PersistentVolumeClaim),
    /// A node's pod (boxed: by far the largest object).
    Pod(Box<Pod>),
    /// The cluster's disruption budget.
    Pdb(PodDisruptionBudget),
}

impl Desired {
    /// `metadata` of the wrapped object.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Desired::ConfigMap(o) => &o.metadata,
            Desired::Service(o) => &o.metadata,
            Desired::Pvc(o) => &o.metadata,
            Desired::Pod(o) => &o.metadata,
            Desired::Pdb(o) => &o.metadata,
        }
    }
    /// Object name.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }
}

/// Every object of the cluster in dependency order: ConfigMaps, Services, PVCs, Pods,
/// PodDisruptionBudget (config before the pods that mount it).
pub fn build_all(c: &ValidatedCluster) -> Vec<Desired> {
    let mut out: Vec<Desired> = c
        .nodes
        .iter()
        .map(|n| Desired::ConfigMap(config::config_map(c, n)))
        .collect();
    out.push(Desired::Service(services::headless(c)));
    out.push(Desired::Service(services::bootstrap(c)));
    out.extend(c.nodes.iter().map(|n| Desired::Pvc(pvc::claim(c, n))));
    out.extend(
        c.nodes
            .iter()
            .map(|n| Desired::Pod(Box::new(pod::pod(c, n)))),
    );
    out.push(Desired::Pdb(pdb::budget(c)));
    out
}

/// Labels selecting every object of the cluster (orphan cleanup uses these).
pub fn selector_labels(c: &ValidatedCluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/instance".to_owned(), c.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
    ])
}

/// Label selector string of [`selector_labels`].
pub fn selector_string(c: &ValidatedCluster) -> String {
    selector_labels(c)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels of a node's objects.
pub fn node_labels(c: &ValidatedCluster, n: &NodeSpec) -> BTreeMap<String, String> {
    let mut l = selector_labels(c);
    l.insert("app.kubernetes.io/name".to_owned(), "tidewater".to_owned());
    l.insert(
        "app.kubernetes.io/component".to_owned(),
        match n.role {
            Role::Controller => "controller",
            Role::Broker | Role::Combined => "broker",
        }
        .to_owned(),
    );
    l.insert(NODE_ID_LABEL.to_owned(), n.id.to_string());
    l
}

/// Metadata every owned object carries: name, namespace, labels, owner reference.
pub fn owned_meta(
    c: &ValidatedCluster,
    name: String,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(c.namespace.clone()),
        labels: Some(labels),
        owner_references: c.uid.as_ref().map(|uid| {
            vec![OwnerReference {
                api_version: format!("{}/v1alpha1", crate::crd::GROUP),
                kind: "KafkaCluster".to_owned(),
                name: c.name.clone(),
                uid: uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]
        }),
        ..ObjectMeta::default()
    }
}

/// Headless Service name: `<cluster>-brokers`.
pub fn headless_name(c: &ValidatedCluster) -> String {
    format!("{}-brokers", c.name)
}

/// Bootstrap Service name: `<cluster>-bootstrap`.
pub fn bootstrap_name(c: &ValidatedCluster) -> String {
    format!("{}-bootstrap", c.name)
}

/// In-cluster `bootstrap.servers` of the operator's admin client (the first client
/// listener, or `OPERATOR` on a secured cluster: [`listeners::admin_listener`]).
pub fn bootstrap_servers(c: &ValidatedCluster) -> String {
    listener_bootstrap(c, listeners::admin_listener(c))
}

/// In-cluster `bootstrap.servers` of the listener named `name` in the spec.
pub fn listener_bootstrap(c: &ValidatedCluster, name: &str) -> String {
    let port = listeners::kube_listener_ports(c)
        .get(name)
        .copied()
        .unwrap_or(c.client_port);
    format!("{}.{}.svc:{port}", bootstrap_name(c), c.namespace)
}

/// `status.listeners` on Kubernetes: each client listener through the bootstrap Service.
pub fn listener_statuses(c: &ValidatedCluster) -> Vec<crate::crd::ListenerStatus> {
    c.listeners
        .iter()
        .map(|l| crate::crd::ListenerStatus {
            name: l.name.clone(),
            bootstrap_servers: listener_bootstrap(c, &l.name),
        })
        .collect()
}

/// Stable DNS name of a node's pod through the headless Service.
pub fn node_host(c: &ValidatedCluster, n: &NodeSpec) -> String {
    format!(
        "{}.{}.{}.svc",
        n.name(&c.name),
        headless_name(c),
        c.namespace
    )
}

/// Image of the brokers.
pub fn image(c: &ValidatedCluster) -> String {
    c.image
        .clone()
        .or_else(|| crate::roll::catalog::image_for(&c.version))
        .unwrap_or_else(|| format!("{DEFAULT_IMAGE_REPOSITORY}:{}", c.version))
}

/// Kafka cluster id: the one the data is already formatted with when known
/// ([`ValidatedCluster::cluster_id`]: status, or adopted from retained claims), else 16
/// bytes as unpadded base64url (what `kafka-storage random-uuid` prints) derived from
/// the object's uid; without a uid (`render`) from its namespace/name.
pub fn cluster_id(c: &ValidatedCluster) -> String {
    if let Some(id) = &c.cluster_id {
        return id.clone();
    }
    let seed = c
        .uid
        .clone()
        .unwrap_or_else(|| format!("{}/{}", c.namespace, c.name));
    cluster_id_from_seed(&seed)
}

/// Cluster id from arbitrary seed text (a uuid's hex digits are used as its bytes).
pub fn cluster_id_from_seed(seed: &str) -> String {
    let hex: String = seed.chars().filter(char::is_ascii_hexdigit).collect();
    let mut bytes = [0u8; 16];
    if hex.len() == 32 {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("0"), 16).unwrap_or(0);
        }
    } else {
        bytes[..8].copy_from_slice(&fnv1a(seed.as_bytes()).to_be_bytes());
        bytes[8..].copy_from_slice(&fnv1a(format!("{seed}#").as_bytes()).to_be_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// FNV-1a 64: a stable hash (unlike `DefaultHasher`, fixed across Rust releases), so
/// revisions do not change when the operator is rebuilt.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
#[path = "tests.rs"]
pub(crate) mod tests;
