//! OffsetCommit/Fetch/Delete, DeleteGroups, retention, admin views and replay.

use bytes::Bytes;
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
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::harness::{GROUP, Harness, START_MS, commit_errors, topic};
use crate::config::GroupConfig;
use crate::group::GroupState;
use crate::state_machine::{Core, code};

fn exists(topic: &str, partition: i32) -> bool {
    topic != "missing" && (0..6).contains(&partition)
}

pub(super) fn commit_req(
    member: &str,
    generation: i32,
    offsets: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member.to_owned()))
        .with_retention_time_ms(-1);
    for (t, p, o) in offsets {
        req.topics.push(
            OffsetCommitRequestTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(*o)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(StrBytes::from_static_str("m"))),
                ]),
        );
    }
    req
}

fn commit(h: &mut Harness, req: &OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    h.commit(req, version, &exists)
}

fn fetch_v7(core: &Core, topics: Option<Vec<(&str, Vec<i32>)>>) -> Vec<(String, i32, i64, i32)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_topics(topics.map(|ts| {
            ts.into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic(t))
                        .with_partition_indexes(ps)
                })
                .collect()
        }));
    let r = core.offset_fetch(&req, 7);
    assert_eq!(r.error_code, code::NONE);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.as_str().to_owned(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                )
            })
        })
        .collect()
}

#[test]
fn simple_consumer_commits_and_fetches() {
    let mut h = Harness::new(Harness::default_config());
    let r = commit(
        &mut h,
        &commit_req("", -1, &[("t", 0, 42), ("t", 1, 7), ("missing", 0, 1)]),
        8,
    );
    assert_eq!(
        commit_errors(&r),
        vec![code::NONE, code::NONE, code::UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(h.group().state, GroupState::Empty);
    assert_eq!(
        fetch_v7(&h.core, Some(vec![("t", vec![0, 5])])),
        vec![("t".into(), 0, 42, 3), ("t".into(), 5, -1, -1)]
    );
    assert_eq!(
        fetch_v7(&h.core, None),
        vec![("t".into(), 0, 42, 3), ("t".into(), 1, 7, 3)]
    );
    // v8+ shape: groups array, null topics = all.
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str("other")))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let r = h.core.offset_fetch(&req, 8);
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.groups[0].topics[0].partitions.len(), 2);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
    assert_eq!(r.groups[1].topics[0].partitions[0].committed_offset, -1);
}

#[test]
fn commit_validation_follows_the_generation() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(2, &["t"]);
    h.joins.clear();
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req(&ids[0], 1, &[("t", 0, 1)]), 8)),
        vec![code::NONE]
    );
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req(&ids[0], 0, &[("t", 0, 1)]), 8)),
        vec![code::ILLEGAL_GENERATION]
    );
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req("ghost", 1, &[("t", 0, 1)]), 8)),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req("", -1, &[("t", 0, 1)]), 8)),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    let mut big = commit_req(&ids[0], 1, &[("t", 0, 1)]);
    big.topics[0].partitions[0].committed_metadata = Some(StrBytes::from_string("x".repeat(5000)));
    assert_eq!(
        commit_errors(&commit(&mut h, &big, 8)),
        vec![code::OFFSET_METADATA_TOO_LARGE]
    );
    // Preparing: members of the current generation may still commit (revocation).
    assert!(
        h.join(super::harness::join_args(&ids[1], "c1", &["t", "u"]))
            .is_none()
    );
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req(&ids[0], 1, &[("t", 0, 2)]), 8)),
        vec![code::NONE]
    );
    assert!(
        h.join(super::harness::join_args(&ids[0], "c0", &["t"]))
            .is_none()
    );
    assert_eq!(h.group().state, GroupState::CompletingRebalance);
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req(&ids[0], 2, &[("t", 0, 3)]), 8)),
        vec![code::REBALANCE_IN_PROGRESS]
    );
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req("x", 5, &[]), 8)),
        Vec::<i16>::new()
    );
    // No group and a real generation: ILLEGAL_GENERATION, and no group is created.
    let mut other = commit_req("m", 3, &[("t", 0, 1)]);
    other.group_id = GroupId(StrBytes::from_static_str("nogroup"));
    assert_eq!(
        commit_errors(&commit(&mut h, &other, 8)),
        vec![code::ILLEGAL_GENERATION]
    );
    assert!(h.core.group("nogroup").is_none());
}

