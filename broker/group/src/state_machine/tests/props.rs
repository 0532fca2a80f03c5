//! A seeded property test over random join/sync/heartbeat/leave/time sequences,
//! checking the invariants Kafka's group state machine keeps. Set
//! `TIDEWATER_PROPTEST_SEED` to replay a run; the seed is printed on failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::harness::{GROUP, Harness, join_args, seeded_runner};
use crate::group::GroupState;
use crate::records::{GroupMetadataValue, RecordKey};
use crate::state_machine::{LeavingMember, code};

/// How often a case reached Stable: the invariants must be exercised, not vacuous.
static STABLE_SEEN: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Leave(usize),
    Advance(u64),
    /// A static member (slots 2 and 3) restarts: joins with no member id and its
    /// `group.instance.id`, replacing its previous incarnation.
    Restart(usize),
}

/// Slots 2 and 3 are static members with these instance ids.
fn instance(slot: usize) -> Option<String> {
    (slot >= 2).then(|| format!("instance-{slot}"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize).prop_map(Op::Join),
        3 => (0..4usize).prop_map(Op::Sync),
        3 => (0..4usize).prop_map(Op::Heartbeat),
        1 => (0..4usize).prop_map(Op::Leave),
        3 => (0..12_000u64).prop_map(Op::Advance),
        1 => (2..4usize).prop_map(Op::Restart),
    ]
}

fn last_stored_metadata(h: &Harness) -> Option<GroupMetadataValue> {
    h.log
        .iter()
        .rev()
        .find_map(|(_, (k, v))| match RecordKey::decode(k.clone()) {
            Ok(RecordKey::GroupMetadata { group }) if group == GROUP => v
                .clone()
                .map(|v| GroupMetadataValue::decode(v).expect("valid record")),
            _ => None,
        })
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::new(Harness::default_config());
    let mut slots: [Option<String>; 4] = Default::default();
    let mut last_generation = 0;
    for op in ops {
        let generation = h.core.group(GROUP).map_or(0, |g| g.generation_id);
        match op.clone() {
            Op::Join(i) | Op::Restart(i) => match (slots[i].clone(), instance(i)) {
                (Some(id), instance) if matches!(op, Op::Join(_)) => {
                    let mut args = join_args(&id, &format!("c{i}"), &["t"]);
                    args.group_instance_id = instance;
                    if let Some(r) = h.join(args)
                        && matches!(
                            r.error_code,
                            code::UNKNOWN_MEMBER_ID | code::FENCED_INSTANCE_ID
                        )
                    {
                        slots[i] = None;
                    }
                }
                (_, Some(instance)) => {
                    let mut args = join_args("", &format!("c{i}"), &["t"]);
                    args.group_instance_id = Some(instance.clone());
                    let _ = h.join(args);
                    slots[i] = h
                        .core
                        .group(GROUP)
                        .and_then(|g| g.static_member_id(&instance))
                        .map(str::to_owned);
                }
                (_, None) => slots[i] = Some(h.join_new(&format!("c{i}"), &["t"])),
            },
            Op::Sync(i) => {
                if let Some(id) = slots[i].clone() {
                    let assignments = h
                        .core
                        .group(GROUP)
                        .map(|g| {
                            g.members
                                .keys()
                                .map(|m| (m.clone(), bytes::Bytes::from(m.clone())))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(r) = h.sync(&id, generation, assignments)
                        && r.error_code == code::UNKNOWN_MEMBER_ID
                    {
                        slots[i] = None;
                    }
                }
            }
            Op::Heartbeat(i) => {
                if let Some(id) = slots[i].clone() {
                    let error = h
                        .core
                        .heartbeat(GROUP, &id, instance(i).as_deref(), generation, h.now)
                        .error_code;
                    if matches!(error, code::UNKNOWN_MEMBER_ID | code::FENCED_INSTANCE_ID) {
                        slots[i] = None;
                    }
                }
            }
            Op::Leave(i) => {
                if let Some(id) = slots[i].take() {
                    h.core.leave(
                        GROUP,
                        vec![LeavingMember {
                            member_id: id,
                            group_instance_id: None,
                        }],
                        4,
                        h.now,
                    );
                    h.run_effects();
                }
            }
            Op::Advance(ms) => h.advance(ms),
        }
        for (member, r) in h.joins.drain() {
            if r.error_code == code::NONE {
                // A parked join is answered only when a new generation starts, except
                // a static member replacing itself in a Stable group (KIP-345).
                let now_generation = h.core.group(GROUP).map_or(i32::MAX, |g| g.generation_id);
                let replaced = matches!(op, Op::Restart(_)) && r.generation_id == generation;
                prop_assert!(
                    (replaced || r.generation_id > generation) && r.generation_id <= now_generation,
                    "join answer for {} has generation {}",
                    member,
                    r.generation_id
                );
            }
        }
        h.syncs.clear();
        let Some(g) = h.core.group(GROUP) else {
            continue;
        };
        prop_assert!(
            g.generation_id >= last_generation,
            "generation went backwards"
        );
        last_generation = g.generation_id;
        match &g.leader_id {
            Some(leader) => prop_assert!(
                g.members.contains_key(leader),
                "leader {} is not a member",
                leader
            ),
            None => prop_assert!(g.members.is_empty(), "members without a leader"),
        }
        if g.state != GroupState::PreparingRebalance {
            prop_assert!(
                g.members.values().all(|m| !m.awaiting_join),
                "parked join outside a rebalance"
            );
        }
        if g.state != GroupState::CompletingRebalance {
            prop_assert!(
                g.members.values().all(|m| !m.awaiting_sync),
                "parked sync outside CompletingRebalance"
            );
        }
        if g.state == GroupState::Stable {
            STABLE_SEEN.fetch_add(1, Ordering::Relaxed);
            let stored = last_stored_metadata(&h).expect("a Stable group was stored");
            prop_assert_eq!(stored.generation, g.generation_id);
            for id in g.members.keys() {
                prop_assert!(
                    stored.members.iter().any(|m| &m.member_id == id),
                    "member {} has no assignment slot",
                    id
                );
            }
        }
        for (instance, id) in &g.static_members {
            let member = g.members.get(id);
            prop_assert!(
                member.is_some_and(|m| m.group_instance_id.as_ref() == Some(instance)),
                "instance {} maps to {} which is not its member",
                instance,
                id
            );
        }
        for m in g.members.values() {
            if let Some(instance) = &m.group_instance_id {
                prop_assert_eq!(g.static_member_id(instance), Some(m.member_id.as_str()));
            }
        }
        if g.state == GroupState::Empty {
            prop_assert!(g.members.is_empty());
        }
    }
    Ok(())
}

#[test]
fn random_event_sequences_keep_group_invariants() {
    let (mut runner, seed) = seeded_runner(0x71de_u64 ^ 0x5eed, 300);
    let result = runner.run(&proptest::collection::vec(op(), 1..60), run);
    if let Err(e) = result {
        panic!("group invariants broken (replay with TIDEWATER_PROPTEST_SEED={seed}): {e}");
    }
    let stable = STABLE_SEEN.load(Ordering::Relaxed);
    assert!(
        stable > 100,
        "only {stable} Stable observations (seed {seed}): the generator misses the interesting states"
    );
}
