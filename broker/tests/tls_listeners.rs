//! SSL listeners (issue 14 item 2) with real clients: kcat and confluent-kafka
//! over TLS and mTLS next to a PLAINTEXT listener, garbage on the TLS port, and
//! the startup refusals of listener protocols the broker cannot serve.
//!
//! Certificates are made at test time (`common/certs.rs`); no key is committed.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use rcgen::{DnType, DnValue};
use tempfile::TempDir;

use common::broker::{BROKER_BIN, free_port};
use common::process::spawn;
use common::{Broker, BrokerOpts, kcat, kcat_read, python_client};

const T: Duration = Duration::from_secs(60);

/// A broker with a PLAINTEXT and an SSL listener, and the files clients need.
struct TlsBroker {
    broker: Broker,
    ssl: SocketAddr,
    /// Holds the PEM files below.
    _pki: TempDir,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A client certificate from a CA the broker does not trust.
    stranger_cert: PathBuf,
    stranger_key: PathBuf,
    /// A client certificate from the trusted CA, expired.
    expired_cert: PathBuf,
    expired_key: PathBuf,
}

fn start(client_auth: &str) -> TlsBroker {
    let pki = tempfile::Builder::new()
        .prefix("tidewater-pki-")
        .tempdir()
        .expect("pki dir");
    let ca = certs::TestCa::new("Tidewater Test CA");
    let dir = pki.path();
    let keystore = certs::write(dir, "broker.pem", &ca.server().keystore());
    let ca_path = certs::write(dir, "ca.pem", &ca.pem);
    let client = ca.client(vec![
        (DnType::OrganizationName, DnValue::from("Tidewater")),
        (DnType::CommonName, DnValue::from("alice")),
    ]);
    let stranger =
        certs::TestCa::new("Other CA").client(vec![(DnType::CommonName, DnValue::from("mallory"))]);
    let expired = ca.expired_client(vec![(DnType::CommonName, DnValue::from("bob"))]);
    let ssl: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = [
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.to_str().expect("utf8")),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", ca_path.to_str().expect("utf8")),
        ("listener.name.ssl.ssl.client.auth", client_auth),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let broker = Broker::start(BrokerOpts {
        num_partitions: 3,
        config,
        extra_listeners: vec![format!("SSL://{ssl}")],
        ..Default::default()
    });
    TlsBroker {
        broker,
        ssl,
        ca: ca_path,
        client_cert: certs::write(dir, "alice.crt", &client.chain),
        client_key: certs::write(dir, "alice.key", &client.key),
        stranger_cert: certs::write(dir, "mallory.crt", &stranger.chain),
        stranger_key: certs::write(dir, "mallory.key", &stranger.key),
        expired_cert: certs::write(dir, "bob.crt", &expired.chain),
        expired_key: certs::write(dir, "bob.key", &expired.key),
        _pki: pki,
    }
}

impl TlsBroker {
    /// kcat's `-X` arguments for SSL, with the client certificate when `cert`.
    fn kcat_ssl(&self, cert: bool) -> Vec<String> {
        let mut x = vec![
            "security.protocol=ssl".to_string(),
            format!("ssl.ca.location={}", self.ca.display()),
        ];
        if cert {
            x.push(format!(
                "ssl.certificate.location={}",
                self.client_cert.display()
            ));
            x.push(format!("ssl.key.location={}", self.client_key.display()));
        }
        x.into_iter().flat_map(|p| ["-X".to_string(), p]).collect()
    }

