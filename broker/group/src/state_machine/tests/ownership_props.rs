//! A seeded property test of partition ownership: random commits, resignations
//! and re-elections of two groups in different `__consumer_offsets` partitions,
//! checked against a model of what was durably committed. Set
//! `TIDEWATER_PROPTEST_SEED` to replay a run; the seed is printed on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::harness::{GROUP, Harness, seeded_runner};
use super::ownership::{commit, commit_req, fetch, other_group};
use crate::state_machine::code;

/// Reloads that brought committed offsets back: the property must not be vacuous.
static RESTORED: AtomicUsize = AtomicUsize::new(0);

/// Partitions of topic "t" committed to: the ones [`fetch`] reads.
const TOPIC_PARTITIONS: i32 = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Group 0 or 1 commits `offset` for partition `p` of topic "t".
    Commit { group: usize, p: i32, offset: i64 },
    /// This broker stops leading the group's `__consumer_offsets` partition.
    Unload(usize),
    /// This broker becomes its leader and replays it from the log.
    Load(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..TOPIC_PARTITIONS, 0..1_000i64)
            .prop_map(|(group, p, offset)| Op::Commit { group, p, offset }),
        1 => (0..2usize).prop_map(Op::Unload),
        2 => (0..2usize).prop_map(Op::Load),
    ]
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::unowned(Harness::default_config());
    let groups = [GROUP.to_owned(), other_group(&h.core)];
    let partitions = groups.clone().map(|g| h.core.partition_for(&g));
    let mut owned = [false; 2];
    let mut committed: [BTreeMap<i32, i64>; 2] = Default::default();
    for op in ops {
        match op {
            Op::Commit { group, p, offset } => {
                let appended = h.log.len();
                let errors = commit(&mut h, &commit_req(&groups[group], &[(p, offset)]));
                let error = errors
                    .first()
                    .copied()
                    .unwrap_or(code::UNKNOWN_SERVER_ERROR);
                if owned[group] {
                    prop_assert_eq!(error, code::NONE);
                    committed[group].insert(p, offset);
                } else {
                    prop_assert_eq!(error, code::NOT_COORDINATOR);
                    prop_assert_eq!(h.log.len(), appended, "a refused commit was stored");
                }
            }
            Op::Unload(group) => {
                let unloaded = h.core.unload_partition(partitions[group]);
                h.run_effects();
                let expected = usize::from(owned[group] && !committed[group].is_empty());
                prop_assert_eq!(unloaded.groups.len(), expected);
                owned[group] = false;
            }
            Op::Load(group) => {
                let records: Vec<_> = h
                    .log
                    .iter()
                    .filter(|(p, _)| *p == partitions[group])
                    .map(|(_, r)| r.clone())
                    .collect();
                h.core.load_partition(partitions[group], records, h.now);
                h.run_effects();
                if !owned[group] && !committed[group].is_empty() {
                    RESTORED.fetch_add(1, Ordering::Relaxed);
                }
                owned[group] = true;
            }
        }
        for (i, group) in groups.iter().enumerate() {
            prop_assert_eq!(h.core.owns_partition(partitions[i]), owned[i]);
            let expected = if owned[i] {
                let offsets = (0..TOPIC_PARTITIONS)
                    .map(|p| committed[i].get(&p).copied().unwrap_or(-1))
                    .collect();
                (code::NONE, offsets)
            } else {
                (code::NOT_COORDINATOR, vec![-1; TOPIC_PARTITIONS as usize])
            };
            prop_assert_eq!(fetch(&h.core, group), expected, "group {}", group);
        }
        let listed: BTreeSet<String> = h
            .core
            .list_groups(&[], &[])
            .groups
            .iter()
            .map(|g| g.group_id.as_str().to_owned())
            .collect();
        let expected: BTreeSet<String> = (0..2)
            .filter(|&i| owned[i] && !committed[i].is_empty())
            .map(|i| groups[i].clone())
            .collect();
        prop_assert_eq!(listed, expected);
    }
    Ok(())
}

#[test]
fn random_resignations_and_elections_keep_committed_offsets() {
    let (mut runner, seed) = seeded_runner(0x0ff5_e75e_u64, 200);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), run);
    if let Err(e) = result {
        panic!("ownership broken (replay with TIDEWATER_PROPTEST_SEED={seed}): {e}");
    }
    let restored = RESTORED.load(Ordering::Relaxed);
    assert!(
        restored > 100,
        "only {restored} reloads restored offsets (seed {seed}): the generator misses the point"
    );
}
