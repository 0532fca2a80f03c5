//! A node's `server.properties` and the ConfigMap holding it. The properties are built
//! against an [`Addressing`] so the kube runtime (stable DNS names, fixed ports) and the
//! local runtime (127.0.0.1, per-node ports) render the same keys from the same code.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::dynamic::QUORUM_BOOTSTRAP_SERVERS;
use super::{
    CONTROLLER_PORT, DATA_DIR, HTTP_PORT, TLS_DIR, cluster_id, node_host, node_labels, owned_meta,
};
use crate::validate::{NodeSpec, ValidatedCluster};

/// ConfigMap key of the properties file.
pub const PROPERTIES_KEY: &str = "server.properties";
/// ConfigMap key of the cluster id `format` uses.
pub const CLUSTER_ID_KEY: &str = "cluster.id";

/// Where a node listens and how others reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Host other nodes and clients connect to.
    pub host: String,
    /// Interface the listeners bind (empty: all interfaces).
    pub bind: String,
    /// Port of the first client listener.
    pub client_port: i32,
    /// Port of every listener, by spec-side name (client listeners, and `replication`
    /// and `operator` on a secured cluster).
    pub listener_ports: BTreeMap<String, i32>,
    /// Directory holding the node's keystore and CA certificates
    /// ([`super::listeners::KEYSTORE_FILE`] and the CA files).
    pub tls_dir: String,
    /// KRaft controller port.
    pub controller_port: i32,
    /// `/healthz` `/readyz` `/metrics` port.
    pub http_port: i32,
    /// `log.dirs`.
    pub log_dir: String,
}

/// Resolves the endpoints of a node.
pub trait Addressing {
    /// Endpoints of `node`.
    fn endpoints(&self, cluster: &ValidatedCluster, node: &NodeSpec) -> Endpoints;
}

/// Kubernetes addressing: pod DNS names through the headless Service, fixed ports.
#[derive(Debug, Clone, Copy, Default)]
pub struct KubeAddressing;

impl Addressing for KubeAddressing {
    fn endpoints(&self, c: &ValidatedCluster, n: &NodeSpec) -> Endpoints {
        Endpoints {
            host: node_host(c, n),
            bind: String::new(),
            client_port: c.client_port,
            listener_ports: super::listeners::kube_listener_ports(c),
            tls_dir: TLS_DIR.to_owned(),
            controller_port: CONTROLLER_PORT,
            http_port: HTTP_PORT,
            log_dir: DATA_DIR.to_owned(),
        }
    }
}

/// `server.properties` of `node`: user config first, then every key the operator owns
/// (owned keys were rejected from user config by `validate`, so nothing is overridden
/// silently).
pub fn server_properties(
    c: &ValidatedCluster,
    node: &NodeSpec,
    addressing: &dyn Addressing,
) -> BTreeMap<String, String> {
    let mut p = internal_topic_defaults(c);
    p.extend(c.config.clone());
    let me = addressing.endpoints(c, node);
    p.insert("node.id".to_owned(), node.id.to_string());
    p.insert(
        "process.roles".to_owned(),
        node.role.process_roles().to_owned(),
    );
    let controller = |v: &NodeSpec| {
        let e = addressing.endpoints(c, v);
        format!("{}:{}", e.host, e.controller_port)
    };
    let voters: Vec<String> = match &c.quorum_seed {
        // The voters the running nodes were formatted with, as they list them: a voter
        // change (KIP-853) rewrites no node's voter list. The spec's controllers are the
        // bootstrap servers a new controller joins through.
        Some(seed) => {
            // Only while the spec's voters differ from the seed: a cluster whose voters
            // never changed keeps the config it was started with, byte for byte.
            if !seed.keys().copied().eq(c.voters().map(|v| v.id)) {
                let bootstrap: Vec<String> = c.voters().map(controller).collect();
                p.insert(QUORUM_BOOTSTRAP_SERVERS.to_owned(), bootstrap.join(","));
            }
            seed.iter()
                .map(|(id, addr)| format!("{id}@{addr}"))
                .collect()
        }
        None => c
            .voters()
            .map(|v| format!("{}@{}", v.id, controller(v)))
            .collect(),
    };
    p.insert("controller.quorum.voters".to_owned(), voters.join(","));
    p.insert(
        "controller.listener.names".to_owned(),
        "CONTROLLER".to_owned(),
    );
    super::listeners::render(c, node, &me, &mut p);
    if let Some(users) = crate::identity::super_users(c) {
        p.insert(crate::identity::SUPER_USERS_KEY.to_owned(), users);
    }
    p.insert("log.dirs".to_owned(), me.log_dir);
    if let Some(rack) = &node.rack {
        p.insert("broker.rack".to_owned(), rack.clone());
    }
    let http_bind = if me.bind.is_empty() {
        "0.0.0.0"
    } else {
        me.bind.as_str()
    };
    p.insert(
        "tidewater.http.listener".to_owned(),
        format!("{http_bind}:{}", me.http_port),
    );
    p
}

/// Kafka defaults internal topics to RF 3, which a cluster of fewer brokers cannot
/// satisfy (consumer groups would never find a coordinator). Cap them at the broker
/// count unless the user set them.
fn internal_topic_defaults(c: &ValidatedCluster) -> BTreeMap<String, String> {
    let brokers = c.brokers().count().max(1);
    let rf = brokers.min(3).to_string();
    let min_isr = brokers.min(2).to_string();
    BTreeMap::from([
        ("offsets.topic.replication.factor".to_owned(), rf.clone()),
        ("transaction.state.log.replication.factor".to_owned(), rf),
        ("transaction.state.log.min.isr".to_owned(), min_isr),
    ])
}

/// Properties as file text, one `key=value` a line in key order.
pub fn properties_text(props: &BTreeMap<String, String>) -> String {
    let mut s = String::from("# Written by tidewater-operator; edits are overwritten.\n");
    for (k, v) in props {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// Name of a node's ConfigMap: `<pod>-config`.
pub fn config_map_name(c: &ValidatedCluster, n: &NodeSpec) -> String {
    format!("{}-config", n.name(&c.name))
}

/// A node's ConfigMap.
pub fn config_map(c: &ValidatedCluster, n: &NodeSpec) -> ConfigMap {
    let props = server_properties(c, n, &KubeAddressing);
    ConfigMap {
        metadata: owned_meta(c, config_map_name(c, n), node_labels(c, n)),
        data: Some(BTreeMap::from([
            (PROPERTIES_KEY.to_owned(), properties_text(&props)),
            (CLUSTER_ID_KEY.to_owned(), cluster_id(c)),
        ])),
        ..ConfigMap::default()
    }
}
