//! Partition ownership (Kafka's onElection / onResignation): which groups this
//! coordinator answers for, and what resigning a partition does to them.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::harness::{GROUP, Harness, commit_errors, join_args, topic};
use crate::group::GroupState;
use crate::state_machine::{Core, LeavingMember, SyncArgs, code};

fn exists(_topic: &str, partition: i32) -> bool {
    (0..6).contains(&partition)
}

fn gid(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

/// A group id stored in a different `__consumer_offsets` partition than [`GROUP`].
pub(super) fn other_group(core: &Core) -> String {
    let own = core.partition_for(GROUP);
    (0..)
        .map(|i| format!("other-{i}"))
        .find(|g| core.partition_for(g) != own)
        .unwrap_or_default()
}

/// A simple consumer's commit (generation -1) of `offsets` on topic "t".
pub(super) fn commit_req(group: &str, offsets: &[(i32, i64)]) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic("t"))
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

/// Commits through the harness's log; returns every partition's error code.
pub(super) fn commit(h: &mut Harness, req: &OffsetCommitRequest) -> Vec<i16> {
    commit_errors(&h.commit(req, 8, &exists))
}

/// OffsetFetch v7 of partitions 0-2 of "t": (top-level error, offsets).
pub(super) fn fetch(core: &Core, group: &str) -> (i16, Vec<i64>) {
    let req = OffsetFetchRequest::default()
        .with_group_id(gid(group))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![0, 1, 2]),
        ]));
    let r: OffsetFetchResponse = core.offset_fetch(&req, 7);
    let offsets = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    (r.error_code, offsets)
}

fn listed(core: &Core) -> Vec<String> {
    core.list_groups(&[], &[])
        .groups
        .iter()
        .map(|g| g.group_id.as_str().to_owned())
        .collect()
}

#[test]
fn single_node_coordinator_owns_every_partition() {
    let mut h = Harness::new(Harness::default_config());
    let partitions = h.core.config().offsets_topic_partitions;
    assert_eq!(
        h.core.owned_partitions(),
        (0..partitions).collect::<Vec<_>>()
    );
    assert!(!h.core.owns_partition(partitions));
    let first = h.join(join_args("", "c", &["t"])).expect("answered now");
    assert_eq!(first.error_code, code::MEMBER_ID_REQUIRED);
}

#[test]
fn unowned_coordinator_answers_not_coordinator_to_every_group_api() {
    let mut h = Harness::unowned(Harness::default_config());
    assert!(h.core.owned_partitions().is_empty());
    let first = h.join(join_args("", "c", &["t"])).expect("answered now");
    assert_eq!(first.error_code, code::NOT_COORDINATOR);
    assert_eq!(first.generation_id, -1);
    assert!(h.core.group(GROUP).is_none(), "no group created");

    let sync = h.core.sync(
        SyncArgs {
            group_id: GROUP.into(),
            generation_id: 1,
            member_id: "m".into(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        h.now,
    );
    assert!(
        matches!(sync, crate::state_machine::Reply::Now(r) if r.error_code == code::NOT_COORDINATOR)
    );
    assert_eq!(h.heartbeat("m", 1), code::NOT_COORDINATOR);
    for version in [0, 3, 5] {
        let leave = h.core.leave(
            GROUP,
            vec![LeavingMember {
                member_id: "m".into(),
                group_instance_id: None,
            }],
            version,
            h.now,
        );
        assert_eq!(
            leave.error_code,
            code::NOT_COORDINATOR,
            "LeaveGroup v{version}"
        );
    }

    assert_eq!(
        commit(&mut h, &commit_req(GROUP, &[(0, 1), (1, 2)])),
        vec![code::NOT_COORDINATOR; 2]
    );
    assert!(h.log.is_empty(), "nothing appended for a group not owned");
    assert!(h.core.group(GROUP).is_none(), "no simple group created");
    assert_eq!(fetch(&h.core, GROUP), (code::NOT_COORDINATOR, vec![-1; 3]));
    // v0-1 carry the error on every partition; v8+ per group.
    let v1 = h.core.offset_fetch(
        &OffsetFetchRequest::default()
            .with_group_id(gid(GROUP))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0]),
            ])),
        1,
    );
    assert_eq!(v1.topics[0].partitions[0].error_code, code::NOT_COORDINATOR);
    let v8 = h.core.offset_fetch(
        &OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(gid(GROUP))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(topic("t"))
                        .with_partition_indexes(vec![0]),
                ])),
        ]),
        8,
    );
    assert_eq!(v8.groups[0].error_code, code::NOT_COORDINATOR);

    let described = h.core.describe_groups(&[gid(GROUP)], 5);
    assert_eq!(described.groups[0].error_code, code::NOT_COORDINATOR);
    let deleted = h.core.delete_groups(&[gid(GROUP)]);
    assert_eq!(deleted.results[0].error_code, code::NOT_COORDINATOR);
    let offset_delete = h.core.offset_delete(
        &OffsetDeleteRequest::default()
            .with_group_id(gid(GROUP))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ]),
        &exists,
    );
    assert_eq!(offset_delete.error_code, code::NOT_COORDINATOR);
    let list = h.core.list_groups(&[], &[]);
    assert_eq!((list.error_code, list.groups.len()), (code::NONE, 0));
}

