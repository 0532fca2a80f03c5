//! Fuzz finds against the live broker binary: every frame in
//! `broker/fuzz/regressions/decode_request.txt` is sent on its own connection
//! while a real client (confluent-kafka) keeps producing. Each bad connection
//! must be closed by the broker; the producer must see every record
//! acknowledged; the broker must stay up.
//!
//! The broker runs under an address-space limit (`prlimit --as`) a little above
//! what it maps at rest, so a decoder that reserves memory for the element count a
//! frame claims aborts the process here even where the allocator would have
//! reserved it lazily (mimalloc with overcommit) and hidden the bug.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::load::SteadyProducer;
use common::process::require_python_modules;
use common::{Broker, BrokerOpts, require_tool};

/// Head room above the broker's mapped size at rest: far more than a producing
/// client needs, far less than a reservation for a claimed count (gigabytes).
const ADDRESS_SPACE_HEADROOM: u64 = 1 << 30;

/// The frames of `broker/fuzz/regressions/decode_request.txt` (the hex column).
fn regressions() -> Vec<Vec<u8>> {
    include_str!("../fuzz/regressions/decode_request.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let hex = l.split(' ').next().unwrap_or(l);
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex frame"))
                .collect()
        })
        .collect()
}

/// `VmSize` of `pid` in bytes, from /proc.
fn mapped_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .expect("VmSize in /proc status")
}

/// Caps the broker's address space at its current size plus `headroom`.
fn limit_address_space(pid: u32, headroom: u64) -> u64 {
    require_tool("prlimit");
    let limit = mapped_bytes(pid) + headroom;
    let out = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--as={limit}:{limit}")])
        .output()
        .expect("run prlimit");
    assert!(out.status.success(), "prlimit failed: {out:?}");
    limit
}

/// Sends `frame` with its size prefix on a fresh connection and waits for the
/// broker to close it (EOF or reset), failing after `within`.
fn send_and_expect_close(addr: SocketAddr, frame: &[u8], within: Duration) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    let size = i32::try_from(frame.len()).expect("frame size");
    s.write_all(&[size.to_be_bytes().as_slice(), frame].concat())
        .expect("write frame");
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "connection still open {within:?} after {frame:02x?}"
        );
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Ok(n) => panic!("broker answered {frame:02x?} with {n} bytes instead of closing"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading after {frame:02x?}: {e}"),
        }
    }
}

#[test]
fn fuzz_regressions_close_their_connection_while_a_client_keeps_producing() {
    require_python_modules(&["confluent_kafka"]);
    let frames = regressions();
    assert!(!frames.is_empty(), "no regression frames");
    let mut b = Broker::start(BrokerOpts::default());
    let limit = limit_address_space(b.pid(), ADDRESS_SPACE_HEADROOM);
    let mut producer = SteadyProducer::start(&b.bootstrap(), "steady", 1500);
    // Every frame at least once, and again for as long as the producer runs.
    let mut sent = 0usize;
    while sent < frames.len() || producer.is_running() {
        send_and_expect_close(
            b.kafka_addr,
            &frames[sent % frames.len()],
            Duration::from_secs(10),
        );
        sent += 1;
        assert!(
            b.is_running(),
            "broker died after {sent} regression frames (address space capped at {limit} bytes)"
        );
    }
    producer.expect_all_acked_and_readable(&b.bootstrap());
    assert!(sent >= 10, "only {sent} frames were sent while producing");
    assert!(b.is_running(), "broker died");
}
