//! The Kafka listener keys of a node, from `spec.listeners`: `listeners`,
//! `advertised.listeners`, `listener.security.protocol.map`,
//! `inter.broker.listener.name` and each listener's `listener.name.<l>.ssl.*` /
//! `sasl.enabled.mechanisms`, as Apache Kafka's own keys (the broker reads nothing else).
//!
//! Without TLS or authentication on any listener a cluster renders as it always did (a
//! single listener keeps the Kafka name `PLAINTEXT` and carries inter-broker traffic),
//! so upgrading the operator rolls no broker. With any of them on, inter-broker traffic
//! moves to `REPLICATION` and the quorum's `CONTROLLER` listener, both mutual TLS
//! against the cluster CA (Strimzi's layout), and the operator's admin client reaches
//! the brokers on `OPERATOR` (see [`admin_listener`]), mutual TLS against the cluster CA
//! too, with the operator's own certificate ([`crate::identity`]).

use std::collections::BTreeMap;

use super::config::Endpoints;
use crate::crd::AuthenticationType;
use crate::validate::{Listener, NodeSpec, ValidatedCluster};

/// Port of the inter-broker `REPLICATION` listener of a secured cluster (kube).
pub const REPLICATION_PORT: i32 = 9091;
/// Port of the `OPERATOR` listener of a secured cluster (kube).
pub const OPERATOR_PORT: i32 = 9090;
/// Spec-side name of the inter-broker listener (key of [`Endpoints::listener_ports`]).
pub const REPLICATION: &str = "replication";
/// Spec-side name of the operator's listener (key of [`Endpoints::listener_ports`]).
pub const OPERATOR: &str = "operator";
/// The node's key and certificate chain (PEM keystore: key, leaf, CA) in the TLS dir.
pub const KEYSTORE_FILE: &str = "keystore.pem";
/// The cluster CA certificate in the TLS dir: what nodes verify each other against.
pub const CLUSTER_CA_FILE: &str = "cluster-ca.crt";
/// The clients CA certificate in the TLS dir: what mTLS listeners verify clients against.
pub const CLIENTS_CA_FILE: &str = "clients-ca.crt";

/// Kafka's name of a spec listener.
pub fn kafka_name(c: &ValidatedCluster, l: &Listener) -> String {
    if !c.secured() && c.listeners.len() == 1 {
        "PLAINTEXT".to_owned()
    } else {
        l.name.to_ascii_uppercase()
    }
}

/// Kafka's `security.protocol` of a spec listener.
pub fn protocol(l: &Listener) -> &'static str {
    match (l.tls, l.authentication) {
        (false, None) => "PLAINTEXT",
        (true, None | Some(AuthenticationType::Tls)) => "SSL",
        (false, Some(_)) => "SASL_PLAINTEXT",
        (true, Some(AuthenticationType::ScramSha512)) => "SASL_SSL",
    }
}

/// Spec-side name of the listener the operator's admin client connects to: `operator`
/// on a secured cluster (SSL, `ssl.client.auth=required` against the cluster CA: only
/// the operator and the brokers hold certificates from it), else the first client
/// listener.
pub fn admin_listener(c: &ValidatedCluster) -> &str {
    if c.secured() {
        OPERATOR
    } else {
        c.listeners.first().map_or("", |l| l.name.as_str())
    }
}

/// Ports of every listener of a node on Kubernetes (spec ports, fixed internal ones).
pub fn kube_listener_ports(c: &ValidatedCluster) -> BTreeMap<String, i32> {
    let mut ports: BTreeMap<String, i32> = c
        .listeners
        .iter()
        .map(|l| (l.name.clone(), l.port))
        .collect();
    if c.secured() {
        ports.insert(REPLICATION.to_owned(), REPLICATION_PORT);
        ports.insert(OPERATOR.to_owned(), OPERATOR_PORT);
    }
    ports
}

/// `(port name, port)` of every listener of a broker pod, for container and Service
/// ports: `kafka` for the first client listener (as before), `kafka-<i>` for the
/// others (port names are at most 15 characters; listener names may be longer), then
/// `replication` and `operator` on a secured cluster.
pub fn named_ports(c: &ValidatedCluster) -> Vec<(String, i32)> {
    let mut out: Vec<(String, i32)> = c
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let name = if i == 0 {
                "kafka".to_owned()
            } else {
                format!("kafka-{i}")
            };
            (name, l.port)
        })
        .collect();
    if c.secured() {
        out.push((REPLICATION.to_owned(), REPLICATION_PORT));
        out.push((OPERATOR.to_owned(), OPERATOR_PORT));
    }
    out
}

