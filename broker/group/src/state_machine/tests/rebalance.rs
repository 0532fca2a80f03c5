//! Join/sync/heartbeat/leave sequences, rebalance and session timers, join errors.

use bytes::Bytes;

use super::harness::{GROUP, Harness, join_args};
use crate::config::GroupConfig;
use crate::group::GroupState;
use crate::state_machine::code;

#[test]
fn single_member_joins_after_initial_delay_and_syncs() {
    let mut h = Harness::new(Harness::default_config());
    let id = h.join_new("client", &["t"]);
    assert_eq!(h.group().state, GroupState::PreparingRebalance);
    h.advance(2_999);
    assert!(h.joins.is_empty(), "initial delay still running");
    h.advance(1);
    let join = h.joins.remove(&id).expect("join completed");
    assert_eq!(join.error_code, code::NONE);
    assert_eq!(join.generation_id, 1);
    assert_eq!(join.leader.as_str(), id);
    assert_eq!(
        join.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );
    assert_eq!(join.members.len(), 1, "the leader gets the member list");
    assert_eq!(h.group().state, GroupState::CompletingRebalance);

    assert!(
        h.sync(&id, 1, vec![(id.clone(), Bytes::from_static(b"a"))])
            .is_none()
    );
    let sync = h.syncs.remove(&id).expect("sync answered after the append");
    assert_eq!(sync.error_code, code::NONE);
    assert_eq!(sync.assignment, Bytes::from_static(b"a"));
    assert_eq!(h.group().state, GroupState::Stable);
    assert_eq!(h.log.len(), 1, "assignment persisted as group metadata");
    assert_eq!(h.heartbeat(&id, 1), code::NONE);
    assert_eq!(h.heartbeat(&id, 0), code::ILLEGAL_GENERATION);
    assert_eq!(h.heartbeat("nobody", 1), code::UNKNOWN_MEMBER_ID);
}

#[test]
fn three_members_one_leaves_and_the_rest_rebalance() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(3, &["t"]);
    assert_eq!(h.group().generation_id, 1);
    assert_eq!(
        h.group().leader_id.as_deref(),
        Some(ids[0].as_str()),
        "first joiner leads"
    );
    for id in &ids {
        let join = h.joins.remove(id).expect("joined");
        assert_eq!(
            join.members.is_empty(),
            *id != ids[0],
            "only the leader sees members"
        );
        assert_eq!(
            h.syncs
                .remove(id)
                .map(|s| s.assignment)
                .unwrap_or_else(|| Bytes::from(format!("assign-{id}"))),
            Bytes::from(format!("assign-{id}"))
        );
    }
    assert_eq!(h.leave(&ids[2], 3), code::NONE);
    assert_eq!(h.group().state, GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&ids[0], 1), code::REBALANCE_IN_PROGRESS);
    assert!(h.join(join_args(&ids[0], "c0", &["t"])).is_none());
    assert!(h.joins.is_empty(), "waits for the second member");
    assert!(h.join(join_args(&ids[1], "c1", &["t"])).is_none());
    assert_eq!(
        h.joins.len(),
        2,
        "all remaining members rejoined: no wait for the timeout"
    );
    assert_eq!(h.group().generation_id, 2);
    assert_eq!(h.group().members.len(), 2);
    assert_eq!(h.joins[&ids[0]].members.len(), 2);
}

#[test]
fn member_that_does_not_rejoin_is_dropped_at_rebalance_timeout() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(2, &["t"]);
    h.joins.clear();
    // A metadata change of member 1 triggers a rebalance; member 0 keeps its
    // session alive with heartbeats but never rejoins.
    assert!(h.join(join_args(&ids[1], "c1", &["t", "u"])).is_none());
    assert_eq!(h.group().state, GroupState::PreparingRebalance);
    for _ in 0..5 {
        h.advance(5_000);
        assert_eq!(h.heartbeat(&ids[0], 1), code::REBALANCE_IN_PROGRESS);
    }
    h.advance(4_999);
    assert!(h.joins.is_empty(), "waits the rebalance timeout");
    h.advance(1);
    assert_eq!(h.joins[&ids[1]].generation_id, 2);
    assert_eq!(
        h.group().members.keys().cloned().collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    assert_eq!(
        h.group().leader_id.as_deref(),
        Some(ids[1].as_str()),
        "leadership moves to a joined member"
    );
    assert_eq!(h.heartbeat(&ids[0], 2), code::UNKNOWN_MEMBER_ID);
}

#[test]
fn session_expiry_removes_member_and_empties_group() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(2, &["t"]);
    for _ in 0..2 {
        h.advance(4_000);
        assert_eq!(h.heartbeat(&ids[0], 1), code::NONE);
    }
    assert!(h.group().members.contains_key(&ids[1]));
    h.advance(4_000);
    // ids[1] never heartbeats: it expired 10 s after the sync.
    assert!(!h.group().members.contains_key(&ids[1]));
    assert_eq!(h.heartbeat(&ids[0], 1), code::REBALANCE_IN_PROGRESS);
    // The survivor does not rejoin either: it expires too, and the group is Empty.
    h.advance(60_000);
    assert_eq!(h.group().state, GroupState::Empty);
    assert_eq!(h.group().generation_id, 2);
    assert!(h.group().members.is_empty());
    let last = h.log.last().expect("empty group stored");
    let value = crate::records::GroupMetadataValue::decode(last.1.1.clone().expect("value"))
        .expect("decodes");
    assert_eq!((value.generation, value.members.len()), (2, 0));
}

