//! SASL listeners (issue 14 item 2) with real clients: kcat and confluent-kafka over
//! SASL_PLAINTEXT and SASL_SSL with PLAIN (users from the listener's JAAS config) and
//! SCRAM-SHA-256/512 (users created through AlterUserScramCredentials); wrong
//! passwords, requests before authentication and unknown mechanisms, each refused on
//! its own connection only; a SCRAM user created on one broker of three
//! authenticating on another.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use common::broker::free_port;
use common::clients::PLAIN_JAAS;
use common::cluster::Cluster;
use common::sasl_frames::{authenticate, error_code, handshake, request, response};
use common::{Broker, BrokerOpts, kcat, kcat_read, python_client, wait_until};

const T: Duration = Duration::from_secs(60);

/// A broker with PLAINTEXT, SASL_PLAINTEXT and SASL_SSL listeners.
struct SaslBroker {
    broker: Broker,
    sasl_plaintext: SocketAddr,
    sasl_ssl: SocketAddr,
    ca: PathBuf,
    _pki: TempDir,
}

fn start() -> SaslBroker {
    let pki = tempfile::Builder::new()
        .prefix("tidewater-pki-")
        .tempdir()
        .expect("pki dir");
    let ca = certs::TestCa::new("Tidewater Test CA");
    let keystore = certs::write(pki.path(), "broker.pem", &ca.server().keystore());
    let ca_path = certs::write(pki.path(), "ca.pem", &ca.pem);
    let addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().expect("addr") };
    let (sasl_plaintext, sasl_ssl) = (addr(), addr());
    let config = [
        (
            "sasl.enabled.mechanisms",
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        ),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        ),
        ("listener.name.sasl_ssl.plain.sasl.jaas.config", PLAIN_JAAS),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.to_str().expect("utf8")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let broker = Broker::start(BrokerOpts {
        num_partitions: 3,
        config,
        extra_listeners: vec![
            format!("SASL_PLAINTEXT://{sasl_plaintext}"),
            format!("SASL_SSL://{sasl_ssl}"),
        ],
        ..Default::default()
    });
    SaslBroker {
        broker,
        sasl_plaintext,
        sasl_ssl,
        ca: ca_path,
        _pki: pki,
    }
}

/// Client properties for SASL with `mechanism` as `user`.
fn sasl_props(protocol: &str, mechanism: &str, user: &str, password: &str) -> Vec<String> {
    vec![
        format!("security.protocol={protocol}"),
        format!("sasl.mechanisms={mechanism}"),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
    ]
}

fn kcat_x(props: &[String]) -> Vec<String> {
    props
        .iter()
        .flat_map(|p| ["-X".to_string(), p.clone()])
        .collect()
}

