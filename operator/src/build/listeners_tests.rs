//! The listener keys each spec renders to, on Kubernetes addressing.

use std::collections::BTreeMap;

use super::*;
use crate::build::config::{KubeAddressing, server_properties};
use crate::build::tests::valid;

const SECURED: &str = "  version: 0.1.0\n  brokers: 3\n  listeners:\n  - {name: plain, port: 9092}\n  - {name: tls, port: 9093, tls: true}\n  - {name: mtls, port: 9094, tls: true, authentication: {type: tls}}\n  - {name: scram, port: 9095, tls: true, authentication: {type: scram-sha-512}}\n  - {name: scramplain, port: 9096, authentication: {type: scram-sha-512}}\n";

fn props(spec: &str, node: usize) -> BTreeMap<String, String> {
    let c = valid(spec);
    server_properties(&c, &c.nodes[node], &KubeAddressing)
}

#[test]
fn a_single_plaintext_listener_renders_as_before() {
    let p = props(
        "  version: 0.1.0\n  brokers: 1\n  listeners: [{name: plain, port: 9092}]\n",
        0,
    );
    assert_eq!(p["listeners"], "PLAINTEXT://:9092,CONTROLLER://:9093");
    assert_eq!(
        p["listener.security.protocol.map"],
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    );
    assert_eq!(p["inter.broker.listener.name"], "PLAINTEXT");
    assert!(!p.keys().any(|k| k.contains("ssl") || k.contains("sasl")));
}

#[test]
fn several_plaintext_listeners_keep_inter_broker_traffic_on_the_first() {
    let p = props(
        "  version: 0.1.0\n  brokers: 1\n  listeners: [{name: a, port: 9092}, {name: b, port: 9094}]\n",
        0,
    );
    assert_eq!(p["listeners"], "A://:9092,B://:9094,CONTROLLER://:9093");
    assert_eq!(
        p["listener.security.protocol.map"],
        "A:PLAINTEXT,B:PLAINTEXT,CONTROLLER:PLAINTEXT"
    );
    assert_eq!(p["inter.broker.listener.name"], "A");
}

#[test]
fn a_secured_cluster_gets_mutual_tls_inside_and_each_listener_its_protocol() {
    let spec = SECURED.replace("port: 9093, tls: true}", "port: 9097, tls: true}");
    let p = props(&spec, 1);
    let host = "tide-broker-1.tide-brokers.kafka.svc";
    assert_eq!(
        p["listeners"],
        "PLAIN://:9092,TLS://:9097,MTLS://:9094,SCRAM://:9095,SCRAMPLAIN://:9096,REPLICATION://:9091,OPERATOR://:9090,CONTROLLER://:9093"
    );
    assert_eq!(
        p["advertised.listeners"],
        format!(
            "PLAIN://{host}:9092,TLS://{host}:9097,MTLS://{host}:9094,SCRAM://{host}:9095,SCRAMPLAIN://{host}:9096,REPLICATION://{host}:9091,OPERATOR://{host}:9090"
        )
    );
    assert_eq!(
        p["listener.security.protocol.map"],
        "PLAIN:PLAINTEXT,TLS:SSL,MTLS:SSL,SCRAM:SASL_SSL,SCRAMPLAIN:SASL_PLAINTEXT,REPLICATION:SSL,OPERATOR:SSL,CONTROLLER:SSL"
    );
    assert_eq!(p["inter.broker.listener.name"], "REPLICATION");
    let keystore = format!("{TLS_DIR}/keystore.pem", TLS_DIR = crate::build::TLS_DIR);
    let cluster_ca = format!("{}/cluster-ca.crt", crate::build::TLS_DIR);
    let clients_ca = format!("{}/clients-ca.crt", crate::build::TLS_DIR);
    for (l, trust) in [
        ("controller", Some(&cluster_ca)),
        ("replication", Some(&cluster_ca)),
        ("operator", Some(&cluster_ca)),
        ("mtls", Some(&clients_ca)),
        ("tls", None),
        ("scram", None),
    ] {
        let key = |k: &str| p.get(&format!("listener.name.{l}.{k}")).cloned();
        assert_eq!(key("ssl.keystore.type").as_deref(), Some("PEM"), "{l}");
        assert_eq!(key("ssl.keystore.location"), Some(keystore.clone()), "{l}");
        assert_eq!(key("ssl.truststore.location").as_ref(), trust, "{l}");
        assert_eq!(
            key("ssl.client.auth").as_deref(),
            trust.map(|_| "required"),
            "{l}"
        );
    }
    for l in ["scram", "scramplain"] {
        assert_eq!(
            p[&format!("listener.name.{l}.sasl.enabled.mechanisms")],
            "SCRAM-SHA-512"
        );
    }
    for l in ["plain", "scramplain"] {
        assert!(!p.contains_key(&format!("listener.name.{l}.ssl.keystore.location")));
    }
}