/// Port of the operator's admin listener on Kubernetes.
pub fn admin_port(c: &ValidatedCluster) -> i32 {
    kube_listener_ports(c)
        .get(admin_listener(c))
        .copied()
        .unwrap_or(c.client_port)
}

/// One listener as rendered: Kafka name, spec-side name (port key), protocol.
struct Rendered {
    kafka: String,
    key: String,
    protocol: &'static str,
}

fn broker_listeners(c: &ValidatedCluster) -> Vec<Rendered> {
    let mut out: Vec<Rendered> = c
        .listeners
        .iter()
        .map(|l| Rendered {
            kafka: kafka_name(c, l),
            key: l.name.clone(),
            protocol: protocol(l),
        })
        .collect();
    if c.secured() {
        out.push(Rendered {
            kafka: "REPLICATION".to_owned(),
            key: REPLICATION.to_owned(),
            protocol: "SSL",
        });
        out.push(Rendered {
            kafka: "OPERATOR".to_owned(),
            key: OPERATOR.to_owned(),
            protocol: "SSL",
        });
    }
    out
}

/// Inserts the listener keys of `node` into `p`.
pub fn render(
    c: &ValidatedCluster,
    node: &NodeSpec,
    me: &Endpoints,
    p: &mut BTreeMap<String, String>,
) {
    let port = |key: &str| {
        me.listener_ports
            .get(key)
            .copied()
            .unwrap_or(me.client_port)
    };
    let mut listeners = Vec::new();
    let mut protocols = Vec::new();
    if node.role.is_broker() {
        let ls = broker_listeners(c);
        let advertised: Vec<String> = ls
            .iter()
            .map(|l| format!("{}://{}:{}", l.kafka, me.host, port(&l.key)))
            .collect();
        listeners.extend(
            ls.iter()
                .map(|l| format!("{}://{}:{}", l.kafka, me.bind, port(&l.key))),
        );
        protocols.extend(ls.iter().map(|l| format!("{}:{}", l.kafka, l.protocol)));
        p.insert("advertised.listeners".to_owned(), advertised.join(","));
        let inter_broker = if c.secured() {
            "REPLICATION".to_owned()
        } else {
            ls.first().map(|l| l.kafka.clone()).unwrap_or_default()
        };
        p.insert("inter.broker.listener.name".to_owned(), inter_broker);
    }
    if node.role.is_voter() {
        listeners.push(format!("CONTROLLER://{}:{}", me.bind, me.controller_port));
    }
    let controller_protocol = if c.secured() { "SSL" } else { "PLAINTEXT" };
    protocols.push(format!("CONTROLLER:{controller_protocol}"));
    p.insert("listeners".to_owned(), listeners.join(","));
    p.insert(
        "listener.security.protocol.map".to_owned(),
        protocols.join(","),
    );
    if c.secured() {
        security_keys(c, node, me, p);
    }
}

/// `ssl.*` and `sasl.*` keys of a secured cluster. Every node gets the controller
/// listener's keys: brokers that bind no `CONTROLLER` still connect to it as TLS
/// clients with them.
fn security_keys(
    c: &ValidatedCluster,
    node: &NodeSpec,
    me: &Endpoints,
    p: &mut BTreeMap<String, String>,
) {
    let file = |name: &str| format!("{}/{name}", me.tls_dir);
    let mut tls = |listener: &str, truststore: Option<&str>| {
        let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
        p.insert(format!("{prefix}ssl.keystore.type"), "PEM".to_owned());
        p.insert(
            format!("{prefix}ssl.keystore.location"),
            file(KEYSTORE_FILE),
        );
        if let Some(ca) = truststore {
            p.insert(format!("{prefix}ssl.truststore.type"), "PEM".to_owned());
            p.insert(format!("{prefix}ssl.truststore.location"), file(ca));
            p.insert(format!("{prefix}ssl.client.auth"), "required".to_owned());
        }
    };
    tls("CONTROLLER", Some(CLUSTER_CA_FILE));
    if !node.role.is_broker() {
        return;
    }
    tls("REPLICATION", Some(CLUSTER_CA_FILE));
    tls("OPERATOR", Some(CLUSTER_CA_FILE));
    for l in c.listeners.iter().filter(|l| l.tls) {
        let clients =
            (l.authentication == Some(AuthenticationType::Tls)).then_some(CLIENTS_CA_FILE);
        tls(&kafka_name(c, l), clients);
    }
    for l in &c.listeners {
        if l.authentication == Some(AuthenticationType::ScramSha512) {
            p.insert(
                format!(
                    "listener.name.{}.sasl.enabled.mechanisms",
                    kafka_name(c, l).to_ascii_lowercase()
                ),
                "SCRAM-SHA-512".to_owned(),
            );
        }
    }
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
