//! Seeded property test: random operation sequences against the controller, checking
//! partition invariants after every applied decision. Set `QUORUM_PROPTEST_SEED` (hex,
//! 32 bytes) to replay a failing run; the seed is printed on failure.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::records::{ConfigResourceType, NO_LEADER};

#[derive(Debug, Clone)]
enum Op {
    Register(i32),
    Heartbeat {
        id: i32,
        want_fence: bool,
        want_shutdown: bool,
    },
    Tick(u64),
    Create {
        n: i32,
        rf: i16,
        id: u128,
    },
    Delete(usize),
    AlterIsr {
        idx: usize,
        mask: u8,
    },
    Elect {
        idx: usize,
        unclean: bool,
    },
    Reassign {
        idx: usize,
        mask: u8,
    },
    Cancel(usize),
    Rebalance,
    SetUnclean(usize, bool),
    AddPartitions(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..6i32).prop_map(Op::Register),
        4 => (0..6i32, any::<bool>(), proptest::bool::weighted(0.1))
            .prop_map(|(id, want_fence, want_shutdown)| Op::Heartbeat { id, want_fence: want_fence && id % 2 == 0, want_shutdown }),
        3 => (0..3_000u64).prop_map(Op::Tick),
        3 => (1..5i32, 1..4i16, any::<u128>()).prop_map(|(n, rf, id)| Op::Create { n, rf, id }),
        1 => (0..8usize).prop_map(Op::Delete),
        4 => (0..32usize, any::<u8>()).prop_map(|(idx, mask)| Op::AlterIsr { idx, mask }),
        1 => (0..32usize, any::<bool>()).prop_map(|(idx, unclean)| Op::Elect { idx, unclean }),
        1 => (0..32usize, 1..64u8).prop_map(|(idx, mask)| Op::Reassign { idx, mask }),
        1 => (0..32usize).prop_map(Op::Cancel),
        1 => Just(Op::Rebalance),
        1 => (0..8usize, any::<bool>()).prop_map(|(i, b)| Op::SetUnclean(i, b)),
        1 => (0..8usize).prop_map(Op::AddPartitions),
    ]
}

fn rack(id: i32) -> String {
    format!("r{}", id % 3)
}

/// Runs one op; returns the records it produced (already applied) or an error (ignored).
fn run(h: &mut Harness, op: &Op) -> Result<(), String> {
    let nth_partition = |h: &Harness, idx: usize| {
        let all: Vec<_> = h
            .image
            .topics_by_id
            .values()
            .flat_map(|t| t.partitions.keys().map(move |p| (t.name.clone(), *p)))
            .collect();
        (!all.is_empty()).then(|| all[idx % all.len()].clone())
    };
    let nth_topic = |h: &Harness, idx: usize| {
        let names: Vec<_> = h.image.topic_ids_by_name.keys().cloned().collect();
        (!names.is_empty()).then(|| names[idx % names.len()].clone())
    };
    let records = match op {
        Op::Register(id) => h.register(*id, Some(&rack(*id))).map(|_| vec![]),
        Op::Heartbeat {
            id,
            want_fence,
            want_shutdown,
        } => {
            if !h.epochs.contains_key(id) {
                return Ok(());
            }
            h.heartbeat(*id, *want_fence, *want_shutdown)
                .map(|_| vec![])
        }
        Op::Tick(ms) => {
            h.now_ms += ms;
            Ok(h.controller.tick(&h.image, h.now_ms))
        }
        Op::Create { n, rf, id } => {
            let name = format!("t{}", id % 1000);
            let racks: BTreeSet<_> = h
                .image
                .brokers
                .values()
                .filter(|b| b.is_active())
                .map(|b| b.rack.clone())
                .collect();
            let result = h.create(&name, *id, *n, *rf);
            if result.is_ok() && racks.len() >= *rf as usize {
                for p in h
                    .image
                    .topic(&name)
                    .ok_or("created topic missing")?
                    .partitions
                    .values()
                {
                    let used: BTreeSet<_> = p.replicas.iter().map(|b| rack(*b)).collect();
                    if used.len() != p.replicas.len() {
                        return Err(format!(
                            "replicas {:?} share a rack though {} racks exist",
                            p.replicas,
                            racks.len()
                        ));
                    }
                }
            }
            result.map(|_| vec![])
        }
        Op::Delete(i) => match nth_topic(h, *i) {
            Some(name) => h.controller.delete_topic(&h.image, &name),
            None => return Ok(()),
        },
        Op::AlterIsr { idx, mask } => {
            let Some((topic, partition)) = nth_partition(h, *idx) else {
                return Ok(());
            };
            let p = h.partition(&topic, partition);
            if p.leader == NO_LEADER {
                return Ok(());
            }
            let mut new_isr: Vec<i32> = p
                .replicas
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, b)| *b)
                .collect();
            if !new_isr.contains(&p.leader) {
                new_isr.push(p.leader);
            }
            let req = AlterPartition {
                broker_id: p.leader,
                broker_epoch: h.image.brokers.get(&p.leader).map_or(0, |b| b.broker_epoch),
                topic_id: p.topic_id,
                partition,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr,
            };
            h.controller.alter_partition(&h.image, &req)
        }
        Op::Elect { idx, unclean } => match nth_partition(h, *idx) {
            Some((t, p)) => {
                let kind = if *unclean {
                    ElectionType::Unclean
                } else {
                    ElectionType::Preferred
                };
                h.controller.elect_leader(&h.image, &t, p, kind)
            }
            None => return Ok(()),
        },
        Op::Reassign { idx, mask } => match nth_partition(h, *idx) {
            Some((t, p)) => {
                let target: Vec<i32> = (0..6).filter(|b| mask & (1 << b) != 0).collect();
                h.controller
                    .alter_partition_reassignment(&h.image, &t, p, Some(&target))
            }
            None => return Ok(()),
        },
        Op::Cancel(idx) => match nth_partition(h, *idx) {
            Some((t, p)) => h
                .controller
                .alter_partition_reassignment(&h.image, &t, p, None),
            None => return Ok(()),
        },
        Op::Rebalance => Ok(h.controller.rebalance_leaders(&h.image)),
        Op::SetUnclean(i, on) => match nth_topic(h, *i) {
            Some(name) => {
                let value = Some(on.to_string());
                let key = "unclean.leader.election.enable".to_string();
                h.controller
                    .incremental_alter_configs(
                        &h.image,
                        ConfigResourceType::Topic,
                        &name,
                        &[(key, value)],
                    )
                    .map(|mut r| {
                        let mut staged = Staged::new(&h.image);
                        r.drain(..).for_each(|x| staged.push(x));
                        let elect = h.controller.elect_offline_leaders(&staged.image);
                        staged.records.extend(elect);
                        staged.records
                    })
            }
            None => return Ok(()),
        },
        Op::AddPartitions(i) => match nth_topic(h, *i) {
            Some(name) => {
                let n = h
                    .image
                    .topic(&name)
                    .map_or(0, |t| t.partitions.len() as i32);
                h.controller.create_partitions(&h.image, &name, n + 1, None)
            }
            None => return Ok(()),
        },
    };
    if let Ok(records) = records {
        h.apply(&records);
    }
    Ok(())
}

