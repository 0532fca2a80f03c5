//! The tokio shell end to end through the public API, on tokio's paused clock: time
//! only moves when every task waits, so timers fire deterministically and no test
//! sleeps for real.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DescribeGroupsRequest, GroupId, HeartbeatRequest, JoinGroupResponse, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use tidewater_group::{GroupConfig, GroupCoordinator};

mod common;
use common::{MemoryLog, NOT_COORDINATOR, UNKNOWN_MEMBER_ID, join, join_req, lock, s};

fn coordinator(log: &Arc<MemoryLog>) -> Arc<GroupCoordinator> {
    GroupCoordinator::new(GroupConfig::default(), log.clone())
}

#[tokio::test(start_paused = true)]
async fn members_join_concurrently_and_get_their_assignment() {
    let log = Arc::new(MemoryLog::default());
    let c = coordinator(&log);
    let (a, b) = tokio::join!(join(&c, "g", "a"), join(&c, "g", "b"));
    assert_eq!((a.error_code, b.error_code), (0, 0));
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(a.leader, b.leader);
    let (leader, follower) = if a.leader == a.member_id {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.members.len(), 2);
    assert_eq!(c.group_counts().completing_rebalance, 1);

    let sync = |member: &JoinGroupResponse, assignments: Vec<SyncGroupRequestAssignment>| {
        SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(1)
            .with_member_id(member.member_id.clone())
            .with_assignments(assignments)
    };
    let assignments = vec![
        SyncGroupRequestAssignment::default()
            .with_member_id(leader.member_id.clone())
            .with_assignment(Bytes::from_static(b"L")),
        SyncGroupRequestAssignment::default()
            .with_member_id(follower.member_id.clone())
            .with_assignment(Bytes::from_static(b"F")),
    ];
    // The follower's SyncGroup parks until the leader's assignment is stored.
    let (f, l) = tokio::join!(
        c.sync_group(sync(&follower, vec![]), 5),
        c.sync_group(sync(&leader, assignments), 5)
    );
    assert_eq!((f.error_code, f.assignment.as_ref()), (0, &b"F"[..]));
    assert_eq!((l.error_code, l.assignment.as_ref()), (0, &b"L"[..]));
    assert_eq!(c.group_counts().stable, 1);
    assert_eq!(
        log.partition(c.partition_for("g")).len(),
        1,
        "group metadata stored once"
    );
}

/// `client` joins group `group` as its only member and syncs generation 1.
async fn join_alone(c: &GroupCoordinator, group: &str, client: &str) -> JoinGroupResponse {
    let joined = join(c, group, client).await;
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(1)
        .with_member_id(joined.member_id.clone());
    assert_eq!(c.sync_group(sync, 3).await.error_code, 0);
    joined
}

#[tokio::test(start_paused = true)]
async fn silent_member_expires_on_the_session_timer() {
    let log = Arc::new(MemoryLog::default());
    let c = coordinator(&log);
    let joined = join_alone(&c, "g", "a").await;
    let heartbeat = || {
        HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(1)
            .with_member_id(joined.member_id.clone())
    };
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        c.heartbeat(heartbeat(), 4).await.error_code,
        0,
        "alive within the session"
    );
    tokio::time::sleep(Duration::from_millis(10_001)).await;
    assert_eq!(
        c.group_counts().empty,
        1,
        "the only member expired; the group is Empty"
    );
    assert_eq!(
        c.heartbeat(heartbeat(), 4).await.error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[tokio::test(start_paused = true)]
async fn offsets_and_groups_survive_a_restart_through_replay() {
    let log = Arc::new(MemoryLog::default());
    let c = coordinator(&log);
    let joined = join_alone(&c, "g", "a").await;
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id_or_member_epoch(1)
        .with_member_id(joined.member_id.clone())
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(
                    (0..6)
                        .map(|p| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(100 + i64::from(p))
                        })
                        .collect(),
                ),
        ]);
    let r = c.offset_commit(commit, 8).await;
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
    c.shutdown();

    // A new broker process: replay every __consumer_offsets partition.
    let restarted = coordinator(&log);
    for p in 0..50 {
        restarted.load_partition(p, log.partition(p));
    }
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes((0..6).collect()),
        ]));
    let r = restarted.offset_fetch(fetch, 7).await;
    let offsets: Vec<i64> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![100, 101, 102, 103, 104, 105]);
    let d = restarted
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
            5,
        )
        .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].members[0].member_id, joined.member_id);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_joins_with_not_coordinator() {
    let log = Arc::new(MemoryLog::default());
    let c = coordinator(&log);
    let first = c.join_group(join_req("g", ""), 7, "a", "h").await;
    let parked = {
        let c = c.clone();
        let id = first.member_id.as_str().to_owned();
        tokio::spawn(async move { c.join_group(join_req("g", &id), 7, "a", "h").await })
    };
    // Let the spawned join park (the initial delay keeps it parked).
    while c.group_counts().preparing_rebalance == 0 {
        tokio::task::yield_now().await;
    }
    c.shutdown();
    let r = parked.await.unwrap();
    assert_eq!(r.error_code, NOT_COORDINATOR);
    // Calls that would park are refused after shutdown instead of hanging.
    let late = c
        .join_group(join_req("g", first.member_id.as_str()), 7, "a", "h")
        .await;
    assert_eq!(late.error_code, NOT_COORDINATOR);
}

#[tokio::test(start_paused = true)]
async fn failed_append_surfaces_as_kafka_error() {
    let log = Arc::new(MemoryLog::default());
    *lock(&log.fail_with) = Some(ResponseError::NotLeaderOrFollower);
    let c = coordinator(&log);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("simple")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5),
                ]),
        ]);
    let r = c.offset_commit(commit, 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, NOT_COORDINATOR);
    let groups: HashSet<String> = c
        .list_groups(Default::default(), 4)
        .await
        .groups
        .iter()
        .map(|g| g.group_id.as_str().to_owned())
        .collect();
    assert!(
        groups.is_empty(),
        "a group whose first commit failed does not exist"
    );
}