    /// confluent-kafka's `--set` arguments for SSL with an optional certificate.
    fn confluent_ssl(&self, cert: Option<(&PathBuf, &PathBuf)>) -> Vec<String> {
        let mut set = vec![
            "security.protocol=SSL".to_string(),
            format!("ssl.ca.location={}", self.ca.display()),
        ];
        if let Some((crt, key)) = cert {
            set.push(format!("ssl.certificate.location={}", crt.display()));
            set.push(format!("ssl.key.location={}", key.display()));
        }
        let mut args = vec!["--bootstrap".to_string(), self.ssl.to_string()];
        for s in set {
            args.push("--set".into());
            args.push(s);
        }
        args
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn kcat_and_confluent_kafka_over_ssl_next_to_plaintext() {
    let b = start("none");
    let ssl = b.ssl.to_string();
    let x = b.kcat_ssl(false);
    // Metadata over SSL advertises the SSL listener, over PLAINTEXT the plaintext one.
    let mut args = vec!["-b", ssl.as_str(), "-L", "-J"];
    args.extend(strs(&x));
    let out = kcat(&args, None, T).ok();
    let json = out.stdout.replace(' ', "");
    assert!(
        json.contains(&format!("\"brokers\":[{{\"id\":1,\"name\":\"{ssl}\"}}]")),
        "SSL listener not advertised over SSL:\n{out}"
    );
    let lines: String = (0..300).map(|i| format!("ssl-record-{i}\n")).collect();
    let mut args = vec!["-b", ssl.as_str(), "-P", "-t", "over-ssl"];
    args.extend(strs(&x));
    kcat(&args, Some(lines.as_bytes()), T).ok();
    let over_ssl = kcat_read(&ssl, "over-ssl", &strs(&x), T);
    let over_plain = kcat_read(&b.broker.bootstrap(), "over-ssl", &[], T);
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let mut expected: Vec<String> = lines.lines().map(str::to_string).collect();
    expected.sort();
    assert_eq!(sorted(&over_ssl.stdout), expected, "read over SSL");
    assert_eq!(sorted(&over_plain.stdout), expected, "read over PLAINTEXT");
    // 4,000 records of 1 KiB: fetched record sets far above the zero-copy
    // threshold, so the TLS connection's copying path serves them.
    let mut args = b.confluent_ssl(None);
    args.extend(
        [
            "round-trip",
            "--topic",
            "big-over-ssl",
            "--count",
            "4000",
            "--size",
            "1024",
        ]
        .map(String::from),
    );
    let over_ssl = python_client("tls_client.py", &args, Duration::from_secs(120)).ok();
    // The same load over PLAINTEXT, for the figure TLS costs (client-bound: one
    // Python producer and consumer, records copied instead of sendfile'd).
    let args: Vec<String> = [
        "--bootstrap",
        &b.broker.bootstrap(),
        "round-trip",
        "--topic",
        "big-over-plaintext",
        "--count",
        "4000",
        "--size",
        "1024",
    ]
    .map(String::from)
    .into();
    let over_plain = python_client("tls_client.py", &args, Duration::from_secs(120)).ok();
    println!("confluent-kafka over SSL: {}", over_ssl.stdout.trim());
    println!(
        "confluent-kafka over PLAINTEXT: {}",
        over_plain.stdout.trim()
    );
}

#[test]
fn mtls_requires_a_trusted_client_certificate_and_disturbs_no_one_else() {
    let b = start("required");
    let mut args = b.confluent_ssl(Some((&b.client_cert, &b.client_key)));
    args.extend(["round-trip", "--topic", "mtls", "--count", "500"].map(String::from));
    python_client("tls_client.py", &args, T).ok();
    // No certificate, one from a CA the broker does not trust, an expired one:
    // the handshake fails and the client reports an SSL error.
    for cert in [
        None,
        Some((&b.stranger_cert, &b.stranger_key)),
        Some((&b.expired_cert, &b.expired_key)),
    ] {
        let mut args = b.confluent_ssl(cert);
        args.push("expect-ssl-error".into());
        let out = python_client("tls_client.py", &args, T).ok();
        println!("refused client: {}", out.stdout.trim());
    }
    // The trusted client and plaintext clients are unaffected.
    let x = b.kcat_ssl(true);
    let over_ssl = kcat_read(&b.ssl.to_string(), "mtls", &strs(&x), T);
    assert_eq!(over_ssl.stdout.lines().count(), 500, "{over_ssl}");
    let plain = kcat_read(&b.broker.bootstrap(), "mtls", &[], T);
    assert_eq!(plain.stdout.lines().count(), 500, "{plain}");
}

#[test]
fn requested_client_auth_serves_clients_with_and_without_a_certificate() {
    let b = start("requested");
    let mut args = b.confluent_ssl(None);
    args.extend(["round-trip", "--topic", "anonymous", "--count", "200"].map(String::from));
    python_client("tls_client.py", &args, T).ok();
    let mut args = b.confluent_ssl(Some((&b.client_cert, &b.client_key)));
    args.extend(["round-trip", "--topic", "with-cert", "--count", "200"].map(String::from));
    python_client("tls_client.py", &args, T).ok();
    // A certificate that is presented is still verified: an expired one is refused.
    // (One from an unknown CA is not even sent: the client only offers a
    // certificate issued by a CA the server's request names.)
    let mut args = b.confluent_ssl(Some((&b.expired_cert, &b.expired_key)));
    args.push("expect-ssl-error".into());
    python_client("tls_client.py", &args, T).ok();
}

/// An ApiVersions v0 request, framed: what a client that forgot TLS sends first.
const API_VERSIONS_V0: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff];

/// Reads until EOF or an error, failing if the connection stays open.
fn assert_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            // A TLS alert may come first.
            Ok(_) => continue,
        }
    }
}

