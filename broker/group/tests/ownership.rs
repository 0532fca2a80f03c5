//! Partition ownership through the public API (Kafka's onElection / onResignation),
//! on tokio's paused clock: a parked call that unloading did not answer would only
//! be answered by a timer, which moves the clock, so the tests can tell the two apart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, HeartbeatRequest, LeaveGroupRequest,
    OffsetDeleteRequest, SyncGroupRequest, TopicName,
};
use tidewater_group::{GroupConfig, GroupCoordinator};
use tokio::time::Instant;

mod common;
use common::{MemoryLog, NOT_COORDINATOR, commit_req, fetch_req, join, join_req, lock, s};

const GROUP: &str = "g";

fn unowned(log: &Arc<MemoryLog>) -> Arc<GroupCoordinator> {
    GroupCoordinator::new_unowned(GroupConfig::default(), log.clone())
}

/// Waits (on the paused clock, so without moving it) until `n` calls are parked.
async fn until_parked(c: &GroupCoordinator, n: usize) {
    while c.parked_calls() < n {
        tokio::task::yield_now().await;
    }
}

/// The parked call's answer; a call nothing answers fails the test instead of
/// hanging it (the paused clock jumps straight to this deadline).
async fn answered<R>(call: tokio::task::JoinHandle<R>) -> R {
    match tokio::time::timeout(Duration::from_secs(600), call).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => panic!("parked call panicked: {error}"),
        Err(_) => panic!("parked call never answered"),
    }
}

async fn listed(c: &GroupCoordinator) -> HashSet<String> {
    c.list_groups(Default::default(), 4)
        .await
        .groups
        .iter()
        .map(|g| g.group_id.as_str().to_owned())
        .collect()
}

async fn fetched(c: &GroupCoordinator, group: &str) -> (i16, Vec<i64>) {
    let r = c.offset_fetch(fetch_req(group), 7).await;
    let offsets = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    (r.error_code, offsets)
}

async fn commit_errors(c: &GroupCoordinator, group: &str, offsets: &[(i32, i64)]) -> Vec<i16> {
    c.offset_commit(commit_req(group, "", -1, offsets), 8)
        .await
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn unowned_coordinator_answers_not_coordinator_until_it_loads_the_partition() {
    let log = Arc::new(MemoryLog::default());
    let c = unowned(&log);
    assert!((0..50).all(|p| !c.owns_partition(p)));
    let g = || GroupId(s(GROUP));

    let joined = c.join_group(join_req(GROUP, ""), 7, "a", "h").await;
    assert_eq!(
        (joined.error_code, joined.generation_id),
        (NOT_COORDINATOR, -1)
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(g())
        .with_generation_id(1)
        .with_member_id(s("m"));
    assert_eq!(c.sync_group(sync, 5).await.error_code, NOT_COORDINATOR);
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(g())
        .with_generation_id(1)
        .with_member_id(s("m"));
    assert_eq!(c.heartbeat(heartbeat, 4).await.error_code, NOT_COORDINATOR);
    let leave = LeaveGroupRequest::default()
        .with_group_id(g())
        .with_members(vec![MemberIdentity::default().with_member_id(s("m"))]);
    assert_eq!(c.leave_group(leave, 4).await.error_code, NOT_COORDINATOR);
    assert_eq!(
        commit_errors(&c, GROUP, &[(0, 1), (1, 2)]).await,
        vec![NOT_COORDINATOR; 2]
    );
    assert!(lock(&log.records).is_empty(), "nothing appended");
    assert_eq!(fetched(&c, GROUP).await, (NOT_COORDINATOR, vec![-1; 6]));
    let described = c
        .describe_groups(DescribeGroupsRequest::default().with_groups(vec![g()]), 5)
        .await;
    assert_eq!(described.groups[0].error_code, NOT_COORDINATOR);
    let deleted = c
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![g()]),
            2,
        )
        .await;
    assert_eq!(deleted.results[0].error_code, NOT_COORDINATOR);
    let offset_delete = OffsetDeleteRequest::default()
        .with_group_id(g())
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    assert_eq!(
        c.offset_delete(offset_delete, 0).await.error_code,
        NOT_COORDINATOR
    );
    assert!(listed(&c).await.is_empty());

    // Elected leader of the group's partition: the group is served from now on.
    let partition = c.partition_for(GROUP);
    c.begin_loading([partition]);
    assert!(c.is_loading_partition(partition));
    c.load_partition(partition, Vec::<tidewater_group::OffsetsRecord>::new());
    assert!(c.owns_partition(partition));
    assert!(!c.is_loading_partition(partition));
    assert_eq!(join(&c, GROUP, "a").await.error_code, 0);
    assert_eq!(listed(&c).await, HashSet::from([GROUP.to_owned()]));
}

