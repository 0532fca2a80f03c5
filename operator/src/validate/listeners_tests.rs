//! Bad listener and CA specs, each named by its field (what the local runtime and
//! `render` report; the CRD's CEL rules say the same on an API server).

use crate::render::parse_cluster;
use crate::validate::validate;

fn fields(spec: &str) -> Vec<String> {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 1\n{spec}"
    );
    match validate(&parse_cluster(&text).unwrap()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn duplicate_names_and_ports_are_refused() {
    assert_eq!(
        fields("  listeners: [{name: a, port: 9092}, {name: a, port: 9094}]\n"),
        ["spec.listeners[1].name"]
    );
    assert_eq!(
        fields("  listeners: [{name: a, port: 9092}, {name: b, port: 9092}]\n"),
        ["spec.listeners[1].port"]
    );
}

#[test]
fn tls_authentication_needs_tls() {
    assert_eq!(
        fields("  listeners: [{name: a, port: 9092, authentication: {type: tls}}]\n"),
        ["spec.listeners[0].authentication"]
    );
    assert!(
        fields("  listeners: [{name: a, port: 9092, tls: true, authentication: {type: tls}}]\n")
            .is_empty()
    );
    // SCRAM without TLS is SASL_PLAINTEXT: allowed, as in Kafka.
    assert!(
        fields("  listeners: [{name: a, port: 9092, authentication: {type: scram-sha-512}}]\n")
            .is_empty()
    );
}

#[test]
fn the_operators_own_names_and_ports_are_reserved() {
    assert_eq!(
        fields("  listeners: [{name: replication, port: 9092}]\n"),
        ["spec.listeners[0].name"]
    );
    // 9091 is free while nothing is secured, reserved once something is.
    assert!(fields("  listeners: [{name: a, port: 9091}]\n").is_empty());
    assert_eq!(
        fields("  listeners: [{name: a, port: 9091}, {name: b, port: 9092, tls: true}]\n"),
        ["spec.listeners[0].port"]
    );
    assert_eq!(
        fields("  listeners: [{name: a, port: 9404}]\n"),
        ["spec.listeners[0].port"]
    );
    assert_eq!(fields("  listeners: []\n"), ["spec.listeners"]);
}

#[test]
fn unknown_authentication_types_do_not_parse() {
    let text = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 1\n  listeners: [{name: a, port: 9092, authentication: {type: kerberos}}]\n";
    let err = parse_cluster(text).unwrap_err().to_string();
    assert!(err.contains("kerberos"), "{err}");
}

#[test]
fn ca_windows_and_user_cas_are_checked() {
    assert_eq!(
        fields("  clusterCa: {validityDays: 10, renewalDays: 10}\n"),
        ["spec.clusterCa.renewalDays"]
    );
    assert_eq!(
        fields("  clientsCa: {generateCertificateAuthority: false}\n"),
        ["spec.clientsCa.secretName"]
    );
    assert!(
        fields("  clusterCa: {generateCertificateAuthority: false, secretName: my-ca, validityDays: 2, renewalDays: 1}\n")
            .is_empty()
    );
}
