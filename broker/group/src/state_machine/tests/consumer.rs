//! KIP-848 consumer groups on the sans-IO core: joining and the uniform split,
//! revocation before re-assignment, fencing, leaving (dynamic and static), session
//! expiry, offset commits by member epoch, and every error code of the heartbeat.

use kafka_protocol::ResponseError as E;
use kafka_protocol::messages::ConsumerGroupHeartbeatResponse;
use uuid::Uuid;

use super::harness::{GROUP, Harness};
use crate::config::GroupConfig;
use crate::consumer::{Assignment, TopicInfo};
use crate::state_machine::HeartbeatArgs;

const TOPIC: &str = "orders";
const TOPIC_ID: Uuid = Uuid::from_u128(42);
const SESSION_MS: u64 = 45_000;

fn lookup(name: &str) -> Option<TopicInfo> {
    (name == TOPIC).then_some(TopicInfo {
        id: TOPIC_ID,
        partitions: 6,
    })
}

fn join_args(member_id: &str) -> HeartbeatArgs {
    HeartbeatArgs {
        group_id: GROUP.into(),
        member_id: member_id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec![TOPIC.into()]),
        owned: Some(Assignment::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        version: 1,
        ..HeartbeatArgs::default()
    }
}

fn owned(partitions: &[i32]) -> Assignment {
    Assignment::from([(TOPIC_ID, partitions.iter().copied().collect())])
}

fn partitions(r: &ConsumerGroupHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().copied())
            .collect()
    })
}

impl Harness {
    fn hb(&mut self, args: HeartbeatArgs) -> ConsumerGroupHeartbeatResponse {
        let response = self.core.consumer_heartbeat(args, self.now, &lookup);
        self.run_effects();
        response
    }

    /// A steady heartbeat of `member` at `epoch`, owning `parts`.
    fn beat(&mut self, member: &str, epoch: i32, parts: &[i32]) -> ConsumerGroupHeartbeatResponse {
        self.hb(HeartbeatArgs {
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: None,
            owned: Some(owned(parts)),
            ..join_args(member)
        })
    }
}

fn harness() -> Harness {
    Harness::new(GroupConfig {
        consumer_heartbeat_interval_ms: 500,
        ..Harness::default_config()
    })
}

#[test]
fn one_member_gets_every_partition_at_epoch_one() {
    let mut h = harness();
    let r = h.hb(join_args("a"));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 500);
    assert_eq!(partitions(&r), Some(vec![0, 1, 2, 3, 4, 5]));
    // A steady heartbeat changes nothing and repeats no assignment.
    let r = h.beat("a", 1, &[0, 1, 2, 3, 4, 5]);
    assert_eq!((r.error_code, r.member_epoch, r.assignment), (0, 1, None));
}

#[test]
fn a_partition_moves_only_after_its_owner_revoked_it() {
    let mut h = harness();
    h.hb(join_args("a"));
    let all = [0, 1, 2, 3, 4, 5];
    h.beat("a", 1, &all);
    // b joins: group epoch 2; every partition b is due is still a's.
    let r = h.hb(join_args("b"));
    assert_eq!((r.error_code, r.member_epoch), (0, 2));
    assert_eq!(partitions(&r), Some(vec![]));
    // a is told to keep half and stays at epoch 1 until it revokes the rest.
    let r = h.beat("a", 1, &all);
    assert_eq!(r.member_epoch, 1);
    let kept = partitions(&r).expect("a's new assignment");
    assert_eq!(kept.len(), 3);
    // b still waits: a has not acknowledged.
    let r = h.beat("b", 2, &[]);
    assert_eq!(partitions(&r), None);
    assert_eq!(h.core.consumer_group_state(GROUP), Some("Reconciling"));
    // a acknowledges by owning only what it keeps: epoch 2.
    let r = h.beat("a", 1, &kept);
    assert_eq!(r.member_epoch, 2);
    // Now b gets the other three.
    let r = h.beat("b", 2, &[]);
    let moved = partitions(&r).expect("b's assignment");
    assert_eq!(moved.len(), 3);
    assert!(
        moved.iter().all(|p| !kept.contains(p)),
        "{kept:?} {moved:?}"
    );
    h.beat("b", 2, &moved);
    assert_eq!(h.core.consumer_group_state(GROUP), Some("Stable"));
}

#[test]
fn a_leaving_member_s_partitions_go_to_the_others() {
    let mut h = harness();
    h.hb(join_args("a"));
    h.hb(join_args("b"));
    let r = h.beat("a", 1, &[0, 1, 2, 3, 4, 5]);
    let kept = partitions(&r).expect("a keeps half");
    h.beat("a", 1, &kept);
    let r = h.beat("b", 2, &[]);
    let b_parts = partitions(&r).expect("b's half");
    let r = h.hb(HeartbeatArgs {
        member_epoch: -1,
        ..h_leave("b")
    });
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let r = h.beat("a", 2, &kept);
    assert_eq!(r.member_epoch, 3);
    assert_eq!(partitions(&r).map(|p| p.len()), Some(6), "{b_parts:?}");
}