/// One ApiVersions v0 round trip on a plaintext connection.
fn api_versions(s: &mut TcpStream) {
    s.write_all(&API_VERSIONS_V0).expect("write");
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("response size");
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).expect("response");
    assert_eq!(&body[..4], &[0, 0, 0, 7], "correlation id");
}

#[test]
fn garbage_on_the_ssl_port_closes_only_that_connection() {
    let b = start("none");
    let mut plain = TcpStream::connect(b.broker.kafka_addr).expect("connect plaintext");
    api_versions(&mut plain);
    let payloads: [&[u8]; 3] = [
        &API_VERSIONS_V0,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // A TLS record header announcing a ClientHello, then nonsense.
        &[
            0x16, 0x03, 0x01, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
    ];
    for payload in payloads {
        let mut s = TcpStream::connect(b.ssl).expect("connect ssl");
        s.write_all(payload).expect("write garbage");
        assert_closed(&mut s);
    }
    // The plaintext connection opened before is still served, and SSL clients too.
    api_versions(&mut plain);
    let x = b.kcat_ssl(false);
    let ssl = b.ssl.to_string();
    let mut args = vec!["-b", ssl.as_str(), "-L"];
    args.extend(strs(&x));
    kcat(&args, None, T).ok();
    let log = b.broker.log();
    assert!(
        log.contains("SSL handshake failed"),
        "no handshake failure logged"
    );
}

#[test]
fn listener_protocols_the_broker_cannot_serve_refuse_startup() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let http = free_port();
    let cases = [
        (
            format!("listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{http}\n"),
            // Kafka's default sasl.enabled.mechanisms, which this broker does not serve.
            "mechanism GSSAPI is not supported",
        ),
        (
            format!("listeners=PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:{http}\n"),
            "no security protocol defined for listener INTERNAL",
        ),
        (
            format!(
                "listeners=SSL://127.0.0.1:{port}\nssl.keystore.location={}/missing.pem\nsecurity.inter.broker.protocol=PLAINTEXT\n",
                dir.path().display()
            ),
            "the inter-broker listener",
        ),
        (
            // SASL inter-broker without `sasl.mechanism.inter.broker.protocol`: Kafka's
            // default GSSAPI, which the broker cannot authenticate with.
            format!(
                "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{http}\nsasl.enabled.mechanisms=PLAIN\ninter.broker.listener.name=SASL_PLAINTEXT\nlistener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\";\n"
            ),
            "sasl.mechanism.inter.broker.protocol",
        ),
        (
            // SCRAM on the controller listener: its credentials would come from the
            // metadata log the quorum has yet to replicate.
            format!(
                "process.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:{http}\ncontroller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{http}\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\nsasl.mechanism.controller.protocol=SCRAM-SHA-512\nlistener.name.controller.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"c\" password=\"p\";\n"
            ),
            "the controller listener authenticates with PLAIN only",
        ),
    ];
    for (i, (listeners, expected)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("refused-{i}.properties"));
        std::fs::write(
            &config,
            format!(
                "node.id=1\nlog.dirs={}/data-{i}\ntidewater.http.listener=127.0.0.1:{}\n{listeners}",
                dir.path().display(),
                free_port()
            ),
        )
        .expect("write config");
        let out = spawn(
            BROKER_BIN,
            &[
                "start".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            None,
        )
        .wait(T);
        assert!(!out.status.success(), "started with {listeners}:\n{out}");
        assert!(
            out.stderr.contains(expected),
            "{listeners}: expected {expected:?} in\n{out}"
        );
    }
}