#[test]
fn initial_delay_extends_while_members_keep_joining() {
    let mut h = Harness::new(Harness::default_config());
    let a = h.join_new("a", &["t"]);
    h.advance(2_000);
    let b = h.join_new("b", &["t"]);
    h.advance(1_000); // t=3000: a member was added, so the delay extends by 3 s.
    assert!(h.joins.is_empty());
    h.advance(2_999);
    assert!(h.joins.is_empty());
    h.advance(1); // t=6000: nobody new, complete.
    assert_eq!(h.joins.len(), 2);
    assert_eq!(h.joins[&a].generation_id, 1);
    assert_eq!(h.joins[&b].generation_id, 1);
}

#[test]
fn join_errors_match_kafka() {
    let config = GroupConfig {
        max_size: 1,
        ..Harness::default_config()
    };
    let mut h = Harness::new(config);
    let mut bad = join_args("", "c", &["t"]);
    bad.session_timeout_ms = 10;
    assert_eq!(
        h.join(bad).map(|r| r.error_code),
        Some(code::INVALID_SESSION_TIMEOUT)
    );
    let mut bad = join_args("", "c", &["t"]);
    bad.group_id = String::new();
    assert_eq!(
        h.join(bad).map(|r| r.error_code),
        Some(code::INVALID_GROUP_ID)
    );
    assert_eq!(
        h.join(join_args("ghost", "c", &["t"]))
            .map(|r| r.error_code),
        Some(code::UNKNOWN_MEMBER_ID)
    );
    assert!(
        h.core.group(GROUP).is_none(),
        "a failed join leaves no group behind"
    );
    let mut bad = join_args("", "c", &["t"]);
    bad.protocols.clear();
    assert_eq!(
        h.join(bad).map(|r| r.error_code),
        Some(code::INCONSISTENT_GROUP_PROTOCOL)
    );

    let id = h.join_new("c", &["t"]);
    h.advance(3_000);
    // Kafka checks group.max.size before anything else about the joiner.
    let full = h.join(join_args("", "d", &["t"])).expect("answered");
    assert_eq!(full.error_code, code::GROUP_MAX_SIZE_REACHED);
    let mut other = join_args(&id, "c", &["t"]);
    other.protocol_type = "connect".into();
    assert_eq!(
        h.join(other).map(|r| r.error_code),
        Some(code::INCONSISTENT_GROUP_PROTOCOL)
    );
    let mut other = join_args(&id, "c", &["t"]);
    other.protocols = vec![("sticky".into(), Bytes::new())];
    assert_eq!(
        h.join(other).map(|r| r.error_code),
        Some(code::INCONSISTENT_GROUP_PROTOCOL)
    );
    assert_eq!(
        h.sync(&id, 7, vec![]).map(|r| r.error_code),
        Some(code::ILLEGAL_GENERATION)
    );
    assert_eq!(
        h.sync("ghost", 1, vec![]).map(|r| r.error_code),
        Some(code::UNKNOWN_MEMBER_ID)
    );
}

#[test]
fn v3_join_has_no_member_id_round_trip() {
    let mut h = Harness::new(Harness::default_config());
    let mut args = join_args("", "old", &["t"]);
    args.version = 3;
    assert!(h.join(args).is_none(), "pre-KIP-394 clients join directly");
    h.advance(3_000);
    let (_, join) = h.joins.drain().next().expect("joined");
    assert_eq!(join.error_code, code::NONE);
}

#[test]
fn failed_assignment_append_answers_sync_with_mapped_error_and_rebalances() {
    let mut h = Harness::new(Harness::default_config());
    let id = h.join_new("c", &["t"]);
    h.advance(3_000);
    h.fail_appends = Some(kafka_protocol::ResponseError::NotLeaderOrFollower);
    assert!(h.sync(&id, 1, vec![]).is_none());
    assert_eq!(h.syncs[&id].error_code, code::NOT_COORDINATOR);
    assert_eq!(h.group().state, GroupState::PreparingRebalance);
}

#[test]
fn member_that_never_syncs_is_removed_after_rebalance_timeout() {
    let mut h = Harness::new(Harness::default_config());
    let a = h.join_new("a", &["t"]);
    let b = h.join_new("b", &["t"]);
    h.complete_initial_join();
    let leader = h.group().leader_id.clone().expect("leader");
    let follower = if leader == a { b } else { a };
    assert!(h.sync(&leader, 1, vec![]).is_none());
    assert_eq!(h.group().state, GroupState::Stable);
    // The follower keeps heartbeating but never syncs: removed at the sync timeout.
    for _ in 0..10 {
        h.advance(3_000);
        let _ = h.heartbeat(&follower, 1);
        let _ = h.heartbeat(&leader, 1);
    }
    assert!(!h.group().members.contains_key(&follower));
}