#[tokio::test(start_paused = true)]
async fn unload_answers_a_parked_join_with_not_coordinator_at_once() {
    let log = Arc::new(MemoryLog::default());
    let c = unowned(&log);
    let partition = c.partition_for(GROUP);
    c.load_partition(partition, Vec::<tidewater_group::OffsetsRecord>::new());
    let first = c.join_group(join_req(GROUP, ""), 5, "a", "h").await;
    let parked = {
        let c = c.clone();
        let id = first.member_id.as_str().to_owned();
        tokio::spawn(async move { c.join_group(join_req(GROUP, &id), 5, "a", "h").await })
    };
    until_parked(&c, 1).await;
    let start = Instant::now();
    c.unload_partition(partition);
    let r = answered(parked).await;
    assert_eq!(r.error_code, NOT_COORDINATOR);
    assert_eq!(r.member_id, first.member_id);
    // Shaped for JoinGroup v5: an empty (not null) protocol name.
    assert_eq!(r.protocol_name.as_ref().map(|n| n.as_str()), Some(""));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "answered by the unload, not by the 3 s initial-delay timer"
    );
    assert_eq!(c.parked_calls(), 0);
    assert!(!c.owns_partition(partition));
    assert_eq!(c.group_counts(), Default::default());
    // Past every timer of the dropped group: nothing fires, nothing is stored.
    tokio::time::sleep(Duration::from_secs(3_600)).await;
    assert!(lock(&log.records).is_empty());
}

#[tokio::test(start_paused = true)]
async fn unload_answers_a_parked_sync_with_not_coordinator() {
    let log = Arc::new(MemoryLog::default());
    let c = GroupCoordinator::new(GroupConfig::default(), log.clone());
    let (a, b) = tokio::join!(join(&c, GROUP, "a"), join(&c, GROUP, "b"));
    let follower = if a.leader == a.member_id { b } else { a };
    let parked = {
        let c = c.clone();
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id(1)
            .with_member_id(follower.member_id.clone());
        tokio::spawn(async move { c.sync_group(sync, 5).await })
    };
    until_parked(&c, 1).await;
    let start = Instant::now();
    c.unload_partition(c.partition_for(GROUP));
    assert_eq!(answered(parked).await.error_code, NOT_COORDINATOR);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(c.group_counts(), Default::default());
}

#[tokio::test(start_paused = true)]
async fn offsets_committed_before_unload_are_back_after_reloading_the_partition() {
    let log = Arc::new(MemoryLog::default());
    let c = unowned(&log);
    let partition = c.partition_for(GROUP);
    c.load_partition(partition, Vec::<tidewater_group::OffsetsRecord>::new());
    assert_eq!(
        commit_errors(&c, GROUP, &[(0, 100), (1, 101)]).await,
        vec![0, 0]
    );
    assert_eq!(commit_errors(&c, GROUP, &[(0, 102)]).await, vec![0]);

    c.unload_partition(partition);
    assert_eq!(fetched(&c, GROUP).await, (NOT_COORDINATOR, vec![-1; 6]));
    let appended = lock(&log.records).len();
    assert_eq!(
        commit_errors(&c, GROUP, &[(0, 999)]).await,
        vec![NOT_COORDINATOR]
    );
    assert_eq!(
        lock(&log.records).len(),
        appended,
        "refused commits not stored"
    );

    // Elected again: the same log brings the same offsets back.
    c.load_partition(partition, log.partition(partition));
    assert_eq!(
        fetched(&c, GROUP).await,
        (0, vec![102, 101, -1, -1, -1, -1])
    );
}

