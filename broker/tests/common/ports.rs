//! Listener ports for the processes a test starts.
//!
//! A port the OS hands out for `bind(127.0.0.1:0)` comes from the ephemeral range
//! (`net.ipv4.ip_local_port_range`, 32768–60999 by default), the same range every outgoing
//! connection takes its source port from. Between the test releasing such a port and the
//! broker binding it, any client (a JVM tool, kcat, a broker's own replica fetcher) may take
//! it as a source port, and the broker then fails with "Address already in use". Ports
//! below the ephemeral range are never handed out that way, so tests take theirs from
//! there: a per-process sequence from a pid-derived start (so two test processes walk
//! different stretches), skipping any port that is in use.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out (above the well-known and most registered service ports).
const LOW: u32 = 10_000;

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A 127.0.0.1 port that is free now and outside the ephemeral range.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let high = ephemeral_start();
    if high <= LOW + 1_000 {
        // The ephemeral range starts too low to leave room: let the OS pick.
        return TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
    }
    let span = high - LOW;
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + n % span) % span;
        let port = u16::try_from(port).expect("port below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free 127.0.0.1 port in {LOW}..{high}");
}
