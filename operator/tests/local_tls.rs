//! Security on the local runtime (issue 14 items 5 and 6): the secured three-zone
//! example (`examples/secured.yaml`) runs three real brokers whose replication and
//! controller traffic is mutual TLS with operator-issued certificates, and real clients
//! use each listener with the operator's CAs: confluent-kafka produces and consumes
//! over TLS (RF 3, acks=all) and over SCRAM-SHA-512 with TLS; kcat reads metadata with
//! a client certificate from the clients CA on the mTLS listener; a plaintext client, a
//! client without a certificate and a wrong SCRAM password are refused. Then a shorter
//! `clusterCa.validityDays` reissues every broker certificate, and each broker serves
//! its new one without a restart (same pids).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tidewater_operator::pki::{self, CaPem, Validity};

use local_cluster::*;

/// The base64 body of the first PEM certificate in `pem`, whitespace removed.
fn pem_body(pem: &str) -> String {
    pem.split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|r| r.split("-----END CERTIFICATE-----").next())
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

/// The certificate the TLS listener at `addr` serves (not verified), as [`pem_body`].
fn served_cert(addr: &str) -> String {
    let (host, port) = addr.split_once(':').unwrap();
    let script =
        "import ssl,sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2]))))";
    let out = Command::new("python3")
        .args(["-c", script, host, port])
        .output()
        .unwrap();
    pem_body(&String::from_utf8_lossy(&out.stdout))
}

