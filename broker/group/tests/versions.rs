//! Every response the coordinator builds must encode at the version it was asked
//! for: kafka-protocol rejects fields a version lacks (e.g. `skip_assignment`
//! before JoinGroup v9), which on the wire would be a dropped connection.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message, StrBytes};
use tidewater_group::{GroupConfig, GroupCoordinator, OffsetsBackend, OffsetsRecord};

struct Accepting;

impl OffsetsBackend for Accepting {
    fn append(&self, _: i32, _: Vec<OffsetsRecord>) -> tidewater_group::Replicated {
        tidewater_group::settled(Ok(()))
    }
    fn append_transactional(
        &self,
        partition: i32,
        _: (i64, i16),
        records: Vec<OffsetsRecord>,
    ) -> tidewater_group::Replicated {
        self.append(partition, records)
    }

    fn topic_partition_exists(&self, topic: &str, _: i32) -> bool {
        topic == "t"
    }
    fn topic_info(&self, _: &str) -> Option<tidewater_group::consumer::TopicInfo> {
        None
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn encodes<M: Encodable + std::fmt::Debug>(what: &str, message: &M, version: i16) {
    let mut buf = BytesMut::new();
    if let Err(e) = message.encode(&mut buf, version) {
        panic!("{what} v{version} does not encode: {e}: {message:?}");
    }
}

fn versions<M: Message>() -> std::ops::RangeInclusive<i16> {
    M::VERSIONS.min..=M::VERSIONS.max
}

#[tokio::test(start_paused = true)]
async fn every_api_answers_encodably_at_every_version() {
    let c = GroupCoordinator::new(GroupConfig::default(), Arc::new(Accepting));
    for v in versions::<JoinGroupResponse>() {
        let group = format!("g{v}");
        let mut req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(if v == 0 { -1 } else { 20_000 })
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::new()),
            ]);
        if v >= 5 {
            req.group_instance_id = Some(s(&format!("static-{v}")));
        }
        let mut r = c.join_group(req.clone(), v, "client", "/h").await;
        encodes("JoinGroup", &r, v);
        if r.error_code == 79 {
            req.member_id = r.member_id.clone();
            r = c.join_group(req.clone(), v, "client", "/h").await;
            encodes("JoinGroup", &r, v);
        }
        assert_eq!(r.error_code, 0, "JoinGroup v{v}");
        // Errors take the same shape checks.
        let bad = c
            .join_group(req.clone().with_session_timeout_ms(1), v, "client", "/h")
            .await;
        assert_eq!(bad.error_code, 26);
        encodes("JoinGroup error", &bad, v);
        if v >= 5 {
            // Static rejoin of a Stable group answers without a rebalance (v9: skip_assignment).
            let sync = SyncGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(r.generation_id)
                .with_member_id(r.member_id.clone())
                .with_group_instance_id(req.group_instance_id.clone());
            encodes("SyncGroup", &c.sync_group(sync, 5.min(v)).await, 5.min(v));
            let again = c
                .join_group(
                    req.clone().with_member_id(StrBytes::new()),
                    v,
                    "client",
                    "/h",
                )
                .await;
            assert_eq!(again.error_code, 0);
            encodes("JoinGroup static", &again, v);
        }
        for hv in versions::<HeartbeatResponse>() {
            let hb = HeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(s("nobody"));
            encodes("Heartbeat", &c.heartbeat(hb, hv).await, hv);
        }
    }
    for v in versions::<SyncGroupResponse>() {
        let r = c
            .sync_group(
                SyncGroupRequest::default()
                    .with_group_id(GroupId(s("g1")))
                    .with_member_id(s("x")),
                v,
            )
            .await;
        assert_eq!(r.error_code, 25);
        encodes("SyncGroup error", &r, v);
    }
    for v in versions::<LeaveGroupResponse>() {
        let mut req = LeaveGroupRequest::default().with_group_id(GroupId(s("g1")));
        if v < 3 {
            req.member_id = s("nobody");
        } else {
            req.members = vec![MemberIdentity::default().with_member_id(s("nobody"))];
        }
        let r = c.leave_group(req, v).await;
        encodes("LeaveGroup", &r, v);
        assert!(
            r.error_code == 25 || r.members.first().is_some_and(|m| m.error_code == 25),
            "LeaveGroup v{v}: {r:?}"
        );
    }
    for v in versions::<OffsetCommitRequest>() {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("simple")))
            .with_generation_id_or_member_epoch(-1)
            .with_retention_time_ms(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(i64::from(v)),
                    ]),
            ]);
        let r = c.offset_commit(req, v).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        encodes("OffsetCommit", &r, v);
    }
    for v in versions::<OffsetFetchRequest>() {
        let req = if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("simple")))
                    .with_topics(None),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("simple")))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        };
        let r = c.offset_fetch(req, v).await;
        encodes("OffsetFetch", &r, v);
        let first = if v >= 8 {
            r.groups[0].topics[0].partitions[0].committed_offset
        } else {
            r.topics[0].partitions[0].committed_offset
        };
        assert_eq!(first, 9, "the last commit (v9) wins, OffsetFetch v{v}");
    }
    for v in versions::<ListGroupsResponse>() {
        let r = c.list_groups(ListGroupsRequest::default(), v).await;
        assert!(r.groups.len() >= 10);
        encodes("ListGroups", &r, v);
    }
    for v in versions::<DescribeGroupsResponse>() {
        let req = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g9")), GroupId(s("missing"))])
            .with_include_authorized_operations(v >= 3);
        let r = c.describe_groups(req, v).await;
        assert_eq!(r.groups[0].error_code, 0);
        encodes("DescribeGroups", &r, v);
    }
    for v in versions::<DeleteGroupsResponse>() {
        let r = c
            .delete_groups(
                DeleteGroupsRequest::default()
                    .with_groups_names(vec![GroupId(s("g9")), GroupId(s("missing"))]),
                v,
            )
            .await;
        assert_eq!((r.results[0].error_code, r.results[1].error_code), (68, 69));
        encodes("DeleteGroups", &r, v);
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("simple")))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let r = c.offset_delete(req, 0).await;
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, 0));
    encodes("OffsetDelete", &r, 0);
}