#[tokio::test(start_paused = true)]
async fn single_node_coordinator_owns_every_partition_and_can_resign_one() {
    let log = Arc::new(MemoryLog::default());
    let c = GroupCoordinator::new(GroupConfig::default(), log.clone());
    assert!((0..50).all(|p| c.owns_partition(p)));
    assert!(!c.owns_partition(50));
    let other = (0..)
        .map(|i| format!("other-{i}"))
        .find(|g| c.partition_for(g) != c.partition_for(GROUP))
        .expect("some group in another partition");
    assert_eq!(commit_errors(&c, GROUP, &[(0, 5)]).await, vec![0]);
    assert_eq!(commit_errors(&c, &other, &[(0, 6)]).await, vec![0]);
    assert_eq!(listed(&c).await.len(), 2);

    c.unload_partition(c.partition_for(GROUP));
    assert!(!c.owns_partition(c.partition_for(GROUP)));
    assert_eq!(fetched(&c, GROUP).await.0, NOT_COORDINATOR);
    assert_eq!(fetched(&c, &other).await, (0, vec![6, -1, -1, -1, -1, -1]));
    assert_eq!(listed(&c).await, HashSet::from([other]));
}

#[tokio::test(start_paused = true)]
async fn a_replay_finishing_after_a_later_resignation_is_ignored() {
    let log = Arc::new(MemoryLog::default());
    let c = unowned(&log);
    let partition = c.partition_for(GROUP);
    assert!(c.load_partition_at_epoch(partition, 3, Vec::<tidewater_group::OffsetsRecord>::new()));
    assert_eq!(commit_errors(&c, GROUP, &[(2, 42)]).await, vec![0]);
    let records = log.partition(partition);

    assert!(
        !c.unload_partition_at_epoch(partition, 2),
        "stale resignation"
    );
    assert_eq!(fetched(&c, GROUP).await.1[2], 42);
    assert!(c.unload_partition_at_epoch(partition, 4));
    assert!(!c.load_partition_at_epoch(partition, 3, records.clone()));
    assert!(!c.owns_partition(partition));
    assert_eq!(fetched(&c, GROUP).await.0, NOT_COORDINATOR);
    assert!(c.load_partition_at_epoch(partition, 5, records));
    assert_eq!(fetched(&c, GROUP).await, (0, vec![-1, -1, 42, -1, -1, -1]));
}

/// A backend that asks the coordinator about ownership from inside its append, as a
/// broker checking leadership there would.
#[derive(Default)]
struct AskingLog {
    coordinator: std::sync::OnceLock<std::sync::Weak<GroupCoordinator>>,
    answers: std::sync::Mutex<Vec<(bool, bool)>>,
}

impl tidewater_group::OffsetsBackend for AskingLog {
    fn append(
        &self,
        partition: i32,
        _: Vec<tidewater_group::OffsetsRecord>,
    ) -> tidewater_group::Replicated {
        if let Some(c) = self.coordinator.get().and_then(std::sync::Weak::upgrade) {
            let answer = (
                c.owns_partition(partition),
                c.is_loading_partition(partition),
            );
            lock(&self.answers).push(answer);
        }
        tidewater_group::settled(Ok(()))
    }

    fn append_transactional(
        &self,
        partition: i32,
        _: (i64, i16),
        records: Vec<tidewater_group::OffsetsRecord>,
    ) -> tidewater_group::Replicated {
        self.append(partition, records)
    }

    fn topic_partition_exists(&self, _: &str, _: i32) -> bool {
        true
    }
    fn topic_info(&self, _: &str) -> Option<tidewater_group::consumer::TopicInfo> {
        None
    }
}

#[tokio::test(start_paused = true)]
async fn ownership_can_be_asked_from_inside_an_append() {
    let log = Arc::new(AskingLog::default());
    let c = GroupCoordinator::new_unowned(GroupConfig::default(), log.clone());
    assert!(log.coordinator.set(Arc::downgrade(&c)).is_ok());
    let partition = c.partition_for(GROUP);
    c.load_partition(partition, Vec::<tidewater_group::OffsetsRecord>::new());
    // The append runs under the coordinator's lock; asking there must not deadlock.
    assert_eq!(commit_errors(&c, GROUP, &[(0, 1)]).await, vec![0]);
    assert_eq!(*lock(&log.answers), vec![(true, false)]);
}