#[test]
fn loading_takes_ownership_of_that_partition_only() {
    let mut h = Harness::unowned(Harness::default_config());
    let own = h.core.partition_for(GROUP);
    let other = other_group(&h.core);
    h.core.begin_loading([own]);
    assert!(h.core.is_loading_partition(own));
    assert!(!h.core.owns_partition(own));
    // Loading wins over not owned: the client retries here instead of looking again.
    assert_eq!(h.heartbeat("m", 1), code::COORDINATOR_LOAD_IN_PROGRESS);

    let stats = h
        .core
        .load_partition(own, Vec::<crate::OffsetsRecord>::new(), h.now);
    h.run_effects();
    assert_eq!(stats.groups, 0);
    assert!(h.core.owns_partition(own));
    assert!(!h.core.is_loading_partition(own));
    assert_eq!(h.core.owned_partitions(), vec![own]);
    let first = h.join(join_args("", "c", &["t"])).expect("answered now");
    assert_eq!(first.error_code, code::MEMBER_ID_REQUIRED);
    assert_eq!(
        commit(&mut h, &commit_req(GROUP, &[(0, 7)])),
        vec![code::NONE]
    );
    assert_eq!(fetch(&h.core, GROUP), (code::NONE, vec![7, -1, -1]));
    assert_eq!(
        commit(&mut h, &commit_req(&other, &[(0, 7)])),
        vec![code::NOT_COORDINATOR]
    );
    assert_eq!(listed(&h.core), vec![GROUP.to_owned()]);
}

#[test]
fn unload_answers_a_parked_join_with_not_coordinator_and_drops_the_group() {
    let mut h = Harness::unowned(Harness::default_config());
    let own = h.core.partition_for(GROUP);
    h.core
        .load_partition(own, Vec::<crate::OffsetsRecord>::new(), h.now);
    h.run_effects();
    let member = h.join_new("c", &["t"]);
    assert!(h.joins.is_empty(), "parked in the initial rebalance delay");

    let unloaded = h.core.unload_partition(own);
    h.run_effects();
    assert_eq!(unloaded.groups, vec![GROUP.to_owned()]);
    assert_eq!(h.joins[&member].error_code, code::NOT_COORDINATOR);
    assert_eq!(h.joins[&member].member_id.as_str(), member);
    assert!(h.core.group(GROUP).is_none());
    assert!(!h.core.owns_partition(own));

    // The group's timers (initial delay, session) find nothing: no second answer
    // (the harness panics on one) and no group metadata stored.
    h.advance(3_600_000);
    assert!(h.log.is_empty(), "{:?}", h.log);
    assert_eq!(h.heartbeat(&member, 1), code::NOT_COORDINATOR);
    let rejoin = h
        .join(join_args(&member, "c", &["t"]))
        .expect("answered now");
    assert_eq!(rejoin.error_code, code::NOT_COORDINATOR);
}

#[test]
fn unload_answers_a_parked_sync_and_keeps_other_partitions() {
    let mut h = Harness::new(Harness::default_config());
    let other = other_group(&h.core);
    assert_eq!(
        commit(&mut h, &commit_req(&other, &[(0, 3)])),
        vec![code::NONE]
    );
    let a = h.join_new("a", &["t"]);
    let b = h.join_new("b", &["t"]);
    h.complete_initial_join();
    assert_eq!(h.group().state, GroupState::CompletingRebalance);
    let leader = h.group().leader_id.clone().expect("leader");
    let follower = if leader == a { b } else { a };
    assert!(
        h.sync(&follower, 1, vec![]).is_none(),
        "parked until the leader syncs"
    );

    let unloaded = h.core.unload_partition(h.core.partition_for(GROUP));
    h.run_effects();
    assert_eq!(unloaded.groups, vec![GROUP.to_owned()]);
    assert_eq!(h.syncs[&follower].error_code, code::NOT_COORDINATOR);
    assert!(!h.syncs.contains_key(&leader), "the leader was not parked");
    assert_eq!(h.heartbeat(&leader, 1), code::NOT_COORDINATOR);
    // The other partition is still owned and served.
    assert_eq!(fetch(&h.core, &other), (code::NONE, vec![3, -1, -1]));
    assert_eq!(listed(&h.core), vec![other]);
}