/// `kcat -L` against `bootstrap` with `-X` settings; Ok(stdout) or Err(stderr).
fn kcat_metadata(bootstrap: &str, settings: &[String]) -> Result<String, String> {
    let mut cmd = Command::new("kcat");
    // `cargo test --workspace` puts rdkafka-sys' build dir on LD_LIBRARY_PATH; its
    // librdkafka.so.1 may be built without OpenSSL (a machine without libssl-dev), and
    // Debian's kcat must load its own.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.args(["-b", bootstrap, "-L", "-m", "10"]);
    for s in settings {
        cmd.args(["-X", s]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() && text.contains("brokers:") {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

const SCRAM_USER: &str = r#"
import sys
from confluent_kafka.admin import AdminClient, UserScramCredentialUpsertion, ScramCredentialInfo, ScramMechanism
a = AdminClient({"bootstrap.servers": sys.argv[1], "security.protocol": "SSL",
    "ssl.ca.location": sys.argv[4], "ssl.certificate.location": sys.argv[5],
    "ssl.key.location": sys.argv[5]})
up = UserScramCredentialUpsertion(sys.argv[2], ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), sys.argv[3].encode(), b"tidewater-salt")
for f in a.alter_user_scram_credentials([up]).values():
    f.result(30)
print("created", sys.argv[2])
"#;

#[test]
fn a_secured_cluster_serves_tls_mtls_and_scram_clients_and_renews_certificates_in_place() {
    let _slot = multi_node_slot();
    let c = LocalCluster::up(&example("secured.yaml"));
    c.wait("Ready", 180);
    let s = c.status();
    let (tls, mtls, scram) = (
        listener(&s, "tls").to_owned(),
        listener(&s, "mtls").to_owned(),
        listener(&s, "scram").to_owned(),
    );
    assert_eq!(s["bootstrapServers"].as_str(), Some(tls.as_str()));
    let state = c.state.path();
    let ca = state.join("tide/pki/cluster-ca.crt");
    let ca_setting = format!("ssl.ca.location={}", ca.display());

    // TLS: produce and consume RF 3 with acks=all, trusting only the cluster CA.
    let ssl = json!({"security.protocol": "SSL", "ssl.ca.location": ca.to_str().unwrap()});
    let out = clients_with(&tls, "secured", 50, 3, &ssl);
    assert!(out.contains("consumed 50"), "{out}");
    // A plaintext client on the TLS listener gets no metadata.
    let refused = kcat_metadata(&tls, &[]);
    assert!(refused.is_err(), "plaintext on TLS: {refused:?}");

    // mTLS: a certificate from the clients CA is let in, no certificate is not.
    let clients_ca = CaPem {
        cert: std::fs::read_to_string(state.join("tide/pki/clients-ca.crt")).unwrap(),
        key: std::fs::read_to_string(state.join("tide/pki/clients-ca.key")).unwrap(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let v = Validity {
        days: 1,
        renewal_days: 0,
    };
    let alice = pki::issue(&clients_ca, "alice", &[], v, now, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alice.crt"), &alice.cert).unwrap();
    std::fs::write(dir.path().join("alice.key"), &alice.key).unwrap();
    let ssl_settings = vec!["security.protocol=ssl".to_owned(), ca_setting.clone()];
    let with_cert = [
        ssl_settings.clone(),
        vec![
            format!(
                "ssl.certificate.location={}",
                dir.path().join("alice.crt").display()
            ),
            format!(
                "ssl.key.location={}",
                dir.path().join("alice.key").display()
            ),
        ],
    ]
    .concat();
    let md = kcat_metadata(&mtls, &with_cert).unwrap();
    assert!(md.contains("3 brokers"), "{md}");
    let no_cert = kcat_metadata(&mtls, &ssl_settings);
    assert!(no_cert.is_err(), "mTLS without a certificate: {no_cert:?}");

    // The OPERATOR listener is mTLS against the cluster CA: no plaintext client, no
    // client without a certificate, none with a clients-CA certificate.
    let operator_port = operator_listener(state);
    for settings in [vec![], ssl_settings.clone(), with_cert.clone()] {
        let refused = kcat_metadata(&operator_port, &settings);
        assert!(
            refused.is_err(),
            "OPERATOR let in {settings:?}: {refused:?}"
        );
    }

    // SCRAM-SHA-512 over TLS, with a user an admin created (AlterUserScramCredentials):
    // confluent-kafka's admin as the operator (its certificate, on OPERATOR).
    let operator_pem = state.join("tide/pki/operator.pem");
    let out = Command::new("python3")
        .args([
            "-c",
            SCRAM_USER,
            &operator_port,
            "alice",
            "alice-secret",
            ca.to_str().unwrap(),
            operator_pem.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sasl = |password: &str| {
        json!({"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
               "sasl.username": "alice", "sasl.password": password,
               "ssl.ca.location": ca.to_str().unwrap()})
    };
    let out = clients_with(&scram, "scram-topic", 20, 3, &sasl("alice-secret"));
    assert!(out.contains("consumed 20"), "{out}");
    let wrong = [
        ssl_settings.clone(),
        vec![
            "security.protocol=sasl_ssl".to_owned(),
            "sasl.mechanisms=SCRAM-SHA-512".to_owned(),
            "sasl.username=alice".to_owned(),
            "sasl.password=wrong".to_owned(),
        ],
    ]
    .concat();
    assert!(
        kcat_metadata(&scram, &wrong).is_err(),
        "a wrong SCRAM password got in"
    );

    // Renewal: a shorter validity reissues every broker certificate; the brokers serve
    // the new ones without a restart.
    let pids = broker_pids(&s);
    let leaf = |id: i32| {
        pem_body(
            &std::fs::read_to_string(state.join(format!("tide/broker-{id}/tls/broker.crt")))
                .unwrap(),
        )
    };
    let before: Vec<String> = (0..3).map(leaf).collect();
    let tls_addrs: Vec<String> = tls.split(',').map(str::to_owned).collect();
    for (addr, cert) in tls_addrs.iter().zip(&before) {
        assert_eq!(
            &served_cert(addr),
            cert,
            "{addr} serves another certificate"
        );
    }
    let spec = std::fs::read_to_string(example("secured.yaml"))
        .unwrap()
        .replacen(
            "validityDays: 365\n    renewalDays: 30",
            "validityDays: 200\n    renewalDays: 20",
            1,
        );
    let out = c.apply(&spec);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for (id, addr) in tls_addrs.iter().enumerate() {
        let id = i32::try_from(id).unwrap();
        loop {
            let now_on_disk = leaf(id);
            if now_on_disk != before[id as usize] && served_cert(addr) == now_on_disk {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} does not serve a renewed certificate\n{}",
                c.events()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let renewed =
            std::fs::read_to_string(state.join(format!("tide/broker-{id}/tls/broker.crt")))
                .unwrap();
        let lifetime = pki::not_after(&renewed).unwrap() - now;
        assert!(
            (199 * 86_400..=201 * 86_400).contains(&lifetime),
            "{lifetime}"
        );
    }
    assert!(c.events().contains("CertificateRenewed"), "{}", c.events());
    // Same processes: the certificates were reloaded, not rolled in.
    assert_eq!(broker_pids(&c.status()), pids);
    // Clients that trust the cluster CA still work after its renewal.
    let out = clients_with(&tls, "after-renewal", 20, 3, &ssl);
    assert!(out.contains("consumed 20"), "{out}");
}
