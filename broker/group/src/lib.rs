//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit/Fetch/Delete, ListGroups, DescribeGroups, DeleteGroups) and the
//! `__consumer_offsets` record format, modelled on Kafka's `GroupCoordinator`, and
//! KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe) modelled
//! on Kafka's `GroupMetadataManager` / `ConsumerGroup`.
//!
//! Layout:
//! - [`state_machine`]: the sans-IO state machine of every group (Kafka's
//!   `GroupCoordinator` logic without its purgatories and scheduler). Time comes in as `now_ms`;
//!   out come [`state_machine::Effect`]s (answers for parked calls, records to append,
//!   timers to arm). All Kafka rules and error codes live here.
//! - [`group`]: one group's data and Kafka's pure rules over it (leader election,
//!   protocol selection, subscriptions, state transitions).
//! - [`consumer`]: one KIP-848 consumer group's data, the server-side assignors
//!   and the reconciliation of a member towards its target assignment.
//! - [`records`]: Kafka's exact `__consumer_offsets` key/value schemas.
//! - [`GroupCoordinator`]: the thin tokio shell the protocol server calls; it parks
//!   JoinGroup/SyncGroup responses, runs the timers on one task and performs
//!   appends through the broker's [`OffsetsBackend`].
//! - [`config`], [`partition`]: Kafka's settings and group -> partition mapping.
//!
//! Wiring (the broker's side): build one `Arc<GroupCoordinator>` inside tokio, call
//! [`GroupCoordinator::load_partition`] for every `__consumer_offsets` partition
//! (optionally after [`GroupCoordinator::begin_loading`] so groups answer
//! COORDINATOR_LOAD_IN_PROGRESS meanwhile), dispatch the group APIs with the
//! request's API version, and call [`GroupCoordinator::shutdown`] on exit.
//!
//! Ownership, as Kafka's `GroupCoordinator.onElection` / `onResignation`: a broker
//! coordinates exactly the groups whose `__consumer_offsets` partition
//! ([`GroupCoordinator::partition_for`]) it leads. [`GroupCoordinator::new`] owns
//! every partition (single node); [`GroupCoordinator::new_unowned`] owns none until
//! [`GroupCoordinator::load_partition`] replays one after the broker became its
//! leader, and [`GroupCoordinator::unload_partition`] gives one up when it lost the
//! leadership. Groups of partitions not owned answer NOT_COORDINATOR;
//! [`GroupCoordinator::owns_partition`] serves the broker's FindCoordinator. When
//! replays run off the request path, use [`GroupCoordinator::load_partition_at_epoch`]
//! / [`GroupCoordinator::unload_partition_at_epoch`] with the partition's leader
//! epoch so a change that arrives late (older epoch) is ignored, as in Kafka.

pub mod backend;
pub mod config;
pub mod consumer;
mod coordinator;
pub mod group;
pub mod partition;
pub mod records;
pub mod state_machine;

pub use backend::{LoadRecord, OffsetsBackend, OffsetsRecord, Replicated, settled};
pub use config::GroupConfig;
pub use coordinator::{GroupCoordinator, GroupCounts};