#[test]
fn a_dedicated_controller_binds_only_its_tls_controller_listener() {
    let spec = "  version: 0.1.0\n  brokers: 1\n  controllers: 1\n  listeners: [{name: tls, port: 9092, tls: true}]\n";
    let broker = props(spec, 0);
    let ctrl = props(spec, 1);
    assert_eq!(ctrl["listeners"], "CONTROLLER://:9093");
    assert!(!ctrl.contains_key("listener.name.replication.ssl.keystore.location"));
    assert_eq!(ctrl["listener.name.controller.ssl.client.auth"], "required");
    // The broker binds no CONTROLLER but connects to it over TLS with these keys.
    assert!(!broker["listeners"].contains("CONTROLLER"));
    assert_eq!(broker["listener.name.controller.ssl.keystore.type"], "PEM");
    assert!(broker["listener.security.protocol.map"].ends_with("CONTROLLER:SSL"));
}

#[test]
fn the_admin_client_and_status_use_the_right_listener() {
    let c = valid(&SECURED.replace("port: 9093, tls: true}", "port: 9097, tls: true}"));
    assert_eq!(admin_listener(&c), OPERATOR);
    assert_eq!(
        crate::build::bootstrap_servers(&c),
        "tide-bootstrap.kafka.svc:9090"
    );
    let status = crate::build::listener_statuses(&c);
    assert_eq!(status.len(), 5);
    assert_eq!(status[1].name, "tls");
    assert_eq!(status[1].bootstrap_servers, "tide-bootstrap.kafka.svc:9097");
    let plain = valid("  version: 0.1.0\n  brokers: 1\n");
    assert_eq!(admin_listener(&plain), "plain");
    assert_eq!(
        crate::build::bootstrap_servers(&plain),
        "tide-bootstrap.kafka.svc:9092"
    );
}

#[test]
fn super_users_name_the_brokers_and_the_operator_when_the_authorizer_is_on() {
    let authz = "  config:\n    authorizer.class.name: org.apache.kafka.metadata.authorizer.StandardAuthorizer\n";
    let brokers = "User:CN=tide-kafka,O=tidewater.io";
    let operator = "User:CN=tidewater-operator,O=tidewater.io";
    let secured = SECURED.replace("port: 9093, tls: true}", "port: 9097, tls: true}");
    let p = props(&format!("{secured}{authz}"), 0);
    assert_eq!(p["super.users"], format!("{brokers};{operator}"));
    // Controllers authorize the brokers' heartbeats too.
    let spec = format!(
        "  version: 0.1.0\n  brokers: 1\n  controllers: 1\n  listeners: [{{name: tls, port: 9092, tls: true}}]\n{authz}"
    );
    assert_eq!(
        props(&spec, 1)["super.users"],
        format!("{brokers};{operator}")
    );
    // The user's own are kept, after the operator's, each once.
    let theirs =
        format!("{secured}{authz}    super.users: \" User:admin ;{brokers};;User:CN=ops\"\n");
    assert_eq!(
        props(&theirs, 0)["super.users"],
        format!("{brokers};{operator};User:admin;User:CN=ops")
    );
    // Without the authorizer, or on a plaintext cluster (everyone is ANONYMOUS there),
    // the operator adds nothing.
    assert!(!props(&secured, 0).contains_key("super.users"));
    let plain = format!("  version: 0.1.0\n  brokers: 1\n{authz}    super.users: User:ANONYMOUS\n");
    assert_eq!(props(&plain, 0)["super.users"], "User:ANONYMOUS");
}
