//! The Tidewater broker: configuration, the Kafka protocol server and its request
//! handlers. Storage lives in `tidewater-storage`, group coordination in
//! `tidewater-group`.
//!
//! Every node is a KRaft node: without `process.roles` a one-voter combined node.
//!
//! Layout: [`config`] (server.properties), [`cluster`] (this node's KRaft role: the
//! quorum or metadata follower, registration, controller calls, the migration of old
//! single-node data dirs), [`metadata`] (the read view of the metadata image,
//! `meta.properties`, this node's own state file), [`replica`] (local replicas),
//! [`protocol`] (frame codec), [`handlers`] (one Kafka API per file), [`state`] (the
//! shared [`state::Broker`]), [`server`] (listeners, connections, shutdown),
//! [`metrics`] and [`cli`].

pub mod broker_server;
pub mod cli;
pub mod config;
pub mod handlers;
pub mod kraft;
pub mod metadata;
pub mod metrics;
pub mod protocol;
pub mod replica_manager;
pub mod server;

/// Unit tests (the decode property tests especially) run under the same
/// allocator as the binary; see `main.rs` for why it matters.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
