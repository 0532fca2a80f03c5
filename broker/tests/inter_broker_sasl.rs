//! Replication over SASL_SSL (issue 14 items 1-2): three nodes whose inter-broker
//! listener is SASL_SSL, so every replica fetch crosses TLS and authenticates with
//! `sasl.mechanism.inter.broker.protocol` (PLAIN, the listener's JAAS `username` and
//! `password`) as `User:broker`, a super user under the StandardAuthorizer. A
//! confluent-kafka acks=all producer on the same SASL_SSL listener (as `alice`) keeps
//! writing while the leader is killed with -9; the killed node rejoins every ISR over
//! SASL_SSL, and a SASL_SSL consumer reads every acknowledged record.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::load::{BackgroundProducer, kill9_leader_and_restart, verify_no_loss_secured};

const TOPIC: &str = "replicated-over-sasl-ssl";
const PARTITIONS: usize = 3;

/// The listener's PLAIN users (`user_<name>`) and the credentials this broker
/// authenticates to the others with (`username`/`password`), as in Kafka's docs.
const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret" user_alice="alice-secret";"#;

#[test]
fn replication_over_a_sasl_ssl_inter_broker_listener_loses_no_acked_record() {
    let pki = certs::Pki::generate();
    let (keystore, truststore) = (&pki.keystore, &pki.truststore);
    let mut cluster = Cluster::combined(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            ),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", keystore),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", truststore),
            ("listener.name.sasl_ssl.sasl.enabled.mechanisms", "PLAIN"),
            ("listener.name.sasl_ssl.plain.sasl.jaas.config", JAAS),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            // Brokers fetch as User:broker (ClusterAction); the harness's plaintext
            // admin calls come as ANONYMOUS; alice produces and consumes.
            ("super.users", "User:broker;User:ANONYMOUS;User:alice"),
        ],
    );
    // Each node, one restart at a time, gets a SASL_SSL listener and replicates over it.
    let sasl_ssl = cluster.add_listener("SASL_SSL", "inter.broker.listener.name=SASL_SSL");
    let secured = sasl_ssl
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let client_config = format!(
        r#"{{"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret", "ssl.ca.location": "{truststore}"}}"#
    );
    let bootstrap = cluster.bootstrap();
    create_topic_rf3_min_isr2(&bootstrap, TOPIC, PARTITIONS);
    // Followers join the ISR only by fetching: over SASL_SSL, the only inter-broker way.
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(60));
    let mut producer = BackgroundProducer::start_secured(&secured, TOPIC, 300, &client_config);
    producer.wait_progress(300, Duration::from_secs(30));
    // The killed node catches up over SASL_SSL and rejoins every ISR.
    let victim = kill9_leader_and_restart(&mut cluster, TOPIC, PARTITIONS, &mut producer);
    let summary = producer.stop();
    let verdict = verify_no_loss_secured(&secured, TOPIC, &producer.acked_path(), &client_config);
    eprintln!(
        "FIGURES inter-broker SASL_SSL: node {victim} killed -9; producer sent {} acked {} errors {}; verify {}",
        summary.sent,
        summary.acked,
        summary.errors,
        verdict.trim()
    );
    assert!(summary.acked > 0, "nothing was acknowledged");
}
