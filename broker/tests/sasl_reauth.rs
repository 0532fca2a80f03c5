//! KIP-368 re-authentication on a SASL_PLAINTEXT listener with
//! `connections.max.reauth.ms` (issue 14 item 2): SaslAuthenticate v1 carries the
//! session lifetime; a SaslHandshake + SaslAuthenticate on an authenticated connection
//! re-authenticates it (the same principal only); a session left to expire is closed
//! on its next request, as Kafka does; a confluent-kafka producer keeps producing
//! across several session lifetimes.
//!
//! Raw frames are written by hand (as `sasl_listeners.rs` does) so each byte the
//! broker answers is checked.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::broker::free_port;
use common::clients::PLAIN_JAAS;
use common::sasl_frames::{authenticate, error_code, handshake, request, response};
use common::{Broker, BrokerOpts, python_client};

/// `connections.max.reauth.ms`.
const LIFETIME_MS: u64 = 2_000;

fn start() -> (Broker, SocketAddr) {
    let sasl: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = [
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        ),
        ("connections.max.reauth.ms", &LIFETIME_MS.to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let broker = Broker::start(BrokerOpts {
        config,
        extra_listeners: vec![format!("SASL_PLAINTEXT://{sasl}")],
        ..Default::default()
    });
    (broker, sasl)
}

/// SaslHandshake v1 then SaslAuthenticate v1 with PLAIN; the SaslAuthenticate
/// response's (error code, session_lifetime_ms), `None` if the broker closed.
fn plain_login(s: &mut TcpStream, user: &str, password: &str) -> Option<(i16, i64)> {
    s.write_all(&handshake("PLAIN")).ok()?;
    assert_eq!(error_code(&response(s)?), 0);
    let token = format!("\0{user}\0{password}");
    s.write_all(&authenticate(token.as_bytes())).ok()?;
    let r = response(s)?;
    // error_code, error_message (nullable string), auth_bytes (bytes), session_lifetime_ms.
    let code = i16::from_be_bytes([r[0], r[1]]);
    let mut at = 2;
    let msg_len = i16::from_be_bytes([r[at], r[at + 1]]);
    at += 2 + usize::try_from(msg_len).unwrap_or(0);
    let bytes_len = i32::from_be_bytes(r[at..at + 4].try_into().expect("4 bytes"));
    at += 4 + usize::try_from(bytes_len).unwrap_or(0);
    let lifetime = i64::from_be_bytes(r[at..at + 8].try_into().expect("8 bytes"));
    Some((code, lifetime))
}

/// Whether a Metadata v1 request on `s` is answered (else the broker closed it).
fn metadata_answered(s: &mut TcpStream) -> bool {
    s.write_all(&request(3, 1, 3, &(-1i32).to_be_bytes()))
        .is_ok()
        && response(s).is_some()
}

#[test]
fn sessions_carry_their_lifetime_reauthenticate_and_expire() {
    let (_broker, sasl) = start();
    let lifetime = Duration::from_millis(LIFETIME_MS);

    // The lifetime is announced, and a re-authentication as the same user is accepted
    // and extends the session past the first one's end.
    let mut renewed = TcpStream::connect(sasl).expect("connect");
    let logged_in = Instant::now();
    assert_eq!(
        plain_login(&mut renewed, "alice", "alice-secret"),
        Some((0, LIFETIME_MS as i64))
    );
    assert!(metadata_answered(&mut renewed));
    // A session left alone past its lifetime: closed on its next request.
    let mut expiring = TcpStream::connect(sasl).expect("connect");
    assert_eq!(
        plain_login(&mut expiring, "alice", "alice-secret"),
        Some((0, LIFETIME_MS as i64))
    );
    std::thread::sleep(lifetime / 2);
    assert_eq!(
        plain_login(&mut renewed, "alice", "alice-secret"),
        Some((0, LIFETIME_MS as i64)),
        "re-authentication refused"
    );
    // Time itself is the condition here: the first session's lifetime must pass.
    std::thread::sleep((logged_in + lifetime + Duration::from_millis(200)) - Instant::now());
    assert!(
        metadata_answered(&mut renewed),
        "a re-authenticated session was closed at the first session's end"
    );
    assert!(
        !metadata_answered(&mut expiring),
        "an expired session was still served"
    );

    // Re-authenticating as someone else is refused: the connection is closed.
    let mut switching = TcpStream::connect(sasl).expect("connect");
    assert_eq!(
        plain_login(&mut switching, "alice", "alice-secret").map(|r| r.0),
        Some(0)
    );
    let _ = plain_login(&mut switching, "admin", "admin-secret");
    assert!(
        !metadata_answered(&mut switching),
        "a connection changed principals by re-authenticating"
    );
}

#[test]
fn librdkafka_keeps_producing_across_session_lifetimes() {
    let (broker, sasl) = start();
    let _ = broker;
    let sasl = sasl.to_string();
    let out = python_client(
        "tls_client.py",
        &[
            "--bootstrap".to_string(),
            sasl,
            "--set".to_string(),
            "security.protocol=SASL_PLAINTEXT".to_string(),
            "--set".to_string(),
            "sasl.mechanisms=PLAIN".to_string(),
            "--set".to_string(),
            "sasl.username=alice".to_string(),
            "--set".to_string(),
            "sasl.password=alice-secret".to_string(),
            "paced".to_string(),
            "--topic".to_string(),
            "reauth".to_string(),
            "--seconds".to_string(),
            (3 * LIFETIME_MS / 1000 + 1).to_string(),
        ],
        Duration::from_secs(90),
    )
    .ok();
    eprintln!("FIGURES KIP-368 librdkafka: {}", out.stdout.trim());
}