/// rustls client configs trusting `b`'s CA: with its client certificate (`alice`)
/// for mTLS, and without one.
fn client_tls(b: &TlsBroker) -> (tidewater_client::ClientTls, tidewater_client::ClientTls) {
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tidewater_client::ClientTls;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&b.ca).expect("ca") {
        roots.add(cert.expect("ca cert")).expect("add ca");
    }
    let roots = Arc::new(roots);
    let builder = || {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots.clone())
    };
    let chain = CertificateDer::pem_file_iter(&b.client_cert)
        .expect("chain")
        .collect::<Result<Vec<_>, _>>()
        .expect("chain certs");
    let key = PrivateKeyDer::from_pem_file(&b.client_key).expect("key");
    let with_cert = ClientTls::new(Arc::new(
        builder()
            .with_client_auth_cert(chain, key)
            .expect("client cert"),
    ));
    let without_cert = ClientTls::new(Arc::new(builder().with_no_client_auth()));
    (with_cert, without_cert)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The broker's own client (`tidewater-client`, which replica fetchers use) over
/// TLS: the broker's certificate verified against the CA, the client's presented
/// for mTLS; without one the connection fails.
#[test]
fn the_broker_client_speaks_tls_and_mtls() {
    use kafka_protocol::messages::MetadataRequest;
    use tidewater_client::{ClientConfig, Connection};

    let b = start("required");
    let ssl = b.ssl.to_string();
    let (with_cert, without_cert) = client_tls(&b);
    let config = ClientConfig {
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    current_thread().block_on(async {
        let conn = Connection::connect_tls(&ssl, config.clone(), &with_cert)
            .await
            .expect("mTLS connect");
        let md = conn
            .send(MetadataRequest::default())
            .await
            .expect("metadata over TLS");
        let ports: Vec<i32> = md.brokers.iter().map(|b| b.port).collect();
        assert_eq!(
            ports,
            vec![i32::from(b.ssl.port())],
            "the SSL listener advertised"
        );
        let refused = Connection::connect_tls(&ssl, config.clone(), &without_cert).await;
        assert!(refused.is_err(), "connected without a client certificate");
    });
}

/// `AdminClient::connect_secured` (the operator's admin connection) over mTLS: the
/// bootstrap connection, and the connection it opens to a broker found in the metadata
/// (a broker config change goes to that broker: bootstrapped through `localhost`, the
/// SSL listener is advertised as `127.0.0.1`, so that is a second connection). Without
/// a client certificate the listener refuses it.
#[test]
fn the_admin_client_speaks_mtls_on_every_connection() {
    use tidewater_client::{AdminClient, ClientConfig, ClientSecurity, ConfigResource};

    let b = start("required");
    let bootstrap = format!("localhost:{}", b.ssl.port());
    let (with_cert, without_cert) = client_tls(&b);
    let config = ClientConfig {
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    let secured = |tls| ClientSecurity {
        tls: Some(tls),
        sasl: None,
    };
    current_thread().block_on(async {
        let admin = AdminClient::connect_secured(&bootstrap, config.clone(), secured(with_cert))
            .await
            .expect("admin over mTLS");
        let md = admin.metadata(None).await.expect("metadata over mTLS");
        let advertised: Vec<String> = md
            .brokers
            .iter()
            .map(|b| format!("{}:{}", b.host, b.port))
            .collect();
        assert_eq!(
            advertised,
            vec![b.ssl.to_string()],
            "the SSL listener advertised"
        );
        admin
            .incremental_alter_configs(
                &ConfigResource::Broker(1),
                &[(
                    "leader.replication.throttled.rate",
                    Some("1048576".to_owned()),
                )],
            )
            .await
            .expect("a broker config set through a second mTLS connection");
        let refused =
            AdminClient::connect_secured(&bootstrap, config.clone(), secured(without_cert)).await;
        assert!(refused.is_err(), "connected without a client certificate");
        let plaintext = AdminClient::connect_with(&bootstrap, config).await;
        assert!(
            plaintext.is_err(),
            "a plaintext admin client on the SSL port"
        );
    });
}