fn h_leave(member: &str) -> HeartbeatArgs {
    HeartbeatArgs {
        rebalance_timeout_ms: -1,
        subscribed_topic_names: None,
        owned: None,
        ..join_args(member)
    }
}

#[test]
fn a_silent_member_is_removed_when_its_session_expires() {
    let mut h = harness();
    h.hb(join_args("a"));
    h.hb(join_args("b"));
    h.advance(SESSION_MS - 1_000);
    // a keeps heartbeating, b is silent.
    h.beat("a", 1, &[0, 1, 2, 3, 4, 5]);
    h.advance(2_000);
    let described = h
        .core
        .consumer_group_describe(&[kafka_protocol::messages::GroupId(
            kafka_protocol::protocol::StrBytes::from_static_str(GROUP),
        )]);
    let members: Vec<&str> = described.groups[0]
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(members, ["a"]);
    let r = h.beat("b", 2, &[]);
    assert_eq!(r.error_code, E::UnknownMemberId.code());
}

#[test]
fn epochs_ahead_or_stale_are_fenced_and_a_retry_of_the_previous_epoch_is_not() {
    let mut h = harness();
    h.hb(join_args("a"));
    assert_eq!(h.beat("a", 7, &[]).error_code, E::FencedMemberEpoch.code());
    h.hb(join_args("b"));
    let r = h.beat("b", 2, &[]);
    assert_eq!(r.error_code, 0);
    let r = h.beat("a", 1, &[0, 1, 2, 3, 4, 5]);
    let kept = partitions(&r).expect("kept");
    h.beat("a", 1, &kept);
    // a is at epoch 2 now; a retried heartbeat at epoch 1 owning a subset passes...
    assert_eq!(h.beat("a", 1, &kept).error_code, 0);
    // ...but epoch 1 claiming partitions it no longer has is fenced.
    assert_eq!(
        h.beat("a", 1, &[0, 1, 2, 3, 4, 5]).error_code,
        E::FencedMemberEpoch.code()
    );
    assert_eq!(h.beat("a", 0, &[]).error_code, E::InvalidRequest.code());
}

#[test]
fn each_refusal_has_kafka_s_error_code() {
    let mut h = Harness::new(GroupConfig {
        consumer_max_size: 1,
        ..Harness::default_config()
    });
    let join = join_args("a");
    let refused = [
        (
            HeartbeatArgs {
                group_id: String::new(),
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                rebalance_timeout_ms: -1,
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                subscribed_topic_names: None,
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                owned: Some(owned(&[1])),
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                member_id: String::new(),
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                member_epoch: -3,
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                subscribed_topic_regex: Some("o.*".into()),
                ..join.clone()
            },
            E::InvalidRequest,
        ),
        (
            HeartbeatArgs {
                server_assignor: Some("sticky".into()),
                ..join.clone()
            },
            E::UnsupportedAssignor,
        ),
    ];
    for (args, expected) in refused {
        assert_eq!(h.hb(args.clone()).error_code, expected.code(), "{args:?}");
    }
    // No group yet: a heartbeat other than a join finds none.
    assert_eq!(h.beat("a", 1, &[]).error_code, E::GroupIdNotFound.code());
    assert_eq!(h.hb(join_args("a")).error_code, 0);
    assert_eq!(h.beat("x", 1, &[]).error_code, E::UnknownMemberId.code());
    assert_eq!(
        h.hb(join_args("b")).error_code,
        E::GroupMaxSizeReached.code()
    );
    // Version 0: the coordinator names the member.
    let r = h.hb(HeartbeatArgs {
        member_id: String::new(),
        version: 0,
        group_id: "v0".into(),
        ..join_args("")
    });
    assert_eq!(r.error_code, 0);
    assert!(r.member_id.is_some_and(|id| !id.is_empty()));
}

#[test]
fn static_members_leave_with_minus_two_and_their_instance_takes_over() {
    let mut h = harness();
    let with_instance = |member: &str| HeartbeatArgs {
        instance_id: Some("i-1".into()),
        ..join_args(member)
    };
    h.hb(with_instance("a"));
    h.beat("a", 1, &[0, 1, 2, 3, 4, 5]);
    // The instance is still in the group: a second member cannot take it.
    assert_eq!(
        h.hb(with_instance("a2")).error_code,
        E::UnreleasedInstanceId.code()
    );
    let r = h.hb(HeartbeatArgs {
        member_epoch: -2,
        instance_id: Some("i-1".into()),
        ..h_leave("a")
    });
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    // Rejoining under a new member id keeps the partitions and the epoch.
    let r = h.hb(with_instance("a2"));
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    assert_eq!(partitions(&r).map(|p| p.len()), Some(6));
    assert_eq!(h.beat("a", 1, &[]).error_code, E::UnknownMemberId.code());
}