#[test]
fn failed_append_is_reported_and_not_cached() {
    let mut h = Harness::new(Harness::default_config());
    h.fail_appends = Some(kafka_protocol::ResponseError::MessageTooLarge);
    let r = commit(&mut h, &commit_req("", -1, &[("t", 0, 42)]), 8);
    assert_eq!(commit_errors(&r), vec![code::INVALID_COMMIT_OFFSET_SIZE]);
    assert!(
        h.core.group(GROUP).is_none(),
        "nothing was stored, so no group"
    );
    h.fail_appends = Some(kafka_protocol::ResponseError::NotEnoughReplicas);
    assert_eq!(
        commit_errors(&commit(&mut h, &commit_req("", -1, &[("t", 0, 42)]), 8)),
        vec![code::COORDINATOR_NOT_AVAILABLE]
    );
}

#[test]
fn replay_restores_offsets_and_groups() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(2, &["t"]);
    commit(
        &mut h,
        &commit_req(&ids[0], 1, &[("t", 0, 10), ("t", 1, 11)]),
        8,
    );
    commit(&mut h, &commit_req(&ids[1], 1, &[("t", 0, 12)]), 8);
    let partition = h.core.partition_for(GROUP);
    assert!(h.log.iter().all(|(p, _)| *p == partition));
    let records: Vec<_> = h.log.iter().map(|(_, r)| r.clone()).collect();

    let mut restored = Harness::new(Harness::default_config());
    restored.core.begin_loading([partition]);
    assert_eq!(
        restored
            .core
            .heartbeat(GROUP, &ids[0], None, 1, restored.now)
            .error_code,
        code::COORDINATOR_LOAD_IN_PROGRESS
    );
    let stats = restored
        .core
        .load_partition(partition, records, restored.now);
    restored.run_effects();
    assert_eq!((stats.groups, stats.offsets, stats.corrupt), (1, 2, 0));
    assert_eq!(
        fetch_v7(&restored.core, None),
        vec![("t".into(), 0, 12, 3), ("t".into(), 1, 11, 3)]
    );
    let g = restored.group();
    assert_eq!(
        (g.state, g.generation_id, g.members.len()),
        (GroupState::Stable, 1, 2)
    );
    assert_eq!(g.leader_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(
        g.members[&ids[1]].assignment,
        Bytes::from(format!("assign-{}", ids[1]))
    );
    // Members resume heartbeating in their generation; silent ones expire.
    assert_eq!(restored.heartbeat(&ids[0], 1), code::NONE);
    restored.advance(20_000);
    assert!(restored.group().members.is_empty());
}

#[test]
fn delete_groups_and_offsets() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(1, &["t"]);
    commit(
        &mut h,
        &commit_req(&ids[0], 1, &[("t", 0, 1), ("u", 0, 2)]),
        8,
    );
    let r = h.core.delete_groups(&[
        GroupId(StrBytes::from_static_str(GROUP)),
        GroupId(StrBytes::from_static_str("nope")),
    ]);
    assert_eq!(r.results[0].error_code, code::NON_EMPTY_GROUP);
    assert_eq!(r.results[1].error_code, code::GROUP_ID_NOT_FOUND);

    let del = |h: &mut Harness, t: &str| {
        let req = OffsetDeleteRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic(t))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ]);
        let r = h.core.offset_delete(&req, &exists);
        h.run_effects();
        (
            r.error_code,
            r.topics.first().map(|t| t.partitions[0].error_code),
        )
    };
    assert_eq!(
        del(&mut h, "t"),
        (code::NONE, Some(code::GROUP_SUBSCRIBED_TO_TOPIC))
    );
    assert_eq!(del(&mut h, "u"), (code::NONE, Some(code::NONE)));
    assert_eq!(fetch_v7(&h.core, None), vec![("t".into(), 0, 1, 3)]);

    assert_eq!(h.leave(&ids[0], 4), code::NONE);
    assert_eq!(h.group().state, GroupState::Empty);
    let r = h
        .core
        .delete_groups(&[GroupId(StrBytes::from_static_str(GROUP))]);
    h.run_effects();
    assert_eq!(r.results[0].error_code, code::NONE);
    assert!(h.core.group(GROUP).is_none());

    // Replaying everything, tombstones included, leaves nothing behind.
    let mut restored = Harness::new(Harness::default_config());
    let records: Vec<_> = h.log.iter().map(|(_, r)| r.clone()).collect();
    let stats = restored
        .core
        .load_partition(h.core.partition_for(GROUP), records, restored.now);
    assert_eq!(stats.groups, 0);
    assert!(restored.core.group(GROUP).is_none());
}

