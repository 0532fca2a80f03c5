//! `spec.rebalance` (how the operator moves partitions when brokers are added or
//! removed, or when asked to rebalance) and `status.rebalance` (the plan it owns, and
//! its progress). Pure data: `crate::rebalance` plans and drives.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Controls of partition reassignment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceSpec {
    /// Replication throttle in bytes/s while partitions move, set as
    /// `leader/follower.replication.throttled.rate` on the brokers involved and removed
    /// when the plan ends. Unset: unthrottled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024))]
    pub throttle_bytes_per_second: Option<i64>,
    /// Partitions in flight at most per batch (one topic at a time). Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_partitions_in_flight: Option<i32>,
    /// No new batch starts while true (the batch in flight finishes).
    #[serde(default)]
    pub paused: bool,
    /// UTC window in which batches may start, e.g. `01:00-05:00` (may wrap midnight).
    /// An ongoing batch finishes outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub quiet_hours: Option<String>,
    /// Bump to rebalance the cluster without a size change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub generation: Option<i64>,
    /// Cancel the plan in progress: the ongoing moves are cancelled
    /// (AlterPartitionReassignments with no target) and no new plan starts while true.
    #[serde(default)]
    pub cancel: bool,
}

/// Where a plan is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RebalancePhase {
    /// Reading the cluster and computing the plan.
    #[default]
    Planning,
    /// A batch is moving without a throttle.
    Moving,
    /// A batch is moving under the replication throttle.
    Throttled,
    /// Waiting to start the next batch (paused or outside the quiet hours).
    Waiting,
    /// Every move is done, throttles are removed, preferred leaders elected.
    Done,
    /// Stopped: a move was refused or cancelled (see `message`); throttles are removed.
    Failed,
}

/// One planned partition move.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMove {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Replicas before.
    pub from: Vec<i32>,
    /// Target replicas, preferred leader first.
    pub to: Vec<i32>,
    /// Bytes to copy.
    pub bytes: i64,
}

/// The plan the operator owns and its progress; it survives an operator restart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceStatus {
    /// Where the plan is.
    pub phase: RebalancePhase,
    /// Why the plan was made: `scale-out`, `scale-in` or `generation N`.
    #[serde(default)]
    pub trigger: String,
    /// Brokers the plan is for (the ones to keep), to notice a change of size.
    #[serde(default)]
    pub brokers: Vec<i32>,
    /// Brokers being drained before removal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<i32>,
    /// `spec.rebalance.generation` the plan answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The moves, in batch order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<PlannedMove>,
    /// Moves per batch (batches never mix topics).
    #[serde(default)]
    pub batch_size: i32,
    /// Index of the batch in flight (or next) in the batches of `moves`.
    #[serde(default)]
    pub current_batch: i32,
    /// Batches in the plan.
    #[serde(default)]
    pub batches: i32,
    /// Whether the current batch was submitted (AlterPartitionReassignments sent).
    #[serde(default)]
    pub submitted: bool,
    /// Partitions moved so far.
    #[serde(default)]
    pub partitions_moved: i32,
    /// Partitions the plan moves.
    #[serde(default)]
    pub partitions_total: i32,
    /// Bytes copied by finished moves.
    #[serde(default)]
    pub bytes_moved: i64,
    /// Bytes the plan copies.
    #[serde(default)]
    pub bytes_total: i64,
    /// Throttle in force (bytes/s), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_bytes_per_second: Option<i64>,
    /// RFC 3339 time the plan started moving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Seconds left at the rate achieved so far (or the throttle before any progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<i64>,
    /// What the plan waits on, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