fn check_invariants(before: &MetadataImage, after: &MetadataImage) -> Result<(), String> {
    for p in after.partitions() {
        let tp = format!("{:x}-{}", p.topic_id, p.partition);
        if p.leader != NO_LEADER && !p.isr.contains(&p.leader) {
            return Err(format!("{tp}: leader {} not in ISR {:?}", p.leader, p.isr));
        }
        if p.leader != NO_LEADER && !after.is_active_broker(p.leader) {
            return Err(format!("{tp}: leader {} is not an active broker", p.leader));
        }
        if let Some(b) = p.isr.iter().find(|b| !p.replicas.contains(b)) {
            return Err(format!(
                "{tp}: ISR member {b} not a replica of {:?}",
                p.replicas
            ));
        }
        let distinct: BTreeSet<_> = p.replicas.iter().collect();
        if distinct.len() != p.replicas.len() || p.replicas.is_empty() {
            return Err(format!("{tp}: bad replica set {:?}", p.replicas));
        }
        if p.adding_replicas
            .iter()
            .chain(&p.removing_replicas)
            .any(|b| !p.replicas.contains(b))
        {
            return Err(format!("{tp}: adding/removing outside replicas {p:?}"));
        }
        if let Some(old) = before.partition(p.topic_id, p.partition) {
            if old != p && p.partition_epoch <= old.partition_epoch {
                return Err(format!(
                    "{tp}: changed without a partition epoch bump: {old:?} -> {p:?}"
                ));
            }
            if old.leader != p.leader && p.leader_epoch <= old.leader_epoch {
                return Err(format!("{tp}: leader changed without a leader epoch bump"));
            }
            if p.leader_epoch < old.leader_epoch || p.partition_epoch < old.partition_epoch {
                return Err(format!("{tp}: epoch went backwards"));
            }
        }
    }
    Ok(())
}

#[test]
fn random_operation_sequences_keep_partition_invariants() {
    let seed: [u8; 32] = match std::env::var("QUORUM_PROPTEST_SEED") {
        Ok(hex) => {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            bytes.try_into().expect("seed must be 32 bytes of hex")
        }
        Err(_) => *b"tidewater-quorum-controller-prop",
    };
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let config = Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let partitions_seen = std::cell::Cell::new(0usize);
    let partition_changes = std::cell::Cell::new(0usize);
    let result = runner.run(&proptest::collection::vec(op(), 1..150), |ops| {
        let mut h = Harness::new(ControllerConfig::default());
        let mut max_partitions = 0;
        let mut changes = 0;
        for (i, op) in ops.iter().enumerate() {
            let before = h.image.clone();
            run(&mut h, op).map_err(|e| TestCaseError::fail(format!("step {i} {op:?}: {e}")))?;
            check_invariants(&before, &h.image)
                .map_err(|e| TestCaseError::fail(format!("after step {i} {op:?}: {e}")))?;
            max_partitions = max_partitions.max(h.image.partitions().count());
            if before.topics_by_id != h.image.topics_by_id {
                changes += 1;
            }
        }
        partitions_seen.set(partitions_seen.get() + max_partitions);
        partition_changes.set(partition_changes.get() + changes);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nreplay with QUORUM_PROPTEST_SEED={hex}");
    }
    // The generator must reach interesting states, or the test proves nothing.
    let (seen, changes) = (partitions_seen.get(), partition_changes.get());
    println!("partitions created: {seen}, topic/partition changes: {changes}");
    assert!(seen > 400, "too few partitions were ever created: {seen}");
    assert!(
        changes > 1000,
        "too few partition changes were exercised: {changes}"
    );
}