#[test]
fn offsets_of_empty_groups_expire_after_retention() {
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        ..Harness::default_config()
    };
    let mut h = Harness::new(config);
    commit(&mut h, &commit_req("", -1, &[("t", 0, 1)]), 8);
    h.advance(59_999);
    h.core.expire_offsets(h.now);
    h.run_effects();
    assert!(h.core.group(GROUP).is_some());
    h.advance(1);
    h.core.expire_offsets(h.now);
    h.run_effects();
    assert!(
        h.core.group(GROUP).is_none(),
        "offsets expired and the empty group died"
    );
    let tail: Vec<bool> = h
        .log
        .iter()
        .rev()
        .take(2)
        .map(|(_, (_, v))| v.is_none())
        .collect();
    assert_eq!(
        tail,
        vec![true, true],
        "offset and group tombstones written"
    );
}

#[test]
fn active_consumer_group_keeps_subscribed_offsets_past_retention() {
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        ..Harness::default_config()
    };
    let mut h = Harness::new(config);
    let ids = h.stable_group(1, &["t"]);
    commit(
        &mut h,
        &commit_req(&ids[0], 1, &[("t", 0, 1), ("u", 0, 2)]),
        8,
    );
    for _ in 0..20 {
        h.advance(5_000);
        assert_eq!(h.heartbeat(&ids[0], 1), code::NONE);
    }
    h.core.expire_offsets(h.now);
    h.run_effects();
    // KIP-211: a Stable consumer group loses only offsets of topics it no longer
    // subscribes to; its subscribed topics keep theirs however old.
    assert_eq!(fetch_v7(&h.core, None), vec![("t".into(), 0, 1, 3)]);
    assert_eq!(h.group().state, GroupState::Stable);
    // Once Empty, retention counts from when it became Empty.
    assert_eq!(h.leave(&ids[0], 3), code::NONE);
    assert_eq!(h.group().state, GroupState::Empty);
    h.advance(59_999);
    h.core.expire_offsets(h.now);
    assert_eq!(fetch_v7(&h.core, None).len(), 1);
    h.advance(1);
    h.core.expire_offsets(h.now);
    h.run_effects();
    assert!(h.core.group(GROUP).is_none());
}

#[test]
fn list_and_describe_groups() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(2, &["t"]);
    commit(&mut h, &commit_req("", -1, &[]), 8);
    let listed = h.core.list_groups(&[], &[]);
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
    assert_eq!(listed.groups[0].protocol_type.as_str(), "consumer");
    assert!(h.core.list_groups(&["empty".into()], &[]).groups.is_empty());
    assert_eq!(
        h.core
            .list_groups(&["STABLE".into()], &["classic".into()])
            .groups
            .len(),
        1
    );

    let d = h.core.describe_groups(
        &[
            GroupId(StrBytes::from_static_str(GROUP)),
            GroupId(StrBytes::from_static_str("x")),
        ],
        5,
    );
    let g = &d.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.protocol_data.as_str()
        ),
        (code::NONE, "Stable", "range")
    );
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.members[0].member_id.as_str(), ids[0]);
    assert_eq!(
        g.members[0].member_assignment,
        Bytes::from(format!("assign-{}", ids[0]))
    );
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    let d6 = h
        .core
        .describe_groups(&[GroupId(StrBytes::from_static_str("x"))], 6);
    assert_eq!(d6.groups[0].error_code, code::GROUP_ID_NOT_FOUND);
    let _ = START_MS;
}