/// `python3 <script> --bootstrap B --set p... <rest>`.
fn confluent(script: &str, bootstrap: &str, props: &[String], rest: &[&str]) -> common::Output {
    let mut args = vec!["--bootstrap".to_string(), bootstrap.to_string()];
    for p in props {
        args.extend(["--set".to_string(), p.clone()]);
    }
    args.extend(rest.iter().map(|s| s.to_string()));
    python_client(script, &args, Duration::from_secs(120))
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn upsert_scram(bootstrap: &str, user: &str, password: &str, mechanism: &str) {
    confluent(
        "sasl_admin.py",
        bootstrap,
        &[],
        &[
            "upsert",
            "--user",
            user,
            "--password",
            password,
            "--mechanism",
            mechanism,
        ],
    )
    .ok();
}

#[test]
fn kcat_and_confluent_kafka_with_plain_and_scram() {
    let b = start();
    let plaintext = b.broker.bootstrap();
    upsert_scram(&plaintext, "bob", "bob-secret", "SCRAM-SHA-512");
    upsert_scram(&plaintext, "carol", "carol-secret", "SCRAM-SHA-256");
    let described = confluent(
        "sasl_admin.py",
        &plaintext,
        &[],
        &["describe", "--user", "bob"],
    )
    .ok();
    assert!(
        described
            .stdout
            .contains(r#""bob": [{"mechanism": "SCRAM_SHA_512", "iterations": 4096}]"#),
        "{described}"
    );
    let sasl = b.sasl_plaintext.to_string();
    // kcat: PLAIN writes, SCRAM-SHA-512 reads back.
    let lines: String = (0..300).map(|i| format!("sasl-record-{i}\n")).collect();
    let plain = kcat_x(&sasl_props(
        "SASL_PLAINTEXT",
        "PLAIN",
        "alice",
        "alice-secret",
    ));
    let mut args = vec!["-b", sasl.as_str(), "-P", "-t", "over-sasl"];
    args.extend(strs(&plain));
    kcat(&args, Some(lines.as_bytes()), T).ok();
    let scram = kcat_x(&sasl_props(
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "bob",
        "bob-secret",
    ));
    let read = kcat_read(&sasl, "over-sasl", &strs(&scram), T);
    let mut got: Vec<&str> = read.stdout.lines().collect();
    got.sort();
    let mut expected: Vec<&str> = lines.lines().collect();
    expected.sort();
    assert_eq!(got, expected, "read with SCRAM-SHA-512");
    // confluent-kafka: acks=all round trips with each SCRAM mechanism and PLAIN.
    for (mechanism, user, password, topic) in [
        ("SCRAM-SHA-512", "bob", "bob-secret", "scram-512"),
        ("SCRAM-SHA-256", "carol", "carol-secret", "scram-256"),
        ("PLAIN", "alice", "alice-secret", "plain"),
    ] {
        let props = sasl_props("SASL_PLAINTEXT", mechanism, user, password);
        let out = confluent(
            "tls_client.py",
            &sasl,
            &props,
            &[
                "round-trip",
                "--topic",
                topic,
                "--count",
                "2000",
                "--size",
                "512",
            ],
        )
        .ok();
        println!("confluent-kafka {mechanism}: {}", out.stdout.trim());
    }
    // SASL_SSL: SCRAM over TLS with kcat, and confluent-kafka.
    let ssl = b.sasl_ssl.to_string();
    let mut props = sasl_props("SASL_SSL", "SCRAM-SHA-512", "bob", "bob-secret");
    props.push(format!("ssl.ca.location={}", b.ca.display()));
    let x = kcat_x(&props);
    let read = kcat_read(&ssl, "over-sasl", &strs(&x), T);
    assert_eq!(
        read.stdout.lines().count(),
        300,
        "read over SASL_SSL: {read}"
    );
    let out = confluent(
        "tls_client.py",
        &ssl,
        &props,
        &[
            "round-trip",
            "--topic",
            "sasl-ssl",
            "--count",
            "2000",
            "--size",
            "512",
        ],
    )
    .ok();
    println!(
        "confluent-kafka SCRAM-SHA-512 over SASL_SSL: {}",
        out.stdout.trim()
    );
}

fn assert_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = [0u8; 256];
    assert!(
        matches!(s.read(&mut buf), Ok(0) | Err(_)),
        "connection left open"
    );
}

#[test]
fn wrong_passwords_and_unauthenticated_requests_fail_on_their_connection_only() {
    let b = start();
    upsert_scram(&b.broker.bootstrap(), "bob", "bob-secret", "SCRAM-SHA-512");
    let sasl = b.sasl_plaintext;
    // An authenticated connection opened first keeps working throughout.
    let mut good = TcpStream::connect(sasl).expect("connect");
    good.write_all(&handshake("PLAIN")).expect("write");
    assert_eq!(error_code(&response(&mut good).expect("handshake")), 0);
    good.write_all(&authenticate(b"\0alice\0alice-secret"))
        .expect("write");
    assert_eq!(error_code(&response(&mut good).expect("authenticate")), 0);
    let metadata = request(3, 1, 3, &(-1i32).to_be_bytes());
    good.write_all(&metadata).expect("write");
    assert!(
        response(&mut good).is_some(),
        "metadata after authentication"
    );

    // A wrong PLAIN password: SASL_AUTHENTICATION_FAILED (58) after the delay, then closed.
    let mut s = TcpStream::connect(sasl).expect("connect");
    s.write_all(&handshake("PLAIN")).expect("write");
    assert_eq!(error_code(&response(&mut s).expect("handshake")), 0);
    let sent = Instant::now();
    s.write_all(&authenticate(b"\0alice\0wrong"))
        .expect("write");
    let failed = response(&mut s).expect("authenticate response");
    let delay = sent.elapsed();
    assert_eq!(error_code(&failed), 58);
    let message = String::from_utf8_lossy(&failed[4..]).to_string();
    assert!(
        message.contains("Invalid username or password"),
        "{message}"
    );
    assert!(
        delay >= Duration::from_millis(100),
        "answered after {delay:?}"
    );
    assert_closed(&mut s);
    println!("wrong PLAIN password answered after {delay:?}");

    // Metadata before authentication, an unknown mechanism, a second handshake:
    // each closes its connection (the unknown mechanism after its answer, 33).
    let mut s = TcpStream::connect(sasl).expect("connect");
    s.write_all(&metadata).expect("write");
    assert_closed(&mut s);
    let mut s = TcpStream::connect(sasl).expect("connect");
    s.write_all(&handshake("GSSAPI")).expect("write");
    let answer = response(&mut s).expect("handshake answer");
    assert_eq!(error_code(&answer), 33);
    assert_closed(&mut s);
    let mut s = TcpStream::connect(sasl).expect("connect");
    s.write_all(&handshake("PLAIN")).expect("write");
    response(&mut s).expect("handshake");
    s.write_all(&handshake("PLAIN")).expect("write");
    assert_closed(&mut s);
    // A SASL token over sasl.server.max.receive.size closes before it is read.
    let mut s = TcpStream::connect(sasl).expect("connect");
    s.write_all(&(600_000i32).to_be_bytes()).expect("write");
    assert_closed(&mut s);

    // Real clients with wrong passwords get the authentication error.
    for (mechanism, user) in [
        ("PLAIN", "alice"),
        ("SCRAM-SHA-512", "bob"),
        ("SCRAM-SHA-512", "nobody"),
    ] {
        let props = sasl_props("SASL_PLAINTEXT", mechanism, user, "wrong");
        let out = confluent(
            "sasl_admin.py",
            &sasl.to_string(),
            &props,
            &["expect-auth-error"],
        )
        .ok();
        println!("{mechanism} {user}: {}", out.stdout.trim());
        let x = kcat_x(&props);
        let mut args = vec!["-b".to_string(), sasl.to_string(), "-L".to_string()];
        args.extend(x);
        let out = kcat(&strs(&args), None, T);
        assert!(
            !out.status.success(),
            "kcat -L with a wrong password succeeded: {out}"
        );
        assert!(out.stderr.contains("Authentication failed"), "{out}");
    }
    // The first connection was never disturbed.
    good.write_all(&metadata).expect("write");
    assert!(
        response(&mut good).is_some(),
        "metadata on the first connection"
    );
}

#[test]
fn a_scram_user_created_on_one_broker_authenticates_on_another() {
    // Created through node 1's PLAINTEXT listener, used on node 3's SASL_PLAINTEXT one.
    let mut cluster = Cluster::combined(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            ),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
            ("auto.create.topics.enable", "true"),
        ],
    );
    // Every node gets a SASL_PLAINTEXT listener next to its others, one restart at a
    // time (Metadata over SASL_PLAINTEXT names each broker's SASL_PLAINTEXT address).
    let sasl = cluster.add_listener("SASL_PLAINTEXT", "")[2];
    let first = cluster.node(1).bootstrap();
    upsert_scram(&first, "dave", "dave-secret", "SCRAM-SHA-512");
    let props = sasl_props("SASL_PLAINTEXT", "SCRAM-SHA-512", "dave", "dave-secret");
    let x = kcat_x(&props);
    let sasl = sasl.to_string();
    let mut args = vec!["-b", sasl.as_str(), "-L"];
    args.extend(strs(&x));
    // Node 3's image follows node 1's change within its metadata propagation.
    wait_until("node 3 authenticates the user node 1 created", T, || {
        let out = kcat(&args, None, T);
        if out.status.success() {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
    let lines: String = (0..100).map(|i| format!("r{i}\n")).collect();
    let mut args = vec!["-b", sasl.as_str(), "-P", "-t", "scram-3"];
    args.extend(strs(&x));
    kcat(&args, Some(lines.as_bytes()), T).ok();
    let read = kcat_read(&sasl, "scram-3", &strs(&x), T);
    assert_eq!(read.stdout.lines().count(), 100, "{read}");
}
