//! The metadata quorum (KRaft's role in Kafka): a replicated, persisted metadata log on
//! openraft, the metadata image built by applying it in order, and the controller logic
//! that turns requests into metadata records.
//!
//! Layers, innermost first:
//! - [`records`]: the metadata log's record types.
//! - [`acl`]: ACLs as the image holds them (Kafka's vocabulary and an index).
//! - [`image`]: pure, deterministic `apply` of records; also the snapshot payload.
//! - [`controller`]: sans-IO decisions (`&MetadataImage` in, records or a Kafka error out).
//! - [`raft`]: openraft 0.9 storage, snapshots and TCP transport; [`raft::QuorumNode`].
//! - [`service`]: [`service::QuorumController`], running the controller on the leader
//!   and serving brokers' [`rpc::ControllerCall`]s on the controller listener.
//! - [`topic_name`]: Kafka's topic-name rules, shared with the broker.
//! - [`rpc`]: the broker-to-controller calls, replies and failures (Kafka error codes).
//! - [`controller_client`]: the broker side: [`controller_client::ControllerClient`] sends calls to the
//!   active controller; [`controller_client::MetadataFollower`] follows the metadata log as a
//!   KRaft observer.
//!
//! Brokers follow the log by fetching what voters have applied, in log order (or by
//! watching [`raft::QuorumNode::image`] when co-located with a voter); they never
//! receive pushed deltas, so no broker applies changes out of order.

pub mod acl;
pub mod controller;
pub mod controller_client;
pub mod image;
pub mod raft;
pub mod records;
pub mod rpc;
pub mod service;
pub mod topic_name;