#[test]
fn commits_name_the_member_s_current_epoch() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::protocol::StrBytes;
    let mut h = harness();
    h.hb(join_args("a"));
    let commit = |h: &mut Harness, member: &str, epoch: i32| {
        let req = kafka_protocol::messages::OffsetCommitRequest::default()
            .with_group_id(kafka_protocol::messages::GroupId(
                StrBytes::from_static_str(GROUP),
            ))
            .with_member_id(StrBytes::from_string(member.into()))
            .with_generation_id_or_member_epoch(epoch)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(super::harness::topic(TOPIC))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default().with_committed_offset(5),
                    ]),
            ]);
        super::harness::commit_errors(&h.commit(&req, 9, &|_, _| true))
    };
    assert_eq!(commit(&mut h, "a", 1), [0]);
    assert_eq!(commit(&mut h, "a", 0), [E::StaleMemberEpoch.code()]);
    assert_eq!(commit(&mut h, "z", 1), [E::UnknownMemberId.code()]);
    assert_eq!(commit(&mut h, "", -1), [0]);
    let fetched = h
        .group()
        .offsets
        .get(&(TOPIC.to_owned(), 0))
        .map(|o| o.offset);
    assert_eq!(fetched, Some(5));
}

#[test]
fn classic_and_consumer_groups_do_not_mix() {
    let mut h = harness();
    h.stable_group(1, &[TOPIC]);
    let r = h.hb(join_args("a"));
    assert_eq!(r.error_code, E::GroupIdNotFound.code());
    let mut h = harness();
    h.hb(join_args("a"));
    let join = h.join(super::harness::join_args("", "classic", &[TOPIC]));
    assert_eq!(
        join.map(|r| r.error_code),
        Some(E::InconsistentGroupProtocol.code())
    );
}

#[test]
fn a_new_coordinator_replays_members_epochs_and_assignments() {
    let mut h = harness();
    h.hb(join_args("a"));
    h.hb(join_args("b"));
    // a is mid-revocation: it keeps half, the rest is pending.
    let kept = partitions(&h.beat("a", 1, &[0, 1, 2, 3, 4, 5])).expect("kept");
    let before = h.group().consumer.clone().expect("consumer group");
    let partition = h.core.partition_for(GROUP);
    let records: Vec<_> = h
        .log
        .iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, r)| r.clone())
        .collect();
    let mut next = Harness::unowned(h.core.config().clone());
    next.core.load_partition(partition, records, next.now);
    next.run_effects();
    let after = next
        .group()
        .consumer
        .clone()
        .expect("replayed consumer group");
    assert_eq!(after.group_epoch, before.group_epoch);
    assert_eq!(after.assignment_epoch, before.assignment_epoch);
    assert_eq!(after.target, before.target);
    for (id, m) in &before.members {
        let r = &after.members[id];
        assert_eq!(
            (
                r.member_epoch,
                r.state,
                &r.assigned,
                &r.pending_revocation,
                &r.subscribed_topic_names
            ),
            (
                m.member_epoch,
                m.state,
                &m.assigned,
                &m.pending_revocation,
                &m.subscribed_topic_names
            ),
            "{id}"
        );
    }
    // The members go on with the new coordinator: a acknowledges its revocation.
    let r = next.beat("a", 1, &kept);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(r.member_epoch >= 2);
    // A member that left is gone after the replay too.
    next.hb(HeartbeatArgs {
        member_epoch: -1,
        ..h_leave("b")
    });
    let records: Vec<_> = next.log.iter().map(|(_, r)| r.clone()).collect();
    let all: Vec<_> = h
        .log
        .iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, r)| r.clone())
        .chain(records)
        .collect();
    let mut third = Harness::unowned(h.core.config().clone());
    third.core.load_partition(partition, all, third.now);
    let members: Vec<&String> = third
        .group()
        .consumer
        .as_ref()
        .expect("group")
        .members
        .keys()
        .collect();
    assert_eq!(members, ["a"]);
}

#[test]
fn a_member_that_does_not_revoke_within_its_rebalance_timeout_is_fenced() {
    let mut h = harness();
    h.hb(join_args("a"));
    h.hb(join_args("b"));
    // a is told to revoke half (rebalance timeout 30 s) and keeps heartbeating
    // while still listing everything.
    let all = [0, 1, 2, 3, 4, 5];
    assert!(partitions(&h.beat("a", 1, &all)).is_some());
    h.advance(20_000);
    assert_eq!(h.beat("a", 1, &all).error_code, 0);
    h.beat("b", 2, &[]);
    h.advance(11_000);
    assert_eq!(h.beat("a", 1, &all).error_code, E::UnknownMemberId.code());
    // b gets every partition now.
    let r = h.beat("b", 2, &[]);
    assert_eq!(partitions(&r).map(|p| p.len()), Some(6));
}
