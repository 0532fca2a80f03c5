//! Replication over TLS (issue 14 item 2): three nodes whose inter-broker listener is
//! SSL, so every replica fetch crosses a TLS connection verified against the
//! truststore; an acks=all producer keeps writing while the leader is killed with -9,
//! the killed node rejoins the ISR over SSL, and no acknowledged record is lost.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::load::{BackgroundProducer, kill9_leader_and_restart, verify_no_loss};

const TOPIC: &str = "replicated-over-ssl";
const PARTITIONS: usize = 3;

#[test]
fn replication_over_an_ssl_inter_broker_listener_loses_no_acked_record() {
    let pki = certs::Pki::generate();
    let (keystore, truststore) = (&pki.keystore, &pki.truststore);
    let mut cluster = Cluster::combined(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL",
            ),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", keystore),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", truststore),
            // Brokers present their certificate to each other (mTLS).
            ("listener.name.ssl.ssl.client.auth", "required"),
        ],
    );
    // Each node, one restart at a time, gets an SSL listener and replicates over it.
    cluster.add_listener("SSL", "inter.broker.listener.name=SSL");
    let bootstrap = cluster.bootstrap();
    create_topic_rf3_min_isr2(&bootstrap, TOPIC, PARTITIONS);
    // Followers join the ISR only by fetching: over SSL, the only inter-broker way.
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(60));
    let mut producer = BackgroundProducer::start(&bootstrap, TOPIC, 300);
    producer.wait_progress(300, Duration::from_secs(30));
    // The killed node catches up over SSL and rejoins every ISR.
    let victim = kill9_leader_and_restart(&mut cluster, TOPIC, PARTITIONS, &mut producer);
    let summary = producer.stop();
    let verdict = verify_no_loss(&cluster.bootstrap(), TOPIC, &producer.acked_path());
    eprintln!(
        "FIGURES inter-broker SSL: node {victim} killed -9; producer sent {} acked {} errors {}; verify {}",
        summary.sent,
        summary.acked,
        summary.errors,
        verdict.trim()
    );
    assert!(summary.acked > 0, "nothing was acknowledged");
}
