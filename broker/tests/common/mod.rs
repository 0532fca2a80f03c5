//! Test harness shared by the real-client integration tests: `NodeProcess` (spawn,
//! wait ready, signal, restart one real `tidewater-broker`), a single-node `Broker`
//! and a KRaft `Cluster` built on it, client tooling (`clients`, `process`), load
//! generation with an ack ledger (`load`) and the statistics of printed figures
//! (`stats`).
//!
//! Owns every process it starts: a `Broker` or client still running when its guard
//! drops is killed, so no test leaves a process behind, pass or fail.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod cluster_node;
pub mod http;
pub mod load;
pub mod node_process;
pub mod ports;
pub mod process;
pub mod sasl_frames;
pub mod stats;
pub mod txn;
pub mod wait;

pub use broker::{Broker, BrokerOpts};
pub use process::{Output, kcat, kcat_read, python_client, require_tool};
pub use wait::wait_until;

/// A deterministic random generator for tests (xorshift64*). The seed comes from
/// `TIDEWATER_TEST_SEED` when set, so a failing run can be replayed, and is printed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("TIDEWATER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: seed {seed} (replay with TIDEWATER_TEST_SEED={seed})");
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}
