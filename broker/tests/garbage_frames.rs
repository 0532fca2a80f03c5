//! Garbage on the wire: while a real client (confluent-kafka, acks=all, idempotent)
//! keeps producing, other connections throw malformed frames at the broker. The
//! broker must drop or answer the bad connections and keep serving the good one:
//! every record acknowledged, every record readable, the process alive.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::load::SteadyProducer;
use common::process::require_python_modules;
use common::{Broker, BrokerOpts, Rng};

/// A Kafka request header (v1: api key, version, correlation id, client id).
fn header(api_key: i16, api_version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&api_version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    let client = b"garbage-thrower";
    h.extend_from_slice(&(client.len() as i16).to_be_bytes());
    h.extend_from_slice(client);
    h
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// One malformed payload, chosen by the seeded generator.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    match rng.below(7) {
        // Random bytes: the first four become an arbitrary size prefix.
        0 => {
            let len = 1 + rng.below(4096) as usize;
            rng.bytes(len)
        }
        // A size prefix far over socket.request.max.bytes.
        1 => [i32::MAX.to_be_bytes().as_slice(), &rng.bytes(64)].concat(),
        // A negative size prefix.
        2 => [(-1i32).to_be_bytes().as_slice(), &rng.bytes(16)].concat(),
        // A well-sized frame of random bytes.
        3 => {
            let len = rng.below(512) as usize;
            framed(&rng.bytes(len))
        }
        // An unknown API key with a valid header.
        4 => framed(&header(0x7ff0, 0, 7)),
        // A Produce request whose body is cut short / random.
        5 => {
            let len = rng.below(64) as usize;
            framed(&[header(0, 9, 11), rng.bytes(len)].concat())
        }
        // A frame announced longer than what is sent, then the connection closes.
        _ => [1000i32.to_be_bytes().as_slice(), &header(3, 12, 5)].concat(),
    }
}

/// Sends one garbage payload on a fresh connection and reads whatever comes back
/// (an error response, or the broker closing the connection) until a short timeout.
fn throw(addr: SocketAddr, payload: &[u8]) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = s.write_all(payload);
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

#[test]
fn garbage_frames_do_not_disturb_a_producing_client() {
    require_python_modules(&["confluent_kafka"]);
    let mut rng = Rng::from_env("garbage_frames");
    let mut b = Broker::start(BrokerOpts::default());
    let mut producer = SteadyProducer::start(&b.bootstrap(), "steady", 3000);
    let mut thrown = 0u32;
    while producer.is_running() {
        throw(b.kafka_addr, &garbage(&mut rng));
        thrown += 1;
        assert!(
            b.is_running(),
            "broker died after {thrown} garbage connections"
        );
    }
    producer.expect_all_acked_and_readable(&b.bootstrap());
    assert!(
        thrown >= 50,
        "only {thrown} garbage connections were thrown while producing"
    );
    assert!(b.is_running(), "broker died");
    let health = b.http_get("/healthz").expect("/healthz");
    assert_eq!(health.status, 200, "{health:?}");
}

/// Sends ApiVersions at `version` and returns the response's error code, after
/// checking the response carries `correlation_id`.
fn api_versions_error(s: &mut TcpStream, version: i16, correlation_id: i32) -> i16 {
    s.write_all(&framed(&header(18, version, correlation_id)))
        .expect("write");
    let mut size = [0u8; 4];
    s.read_exact(&mut size).expect("response size");
    let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut resp).expect("response body");
    assert!(resp.len() >= 6, "response too short: {resp:?}");
    assert_eq!(
        i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]),
        correlation_id,
        "correlation id"
    );
    i16::from_be_bytes([resp[4], resp[5]])
}

#[test]
fn unsupported_api_versions_version_gets_error_35_then_connection_still_usable() {
    let b = Broker::start(BrokerOpts::default());
    let mut s = TcpStream::connect(b.kafka_addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // ApiVersions v999: Kafka answers in v0 with UNSUPPORTED_VERSION (35) (KIP-511).
    assert_eq!(api_versions_error(&mut s, 999, 4242), 35, "error code");
    // The same connection then answers a valid ApiVersions v0 request.
    assert_eq!(api_versions_error(&mut s, 0, 4243), 0, "error code");
}
