//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! offsets) as a sans-IO state machine, and the `__consumer_offsets` record format.
//!
//! Layout: [`config`] (Kafka's `group.*` settings), [`backend`] (the port the broker
//! implements), [`partition`] (group -> `__consumer_offsets` partition), and
//! [`GroupCoordinator`], the tokio shell that the protocol server calls.

pub mod backend;
pub mod config;
mod coordinator;
pub mod core;
pub mod group;
pub mod partition;
pub mod records;

pub use backend::{OffsetsBackend, OffsetsRecord};
pub use config::GroupConfig;
pub use coordinator::{GroupCoordinator, GroupCounts};
