//! Static membership (KIP-345): restarts without rebalances, fencing, and static
//! members that miss a rebalance.

use bytes::Bytes;

use super::harness::{GROUP, Harness, join_args};
use crate::group::GroupState;
use crate::state_machine::code;

#[test]
fn static_member_rejoin_keeps_assignment_without_rebalance() {
    let mut h = Harness::new(Harness::default_config());
    let mut args = join_args("", "c", &["t"]);
    args.group_instance_id = Some("instance-1".into());
    assert!(
        h.join(args.clone()).is_none(),
        "static members skip MEMBER_ID_REQUIRED"
    );
    h.advance(3_000);
    let (old_id, join) = h.joins.drain().next().expect("joined");
    assert!(old_id.starts_with("instance-1-"), "{old_id}");
    assert_eq!(join.generation_id, 1);
    assert!(
        h.sync(
            &old_id,
            1,
            vec![(old_id.clone(), Bytes::from_static(b"mine"))]
        )
        .is_none()
    );
    assert_eq!(h.group().state, GroupState::Stable);

    // The instance restarts and joins with no member id.
    args.version = 9;
    let stored_before = h.log.len();
    assert!(
        h.join(args).is_none(),
        "answered once the new member id is stored"
    );
    assert_eq!(h.log.len(), stored_before + 1);
    let (_, rejoin) = h
        .joins
        .drain()
        .next()
        .expect("answered without a rebalance");
    assert_eq!(rejoin.error_code, code::NONE);
    assert_eq!(rejoin.generation_id, 1);
    assert!(
        rejoin.skip_assignment,
        "v9 static leader skips assignment (KIP-814)"
    );
    let new_id = rejoin.member_id.as_str().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(h.group().state, GroupState::Stable);
    assert_eq!(
        h.core
            .heartbeat(GROUP, &old_id, Some("instance-1"), 1, h.now)
            .error_code,
        code::FENCED_INSTANCE_ID
    );
    assert_eq!(
        h.core
            .heartbeat(GROUP, &new_id, Some("instance-1"), 1, h.now)
            .error_code,
        code::NONE
    );
    let sync = h.sync(&new_id, 1, vec![]).expect("stable");
    assert_eq!(
        sync.assignment,
        Bytes::from_static(b"mine"),
        "assignment kept"
    );
}

#[test]
fn static_member_replacement_fences_a_parked_join() {
    let mut h = Harness::new(Harness::default_config());
    let mut args = join_args("", "c", &["t"]);
    args.group_instance_id = Some("i".into());
    assert!(h.join(args.clone()).is_none());
    let old_id = h.group().members.keys().next().cloned().expect("member");
    assert!(
        h.join(args).is_none(),
        "replacement joins the running rebalance"
    );
    assert_eq!(h.joins[&old_id].error_code, code::FENCED_INSTANCE_ID);
    h.advance(3_000);
    assert_eq!(h.group().members.len(), 1);
    assert_eq!(h.joins.len(), 2);
}

#[test]
fn static_replacement_is_undone_when_it_cannot_be_stored() {
    let mut h = Harness::new(Harness::default_config());
    let mut args = join_args("", "c", &["t"]);
    args.group_instance_id = Some("i".into());
    assert!(h.join(args.clone()).is_none());
    h.advance(3_000);
    let (old_id, _) = h.joins.drain().next().expect("joined");
    assert!(
        h.sync(&old_id, 1, vec![(old_id.clone(), Bytes::from_static(b"x"))])
            .is_none()
    );
    h.fail_appends = Some(kafka_protocol::ResponseError::RequestTimedOut);
    assert!(h.join(args).is_none());
    let (new_id, r) = h.joins.drain().next().expect("answered");
    assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);
    assert_ne!(new_id, old_id);
    let g = h.group();
    assert_eq!(
        g.members.keys().cloned().collect::<Vec<_>>(),
        vec![old_id.clone()]
    );
    assert_eq!(g.static_member_id("i"), Some(old_id.as_str()));
    assert_eq!(g.leader_id.as_deref(), Some(old_id.as_str()));
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(
        h.core
            .heartbeat(GROUP, &old_id, Some("i"), 1, h.now)
            .error_code,
        code::NONE
    );
}

#[test]
fn static_member_missing_a_rebalance_stays_until_its_session_expires() {
    let mut h = Harness::new(Harness::default_config());
    let mut stat = join_args("", "s", &["t"]);
    stat.group_instance_id = Some("s".into());
    assert!(h.join(stat).is_none());
    let dynamic = h.join_new("d", &["t"]);
    h.complete_initial_join();
    let static_id = h
        .group()
        .static_member_id("s")
        .map(str::to_owned)
        .expect("static member");
    let leader = h.group().leader_id.clone().expect("leader");
    assert_eq!(leader, static_id, "first joiner leads");
    assert!(h.sync(&leader, 1, vec![]).is_none());
    h.joins.clear();
    h.syncs.clear();

    // The dynamic member changes its subscription; the static one keeps heartbeating
    // but does not rejoin before the rebalance timeout.
    assert!(h.join(join_args(&dynamic, "d", &["t", "u"])).is_none());
    for _ in 0..5 {
        h.advance(5_000);
        let error = h
            .core
            .heartbeat(GROUP, &static_id, Some("s"), 1, h.now)
            .error_code;
        assert_eq!(error, code::REBALANCE_IN_PROGRESS);
    }
    h.advance(5_000);
    let g = h.group();
    assert_eq!(
        g.generation_id, 2,
        "the join phase completed at the rebalance timeout"
    );
    assert!(
        g.members.contains_key(&static_id),
        "static members are not dropped for missing a join"
    );
    assert_eq!(
        g.leader_id.as_deref(),
        Some(dynamic.as_str()),
        "leadership moved to a joined member"
    );
    assert_eq!(h.joins[&dynamic].members.len(), 2);
}

#[test]
fn only_unjoined_static_members_keep_the_join_phase_open_until_they_expire() {
    let mut h = Harness::new(Harness::default_config());
    let mut a = join_args("", "a", &["t"]);
    a.group_instance_id = Some("a".into());
    assert!(h.join(a).is_none());
    let dynamic = h.join_new("d", &["t"]);
    h.complete_initial_join();
    let static_id = h
        .group()
        .static_member_id("a")
        .map(str::to_owned)
        .expect("static member");
    assert!(h.sync(&static_id, 1, vec![]).is_none());
    // The dynamic member rejoins with new metadata, then leaves before the join
    // phase ends: only the silent static member is left, and it never rejoins.
    h.joins.clear();
    assert!(h.join(join_args(&dynamic, "d", &["t", "u"])).is_none());
    assert_eq!(h.leave(&dynamic, 3), code::NONE);
    // It keeps heartbeating past the rebalance timeout: the join phase cannot
    // complete without a joined member, so it waits again instead of spinning.
    for _ in 0..7 {
        h.advance(5_000);
        let error = h
            .core
            .heartbeat(GROUP, &static_id, Some("a"), 1, h.now)
            .error_code;
        assert_eq!(error, code::REBALANCE_IN_PROGRESS);
    }
    assert!(
        h.timers.len() < 10,
        "timers do not pile up: {}",
        h.timers.len()
    );
    assert_eq!(
        (h.group().state, h.group().generation_id),
        (GroupState::PreparingRebalance, 1)
    );
    assert!(h.group().members.contains_key(&static_id));
    // Silent now: its session expires and the group ends Empty in a new generation.
    h.advance(10_000);
    assert_eq!(
        (h.group().state, h.group().generation_id),
        (GroupState::Empty, 2)
    );
}