#[test]
fn offsets_committed_before_unload_are_back_after_reloading_the_same_records() {
    let mut h = Harness::unowned(Harness::default_config());
    let own = h.core.partition_for(GROUP);
    h.core
        .load_partition(own, Vec::<crate::OffsetsRecord>::new(), h.now);
    h.run_effects();
    assert_eq!(
        commit(&mut h, &commit_req(GROUP, &[(0, 10), (1, 11)])),
        vec![code::NONE; 2]
    );
    assert_eq!(
        commit(&mut h, &commit_req(GROUP, &[(0, 12)])),
        vec![code::NONE]
    );
    let records: Vec<_> = h
        .log
        .iter()
        .filter(|(p, _)| *p == own)
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(records.len(), 3);

    let unloaded = h.core.unload_partition(own);
    h.run_effects();
    assert_eq!((unloaded.groups.len(), unloaded.offsets), (1, 2));
    assert_eq!(fetch(&h.core, GROUP), (code::NOT_COORDINATOR, vec![-1; 3]));
    assert!(listed(&h.core).is_empty());

    let stats = h.core.load_partition(own, records, h.now);
    h.run_effects();
    assert_eq!((stats.groups, stats.offsets), (1, 2));
    assert_eq!(fetch(&h.core, GROUP), (code::NONE, vec![12, 11, -1]));
    assert_eq!(listed(&h.core), vec![GROUP.to_owned()]);
}

#[test]
fn unloading_a_partition_being_loaded_makes_it_not_owned() {
    let mut h = Harness::new(Harness::default_config());
    let own = h.core.partition_for(GROUP);
    h.core.begin_loading([own]);
    assert_eq!(h.heartbeat("m", 1), code::COORDINATOR_LOAD_IN_PROGRESS);
    let unloaded = h.core.unload_partition(own);
    assert!(unloaded.groups.is_empty());
    assert!(!h.core.is_loading_partition(own));
    assert_eq!(h.heartbeat("m", 1), code::NOT_COORDINATOR);
}

#[test]
fn stale_leadership_changes_are_ignored() {
    let mut h = Harness::unowned(Harness::default_config());
    let own = h.core.partition_for(GROUP);
    assert!(
        h.core
            .load_partition_at_epoch(own, 5, Vec::<crate::OffsetsRecord>::new(), h.now)
            .is_some()
    );
    assert_eq!(
        commit(&mut h, &commit_req(GROUP, &[(0, 9)])),
        vec![code::NONE]
    );
    let records: Vec<_> = h.log.iter().map(|(_, r)| r.clone()).collect();

    assert_eq!(
        h.core.unload_partition_at_epoch(own, 4),
        None,
        "older epoch"
    );
    assert!(h.core.owns_partition(own));
    assert_eq!(fetch(&h.core, GROUP), (code::NONE, vec![9, -1, -1]));

    let unloaded = h
        .core
        .unload_partition_at_epoch(own, 6)
        .expect("newer epoch");
    assert_eq!(unloaded.groups, vec![GROUP.to_owned()]);
    // The replay started for epoch 5 finishes after the resignation at epoch 6.
    assert_eq!(
        h.core
            .load_partition_at_epoch(own, 5, records.clone(), h.now),
        None
    );
    assert!(!h.core.owns_partition(own));
    assert_eq!(fetch(&h.core, GROUP).0, code::NOT_COORDINATOR);

    let stats = h
        .core
        .load_partition_at_epoch(own, 7, records, h.now)
        .expect("newer epoch");
    assert_eq!((stats.groups, stats.offsets), (1, 1));
    assert_eq!(fetch(&h.core, GROUP), (code::NONE, vec![9, -1, -1]));
    // Kafka applies a change at the same epoch (a resignation reported with it).
    assert!(h.core.unload_partition_at_epoch(own, 7).is_some());
    // Epochs are per partition.
    let other = h.core.partition_for(&other_group(&h.core));
    assert!(
        h.core
            .load_partition_at_epoch(other, 0, Vec::<crate::OffsetsRecord>::new(), h.now)
            .is_some()
    );
}
