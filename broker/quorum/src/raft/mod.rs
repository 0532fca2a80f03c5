//! The replicated metadata log on openraft 0.9: type config, durable log store,
//! state machine with snapshots, TCP (or TLS) transport, and the [`QuorumNode`] facade.

mod leader_loss;
mod log_file;
mod log_store;
mod membership;
mod network;
mod node;
mod recent;
pub mod sasl;
mod server;
mod serving;
mod state_machine;
mod transport;
mod wire;

use std::io::Cursor;

pub use log_store::LogStore;
pub use membership::{MembershipError, endpoint};
pub(crate) use network::CallError;
pub use network::{Connection, NetworkFactory};
pub(crate) use node::voter_addresses;
pub use node::{QuorumConfig, QuorumError, QuorumNode};
pub(crate) use serving::ListenerState;
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use transport::ControllerTransport;
pub(crate) use wire::{Request, Response};

use crate::records::MetadataRecord;

openraft::declare_raft_types!(
    /// Raft types of the metadata quorum: log entries carry batches of metadata records.
    pub TypeConfig:
        D = Vec<MetadataRecord>,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
