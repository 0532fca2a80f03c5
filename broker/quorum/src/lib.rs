//! The metadata quorum (KRaft's role in Kafka): a replicated, persisted metadata log on
//! openraft, the metadata image built by applying it in order, and the controller logic
//! that turns requests into metadata records.
//!
//! Layers, innermost first:
//! - [`records`]: the metadata log's record types.
//! - [`image`]: pure, deterministic `apply` of records; also the snapshot payload.
//! - [`controller`]: sans-IO decisions (`&MetadataImage` in, records or a Kafka error out).
//! - [`raft`]: openraft 0.9 storage, snapshots and TCP transport; [`raft::QuorumNode`].
//! - [`service`]: [`service::QuorumController`], running the controller on the leader.
//!
//! Brokers follow the log by watching [`raft::QuorumNode::image`]; they never receive
//! pushed deltas, so no broker applies changes out of order.

pub mod controller;
pub mod image;
pub mod raft;
pub mod records;
pub mod service;
