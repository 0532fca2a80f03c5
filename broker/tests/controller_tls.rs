//! The controller listener over TLS (issue 14 item 1): three combined nodes whose
//! `CONTROLLER` listener is SSL with `ssl.client.auth=required`, so raft traffic,
//! forwarded proposals and the brokers' controller calls all cross mutual TLS. The
//! quorum forms, a topic is created through it, the active controller is killed with
//! -9 and another takes over (a second topic is created through the new one), the
//! killed node rejoins over TLS, and a plaintext client on a controller port gets no
//! answer from the quorum.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::clients::{create_topic_rf3_min_isr2, kraft_client};
use common::cluster::Cluster;
use common::wait::wait_until;

/// What a plaintext client gets back for one controller-wire request (a frame naming
/// another cluster, which a plaintext controller answers with InconsistentClusterId).
fn plaintext_reply(controller: SocketAddr) -> Vec<u8> {
    let body = br#"{"cluster_id":"not-this-cluster","request":{"FetchMetadata":{"after":0,"max_wait_ms":0,"observer_id":null}}}"#;
    let mut s = TcpStream::connect(controller).expect("connect to the controller port");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let len = u32::try_from(body.len()).expect("small frame");
    s.write_all(&len.to_be_bytes()).expect("write length");
    s.write_all(body).expect("write frame");
    let mut reply = Vec::new();
    // Until the server closes (or the timeout: a server still waiting is a refusal too).
    let _ = s.read_to_end(&mut reply);
    reply
}

/// Every node's controller listener address.
fn controller_addrs(cluster: &mut Cluster) -> Vec<SocketAddr> {
    cluster
        .broker_ids()
        .into_iter()
        .filter_map(|id| cluster.node(id).controller_addr)
        .collect()
}

#[test]
fn a_quorum_over_mutual_tls_forms_fails_over_and_refuses_plaintext() {
    let pki = certs::Pki::generate();
    let (keystore, truststore) = (&pki.keystore, &pki.truststore);
    let mut cluster = Cluster::combined(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            ),
            ("listener.name.controller.ssl.keystore.type", "PEM"),
            ("listener.name.controller.ssl.keystore.location", keystore),
            ("listener.name.controller.ssl.truststore.type", "PEM"),
            (
                "listener.name.controller.ssl.truststore.location",
                truststore,
            ),
            ("listener.name.controller.ssl.client.auth", "required"),
        ],
    );
    // The quorum formed over TLS: every node started, and topics need the controller.
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "before-failover", 1);
    cluster.wait_isr_full("before-failover", 1, 3, Duration::from_secs(60));

    for addr in &controller_addrs(&mut cluster) {
        let reply = plaintext_reply(*addr);
        let text = String::from_utf8_lossy(&reply);
        assert!(
            !text.contains("InconsistentClusterId") && !text.contains("Metadata"),
            "a plaintext client got a quorum answer from {addr}: {text}"
        );
        // Nothing, or a TLS alert record (content type 21), never a wire frame.
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "unexpected reply from {addr}: {reply:?}"
        );
    }

    let active = wait_until("an active controller", Duration::from_secs(30), || {
        cluster.active_controller()
    });
    cluster.node(active).kill9();
    let next = wait_until(
        "another node active after the kill",
        Duration::from_secs(30),
        || match cluster.active_controller() {
            Ok(id) if id != active => Ok(id),
            Ok(id) => Err(format!("node {id} still reports itself active")),
            Err(e) => Err(e),
        },
    );
    eprintln!("FIGURES controller TLS: node {active} killed -9, node {next} active");
    // The new active controller decides over TLS: a topic on the two live nodes.
    let live = cluster.live_bootstrap();
    kraft_client(
        "create-topic",
        &live,
        "after-failover",
        &["--partitions", "1", "--rf", "2"],
        Duration::from_secs(60),
    );
    cluster.node(active).restart();
    // The killed node catches up on the metadata over TLS and rejoins the ISR.
    cluster.wait_isr_full("before-failover", 1, 3, Duration::from_secs(60));
}

/// The controller listener's PLAIN users (`user_<name>`) and the credentials every node
/// authenticates to the quorum with (`username`/`password`), as in Kafka's docs.
const CONTROLLER_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="controller-secret" user_controller="controller-secret";"#;

/// The controller listener over SASL_PLAINTEXT with PLAIN (SCRAM is refused there at
/// startup: its credentials would live in the metadata log the quorum has yet to
/// replicate): three combined nodes authenticate raft traffic and controller calls,
/// the quorum forms and decides a topic, and a client that skips SASL gets no quorum
/// answer.
#[test]
fn a_quorum_over_sasl_plain_forms_and_refuses_an_unauthenticated_client() {
    let mut cluster = Cluster::combined(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            ),
            ("listener.name.controller.sasl.enabled.mechanisms", "PLAIN"),
            ("sasl.mechanism.controller.protocol", "PLAIN"),
            (
                "listener.name.controller.plain.sasl.jaas.config",
                CONTROLLER_JAAS,
            ),
        ],
    );
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "over-sasl", 1);
    cluster.wait_isr_full("over-sasl", 1, 3, Duration::from_secs(60));
    for addr in controller_addrs(&mut cluster) {
        let reply = plaintext_reply(addr);
        let text = String::from_utf8_lossy(&reply);
        assert!(
            !text.contains("InconsistentClusterId") && !text.contains("Metadata"),
            "a client without SASL got a quorum answer from {addr}: {text}"
        );
    }
}
