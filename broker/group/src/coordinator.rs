//! The IO shell: the public [`GroupCoordinator`] the protocol server calls.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};

use crate::backend::{OffsetsBackend, OffsetsRecord};
use crate::config::GroupConfig;
use crate::partition;

/// Group counts per state, for metrics (Kafka's `NumGroupsStable`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    pub preparing_rebalance: usize,
    pub completing_rebalance: usize,
    pub stable: usize,
    pub dead: usize,
    pub empty: usize,
}

/// The group coordinator, used as `Arc<GroupCoordinator>`; runs its timers on tokio.
pub struct GroupCoordinator {
    config: GroupConfig,
    #[allow(dead_code)]
    backend: Arc<dyn OffsetsBackend>,
}

const NOT_AVAILABLE: i16 = ResponseError::CoordinatorNotAvailable.code();

impl GroupCoordinator {
    pub fn new(config: GroupConfig, backend: Arc<dyn OffsetsBackend>) -> Arc<Self> {
        Arc::new(Self { config, backend })
    }

    /// Kafka's `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions` (Java String.hashCode).
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition::partition_for(group_id, self.config.offsets_topic_partitions)
    }

    /// Replays one `__consumer_offsets` partition's records (in offset order) at startup.
    pub fn load_partition(&self, _partition: i32, _records: Vec<OffsetsRecord>) {}

    pub async fn join_group(
        &self,
        _req: JoinGroupRequest,
        _version: i16,
        _client_id: &str,
        _client_host: &str,
    ) -> JoinGroupResponse {
        JoinGroupResponse::default().with_error_code(NOT_AVAILABLE)
    }

    pub async fn sync_group(&self, _req: SyncGroupRequest, _version: i16) -> SyncGroupResponse {
        SyncGroupResponse::default().with_error_code(NOT_AVAILABLE)
    }

    pub async fn heartbeat(&self, _req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        HeartbeatResponse::default().with_error_code(NOT_AVAILABLE)
    }

    pub async fn leave_group(&self, _req: LeaveGroupRequest, _version: i16) -> LeaveGroupResponse {
        LeaveGroupResponse::default().with_error_code(NOT_AVAILABLE)
    }

    pub async fn offset_commit(
        &self,
        _req: OffsetCommitRequest,
        _version: i16,
    ) -> OffsetCommitResponse {
        OffsetCommitResponse::default()
    }

    pub async fn offset_fetch(&self, _req: OffsetFetchRequest, _version: i16) -> OffsetFetchResponse {
        OffsetFetchResponse::default().with_error_code(NOT_AVAILABLE)
    }

    pub async fn list_groups(&self, _req: ListGroupsRequest, _version: i16) -> ListGroupsResponse {
        ListGroupsResponse::default()
    }

    pub async fn describe_groups(
        &self,
        _req: DescribeGroupsRequest,
        _version: i16,
    ) -> DescribeGroupsResponse {
        DescribeGroupsResponse::default()
    }

    pub async fn delete_groups(
        &self,
        _req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        DeleteGroupsResponse::default()
    }

    pub async fn offset_delete(
        &self,
        _req: OffsetDeleteRequest,
        _version: i16,
    ) -> OffsetDeleteResponse {
        OffsetDeleteResponse::default().with_error_code(NOT_AVAILABLE)
    }

    /// Group counts per state, for metrics.
    pub fn group_counts(&self) -> GroupCounts {
        GroupCounts::default()
    }

    pub fn shutdown(&self) {}
}
