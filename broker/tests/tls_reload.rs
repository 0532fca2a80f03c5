//! Certificate reload without a restart (issue 14 item 1): an SSL listener's
//! keystore file is replaced under a connected confluent-kafka producer; new kcat
//! connections then verify against the new CA only, and the producer's open
//! connection keeps producing. Then IncrementalAlterConfigs points
//! `listener.name.ssl.ssl.keystore.location` at a third keystore, and new connections
//! see that one.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::broker::free_port;
use common::process::spawn_python;
use common::{Broker, BrokerOpts, kcat, python_client, wait_until};

const T: Duration = Duration::from_secs(60);

/// Whether kcat, trusting only `ca`, can read metadata over SSL from `ssl`.
fn kcat_trusts(ssl: &str, ca: &Path) -> Result<(), String> {
    let ca = format!("ssl.ca.location={}", ca.display());
    let out = kcat(
        &[
            "-b",
            ssl,
            "-L",
            "-m",
            "5",
            "-X",
            "security.protocol=ssl",
            "-X",
            &ca,
        ],
        None,
        Duration::from_secs(20),
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{out}"))
    }
}

#[test]
fn a_rotated_certificate_serves_new_connections_and_open_ones_keep_producing() {
    let pki = tempfile::Builder::new()
        .prefix("tidewater-pki-")
        .tempdir()
        .expect("pki dir");
    let dir = pki.path();
    let (first, second, third) = (
        certs::TestCa::new("First CA"),
        certs::TestCa::new("Second CA"),
        certs::TestCa::new("Third CA"),
    );
    let keystore = certs::write(dir, "broker.pem", &first.server().keystore());
    let ca = |name: &str, ca: &certs::TestCa| certs::write(dir, name, &ca.pem);
    let (first_ca, second_ca, third_ca) = (
        ca("first.pem", &first),
        ca("second.pem", &second),
        ca("third.pem", &third),
    );
    let ssl: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let broker = Broker::start(BrokerOpts {
        config: vec![
            ("ssl.keystore.type".into(), "PEM".into()),
            (
                "ssl.keystore.location".into(),
                keystore.display().to_string(),
            ),
        ],
        extra_listeners: vec![format!("SSL://{ssl}")],
        ..Default::default()
    });
    let ssl = ssl.to_string();
    kcat_trusts(&ssl, &first_ca).expect("the first certificate is served");

    let signal = dir.join("rotated");
    let producer = spawn_python(
        "tls_rotation.py",
        &[
            "--bootstrap".to_string(),
            ssl.clone(),
            "stay-connected".to_string(),
            "--topic".to_string(),
            "rotation".to_string(),
            "--ca".to_string(),
            first_ca.display().to_string(),
            "--signal".to_string(),
            signal.display().to_string(),
        ],
    );
    let connected = dir.join("rotated.connected");
    wait_until("the producer connected and acked", T, || {
        connected
            .exists()
            .then_some(())
            .ok_or("not yet".to_string())
    });

    // Rotate: the new keystore replaces the file in one rename, as cert-manager and
    // kubelet's atomic writer do.
    let rotated_at = Instant::now();
    let staged = certs::write(dir, "broker.pem.new", &second.server().keystore());
    std::fs::rename(&staged, &keystore).expect("replace the keystore");
    wait_until("new connections see the second certificate", T, || {
        kcat_trusts(&ssl, &second_ca)
    });
    let reload_ms = rotated_at.elapsed().as_millis();
    assert!(
        kcat_trusts(&ssl, &first_ca).is_err(),
        "a new connection still got the first certificate"
    );
    // The producer's connections were made before the rotation: they keep working.
    std::fs::write(&signal, "1").expect("signal");
    let out = producer.wait(T).ok();
    eprintln!(
        "FIGURES certificate reload: file rotation served after {reload_ms} ms; producer {}",
        out.stdout.trim()
    );

    // Kafka's dynamic listener config: a new keystore location through
    // IncrementalAlterConfigs on this broker.
    let moved = certs::write(dir, "moved.pem", &third.server().keystore());
    python_client(
        "tls_rotation.py",
        &[
            "--bootstrap".to_string(),
            broker.bootstrap(),
            "alter-broker".to_string(),
            "--broker-id".to_string(),
            "1".to_string(),
            "--set".to_string(),
            format!(
                "listener.name.ssl.ssl.keystore.location={}",
                moved.display()
            ),
        ],
        T,
    )
    .ok();
    wait_until("new connections see the third certificate", T, || {
        kcat_trusts(&ssl, &third_ca)
    });
    assert!(kcat_trusts(&ssl, &second_ca).is_err());
}
