//! The Tidewater broker: configuration, the Kafka protocol server and its request
//! handlers. Storage lives in `tidewater-storage`, group coordination in
//! `tidewater-group`, replica state machines in `tidewater-replication`, the metadata
//! quorum and controller in `tidewater-quorum`.
//!
//! Every node is a KRaft node: without `process.roles` a one-voter combined node.
//!
//! Layout, with the Kafka class each module corresponds to (sans-IO cores live in the
//! sibling crates; the modules here are mostly their IO shells):
//! - [`server`]: listeners, connections, shutdown (`SocketServer`). IO shell.
//! - [`protocol`]: request/response framing and API versions (`RequestChannel`'s
//!   framing). Sans-IO.
//! - [`handlers`]: one Kafka API per file (`KafkaApis`): decoded request in, response out.
//! - [`broker_server`]: [`broker_server::Broker`], the handles every handler gets
//!   (`BrokerServer`'s managers): replicas, group coordinator, producer ids, connection
//!   slots, readiness; startup and shutdown.
//! - [`replica_manager`]: the replicas this broker leads or follows (`ReplicaManager`,
//!   `ReplicaFetcherThread`), their logs and fetch sessions, the leader checks of the
//!   data path; the shell around `tidewater-replication`. It imports nothing of
//!   `broker_server`.
//! - [`kraft`]: this node's KRaft role and lifecycle (`KafkaRaftServer`,
//!   `ControllerServer`, `BrokerLifecycleManager`): the quorum or metadata follower,
//!   registration, the controller calls, the migration of old single-node data dirs.
//! - [`metadata`]: the read view of the metadata image (`MetadataCache`,
//!   `KRaftMetadataCache` in [`metadata::image_store`]), `meta.properties`, this node's
//!   own state file.
//! - [`kafka_error`]: the one Kafka error-code-with-message type handlers answer with.
//! - [`config`] (`KafkaConfig`), [`metrics`] (rendered from a state snapshot the
//!   broker hands it), [`clock`] and [`cli`].

pub mod broker_server;
pub mod cli;
pub mod clock;
pub mod config;
pub mod handlers;
pub mod kafka_error;
pub mod kraft;
pub mod metadata;
pub mod metrics;
pub mod protocol;
pub mod replica_manager;
pub mod security;
pub mod server;

/// Unit tests (the decode property tests especially) run under the same
/// allocator as the binary; see `main.rs` for why it matters.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
