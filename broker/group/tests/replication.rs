//! Writes to `__consumer_offsets` are acknowledged only once replicated, as Kafka's
//! coordinator appends with acks=-1: an OffsetCommit (and a SyncGroup assignment)
//! is answered after the backend's replication wait settles, its offsets are
//! invisible to OffsetFetch until then, and a failed wait becomes the error Kafka
//! gives the client. Tokio's paused clock: nothing sleeps for real.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{GroupId, OffsetCommitResponse, SyncGroupRequest};
use tidewater_group::{GroupConfig, GroupCoordinator};
use tokio::task::JoinHandle;

mod common;
use common::{MemoryLog, NOT_COORDINATOR, commit_req, fetch_req, join, lock, s};

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

fn coordinator(log: &Arc<MemoryLog>) -> Arc<GroupCoordinator> {
    GroupCoordinator::new(GroupConfig::default(), log.clone())
}

fn held_log() -> Arc<MemoryLog> {
    let log = Arc::new(MemoryLog::default());
    *lock(&log.hold_replication) = true;
    log
}

async fn committed(c: &GroupCoordinator, group: &str, partition: usize) -> i64 {
    let r = c.offset_fetch(fetch_req(group), 7).await;
    assert_eq!(r.error_code, 0);
    r.topics[0].partitions[partition].committed_offset
}

/// Starts a simple-consumer commit of `offset` on partition 0 and waits until its
/// records are appended (and so wait for replication).
async fn start_commit(
    c: &Arc<GroupCoordinator>,
    log: &MemoryLog,
    group: &str,
    offset: i64,
) -> JoinHandle<OffsetCommitResponse> {
    let before = log.unreplicated();
    let task = {
        let c = c.clone();
        let req = commit_req(group, "", -1, &[(0, offset)]);
        tokio::spawn(async move { c.offset_commit(req, 8).await })
    };
    while log.unreplicated() == before {
        tokio::task::yield_now().await;
    }
    task
}

fn error_of(r: &OffsetCommitResponse) -> i16 {
    r.topics[0].partitions[0].error_code
}

#[tokio::test(start_paused = true)]
async fn a_commit_is_answered_and_visible_only_once_replicated() {
    let log = held_log();
    let c = coordinator(&log);
    let commit = start_commit(&c, &log, "g", 42).await;
    assert_eq!(log.partition(c.partition_for("g")).len(), 1, "appended");
    tokio::task::yield_now().await;
    assert!(!commit.is_finished(), "not answered before replication");
    assert_eq!(
        committed(&c, "g", 0).await,
        -1,
        "pending offsets stay hidden"
    );

    log.replicate(0, Ok(()));
    assert_eq!(error_of(&commit.await.unwrap()), 0);
    assert_eq!(committed(&c, "g", 0).await, 42);
}

#[tokio::test(start_paused = true)]
async fn a_commit_whose_replication_fails_gets_kafkas_error_and_stays_invisible() {
    let cases = [
        (E::NotEnoughReplicas, COORDINATOR_NOT_AVAILABLE),
        (E::NotEnoughReplicasAfterAppend, COORDINATOR_NOT_AVAILABLE),
        (E::RequestTimedOut, COORDINATOR_NOT_AVAILABLE),
        (E::NotLeaderOrFollower, NOT_COORDINATOR),
        (E::KafkaStorageError, NOT_COORDINATOR),
    ];
    let log = held_log();
    let c = coordinator(&log);
    let first = start_commit(&c, &log, "g", 7).await;
    log.replicate(0, Ok(()));
    assert_eq!(error_of(&first.await.unwrap()), 0);
    for (replication_error, answered) in cases {
        let commit = start_commit(&c, &log, "g", 100).await;
        log.replicate(0, Err(replication_error));
        assert_eq!(
            error_of(&commit.await.unwrap()),
            answered,
            "replication error {replication_error}"
        );
        assert_eq!(committed(&c, "g", 0).await, 7, "the durable offset stays");
    }
}

#[tokio::test(start_paused = true)]
async fn an_older_commit_replicated_last_does_not_overwrite_a_newer_one() {
    let log = held_log();
    let c = coordinator(&log);
    let older = start_commit(&c, &log, "g", 10).await;
    let newer = start_commit(&c, &log, "g", 20).await;
    log.replicate(1, Ok(()));
    assert_eq!(error_of(&newer.await.unwrap()), 0);
    log.replicate(0, Ok(()));
    assert_eq!(error_of(&older.await.unwrap()), 0);
    assert_eq!(committed(&c, "g", 0).await, 20);
}

#[tokio::test(start_paused = true)]
async fn a_sync_group_is_answered_once_the_assignment_is_replicated() {
    for (replication, expected) in [
        (Ok(()), 0),
        (Err(E::NotEnoughReplicas), COORDINATOR_NOT_AVAILABLE),
    ] {
        let log = Arc::new(MemoryLog::default());
        let c = coordinator(&log);
        let leader = join(&c, "g", "a").await;
        assert_eq!(leader.error_code, 0);
        *lock(&log.hold_replication) = true;
        let sync = {
            let c = c.clone();
            let req = SyncGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(leader.generation_id)
                .with_member_id(leader.member_id.clone())
                .with_assignments(vec![
                    SyncGroupRequestAssignment::default()
                        .with_member_id(leader.member_id.clone())
                        .with_assignment(Bytes::from_static(b"A")),
                ]);
            tokio::spawn(async move { c.sync_group(req, 5).await })
        };
        while log.unreplicated() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert!(!sync.is_finished(), "not answered before replication");
        log.replicate(0, replication);
        let r = sync.await.unwrap();
        assert_eq!(r.error_code, expected);
        if expected == 0 {
            assert_eq!(r.assignment, Bytes::from_static(b"A"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_commit_replicated_after_a_replay_does_not_overwrite_the_replayed_offset() {
    let log = held_log();
    let c = coordinator(&log);
    let partition = c.partition_for("g");
    let older = start_commit(&c, &log, "g", 10).await;
    let newer = start_commit(&c, &log, "g", 20).await;
    log.replicate(1, Ok(()));
    assert_eq!(error_of(&newer.await.unwrap()), 0);
    // The leadership goes and comes back while the older commit still waits: the
    // replay finds both records, the newest wins.
    c.unload_partition(partition);
    c.load_partition(partition, log.partition(partition));
    assert_eq!(committed(&c, "g", 0).await, 20);
    log.replicate(0, Ok(()));
    older.await.unwrap();
    assert_eq!(committed(&c, "g", 0).await, 20);
}
