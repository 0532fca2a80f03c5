//! What the shell's integration tests share: an in-memory `__consumer_offsets`
//! backend and request builders.

// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    GroupId, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetFetchRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_group::{GroupCoordinator, OffsetsBackend, OffsetsRecord, Replicated, settled};
use tokio::sync::oneshot;

pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const NOT_COORDINATOR: i16 = 16;

/// An in-memory `__consumer_offsets`: every appended record, in order.
#[derive(Default)]
pub struct MemoryLog {
    pub records: Mutex<Vec<(i32, OffsetsRecord)>>,
    pub fail_with: Mutex<Option<ResponseError>>,
    /// When set, appends are written but not yet replicated: each waits until the
    /// test settles its entry in `unreplicated` (the high watermark reaching it).
    pub hold_replication: Mutex<bool>,
    pub unreplicated: Mutex<Vec<oneshot::Sender<Result<(), ResponseError>>>>,
}

impl OffsetsBackend for MemoryLog {
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> Replicated {
        if let Some(error) = *lock(&self.fail_with) {
            return settled(Err(error));
        }
        lock(&self.records).extend(records.into_iter().map(|r| (partition, r)));
        if !*lock(&self.hold_replication) {
            return settled(Ok(()));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.unreplicated).push(tx);
        // A dropped sender is a leader that lost its leadership.
        Box::pin(async move { rx.await.unwrap_or(Err(ResponseError::NotLeaderOrFollower)) })
    }

    fn append_transactional(
        &self,
        partition: i32,
        _: (i64, i16),
        records: Vec<OffsetsRecord>,
    ) -> Replicated {
        self.append(partition, records)
    }

    fn topic_partition_exists(&self, topic: &str, partition: i32) -> bool {
        topic == "orders" && (0..6).contains(&partition)
    }
    fn topic_info(&self, topic: &str) -> Option<tidewater_group::consumer::TopicInfo> {
        (topic == "orders").then(|| tidewater_group::consumer::TopicInfo {
            id: uuid::Uuid::from_u128(6),
            partitions: 6,
        })
    }
}

/// A panicking test thread must not hide the real failure behind poison errors.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryLog {
    /// Settles the `index`th (in append order) of the appends still waiting for
    /// replication.
    pub fn replicate(&self, index: usize, result: Result<(), ResponseError>) {
        let tx = lock(&self.unreplicated).remove(index);
        let _ = tx.send(result);
    }

    /// How many appends wait for replication.
    pub fn unreplicated(&self) -> usize {
        lock(&self.unreplicated).len()
    }

    pub fn partition(&self, p: i32) -> Vec<OffsetsRecord> {
        lock(&self.records)
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

pub fn join_req(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\x00\x00")),
        ])
}

pub async fn join(c: &GroupCoordinator, group: &str, client: &str) -> JoinGroupResponse {
    let first = c
        .join_group(join_req(group, ""), 7, client, "/127.0.0.1")
        .await;
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    c.join_group(
        join_req(group, first.member_id.as_str()),
        7,
        client,
        "/127.0.0.1",
    )
    .await
}

/// A commit of `offsets` (partition, offset) on topic "orders".
pub fn commit_req(
    group: &str,
    member: &str,
    generation: i32,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                        })
                        .collect(),
                ),
        ])
}

/// An OffsetFetch of "orders" partitions 0-5.
pub fn fetch_req(group: &str) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes((0..6).collect()),
        ]))
}
