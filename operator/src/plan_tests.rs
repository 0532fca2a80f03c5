use super::*;
use crate::observed::PartitionView;
use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
use crate::render::parse_cluster;
use crate::validate::validate;

fn valid(brokers: i32) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: {brokers}\n"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn revs(ids: &[i32], rev: &str) -> BTreeMap<i32, String> {
    ids.iter().map(|i| (*i, rev.to_owned())).collect()
}

fn node(rev: &str, ready: bool) -> ObservedNode {
    ObservedNode {
        name: "p".into(),
        revision: Some(rev.into()),
        version: None,
        ready,
        problem: None,
    }
}

/// Nodes as given, and Kafka metadata of a healthy cluster: every ready node
/// registered, one RF 3 partition per broker with a full ISR, preferred leaders in place.
fn observed(nodes: &[(i32, &str, bool)]) -> Observed {
    let ready: Vec<i32> = nodes.iter().filter(|n| n.2).map(|n| n.0).collect();
    let partitions = ready
        .iter()
        .map(|&leader| PartitionView {
            topic: "t".into(),
            partition: leader,
            leader,
            replicas: vec![leader],
            isr: vec![leader],
            min_insync: 1,
        })
        .collect();
    Observed {
        nodes: nodes.iter().map(|(i, r, ok)| (*i, node(r, *ok))).collect(),
        admin: Some(Ok(AdminSnapshot {
            registered: ready.iter().copied().collect(),
            partitions,
            ..AdminSnapshot::default()
        })),
    }
}

/// The nodes `p` restarts, in order (shared with `rack_tests`).
pub(super) fn restarts(p: &Plan) -> Vec<i32> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Restart(n) => Some(n.id),
            _ => None,
        })
        .collect()
}

#[test]
fn creates_every_missing_node_at_once() {
    let c = valid(3);
    let obs = Observed::default();
    let p = plan(&c, &revs(&[0, 1, 2], "r1"), &obs);
    assert_eq!(p.actions.len(), 3);
    assert!(p.changes(&obs));
    let events = p.events(&obs);
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[1],
        (
            "NodeCreated",
            "created node 1 (broker,controller)".to_owned()
        )
    );
    assert!(restarts(&p).is_empty());
}

#[test]
fn steady_state_changes_nothing() {
    let c = valid(3);
    let obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    let p = plan(&c, &revs(&[0, 1, 2], "r1"), &obs);
    assert!(!p.changes(&obs));
    assert_eq!(p.blocked, None);
}

#[test]
fn rolls_one_node_at_a_time_only_when_others_are_ready() {
    let c = valid(3);
    let all_ready = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    let p = plan(&c, &revs(&[0, 1, 2], "r2"), &all_ready);
    assert_eq!(restarts(&p), [0]);
    // Node 0 restarted and is not ready yet: node 1 must wait.
    let rolling = observed(&[(0, "r2", false), (1, "r1", true), (2, "r1", true)]);
    let p = plan(&c, &revs(&[0, 1, 2], "r2"), &rolling);
    assert!(restarts(&p).is_empty());
    let (reason, why) = p.blocked.unwrap();
    assert_eq!(reason, "Rolling", "waiting is not a block");
    assert!(why.contains("node 1") && why.contains("node 0"), "{why}");
    let next = observed(&[(0, "r2", true), (1, "r1", true), (2, "r1", true)]);
    assert_eq!(restarts(&plan(&c, &revs(&[0, 1, 2], "r2"), &next)), [1]);
}

#[test]
fn a_stale_node_that_is_down_anyway_goes_first() {
    let c = valid(3);
    let obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", false)]);
    assert_eq!(restarts(&plan(&c, &revs(&[0, 1, 2], "r2"), &obs)), [2]);
}

#[test]
fn active_controller_rolls_last() {
    let c = valid(3);
    let mut obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    if let Some(Ok(s)) = obs.admin.as_mut() {
        s.controller = Some(0);
    }
    assert_eq!(restarts(&plan(&c, &revs(&[0, 1, 2], "r2"), &obs)), [1]);
    let last = observed(&[(0, "r1", true), (1, "r2", true), (2, "r2", true)]);
    assert_eq!(restarts(&plan(&c, &revs(&[0, 1, 2], "r2"), &last)), [0]);
}

#[test]
fn dedicated_controllers_roll_first_the_active_one_last_among_them() {
    let text = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 3\n  controllers: 3\n";
    let c = validate(&parse_cluster(text).unwrap()).unwrap();
    let ids = [0, 1, 2, 1000, 1001, 1002];
    let mut order = Vec::new();
    let mut rev: BTreeMap<i32, &str> = ids.iter().map(|i| (*i, "r1")).collect();
    for _ in 0..ids.len() {
        let nodes: Vec<(i32, &str, bool)> = rev.iter().map(|(i, r)| (*i, *r, true)).collect();
        let mut obs = observed(&nodes);
        if let Some(Ok(s)) = obs.admin.as_mut() {
            s.controller = Some(1000);
        }
        let next = restarts(&plan(&c, &revs(&ids, "r2"), &obs));
        assert_eq!(next.len(), 1);
        rev.insert(next[0], "r2");
        order.push(next[0]);
    }
    assert_eq!(order, [1001, 1002, 1000, 0, 1, 2]);
}

#[test]
fn no_restart_while_kafka_metadata_cannot_be_read() {
    let c = valid(3);
    let mut obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    obs.admin = Some(Err(AdminError::Unreachable("connection refused".into())));
    let p = plan(&c, &revs(&[0, 1, 2], "r2"), &obs);
    assert!(restarts(&p).is_empty());
    let (reason, why) = p.blocked.unwrap();
    assert_eq!(reason, "RollBlocked");
    assert!(why.contains("connection refused"), "{why}");
    obs.admin = None;
    assert!(restarts(&plan(&c, &revs(&[0, 1, 2], "r2"), &obs)).is_empty());
}

#[test]
fn a_refused_upgrade_restarts_nothing_and_a_finalize_is_an_admin_op() {
    let c = valid(3);
    let obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    let refuse = Decision {
        refuse: Some(("DowngradeBlocked", "no".into())),
        ..Decision::default()
    };
    let p = plan_with(&c, &revs(&[0, 1, 2], "r2"), &obs, &refuse);
    assert!(restarts(&p).is_empty());
    assert_eq!(p.degraded, Some(("DowngradeBlocked", "no".to_owned())));
    let finalize = Decision {
        finalize: Some(25),
        ..Decision::default()
    };
    let p = plan_with(&c, &revs(&[0, 1, 2], "r1"), &obs, &finalize);
    assert_eq!(p.admin_ops, [AdminOp::FinalizeMetadataVersion(25)]);
}

#[test]
fn preferred_leaders_are_restored_before_the_next_restart() {
    let c = valid(3);
    let mut obs = observed(&[(0, "r2", true), (1, "r1", true), (2, "r1", true)]);
    if let Some(Ok(s)) = obs.admin.as_mut() {
        s.partitions = vec![PartitionView {
            topic: "t".into(),
            partition: 0,
            leader: 1,
            replicas: vec![0, 1, 2],
            isr: vec![0, 1, 2],
            min_insync: 2,
        }];
    }
    let p = plan(&c, &revs(&[0, 1, 2], "r2"), &obs);
    assert!(restarts(&p).is_empty());
    assert_eq!(p.admin_ops, [AdminOp::ElectPreferredLeaders]);
}

fn removed(p: &Plan) -> Vec<i32> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// Five ready nodes on revision r1 (a 3-broker spec scales in from these).
fn five() -> Vec<(i32, &'static str, bool)> {
    (0..5).map(|i| (i, "r1", true)).collect()
}

fn hosting(replicas: &[(i32, usize)]) -> Option<Result<AdminSnapshot, AdminError>> {
    Some(Ok(AdminSnapshot {
        hosted_replicas: replicas.iter().copied().collect(),
        ..AdminSnapshot::default()
    }))
}

#[test]
fn scale_down_removes_empty_brokers_highest_ids_first() {
    let c = valid(3);
    let mut obs = observed(&five());
    obs.admin = hosting(&[(0, 6)]);
    let p = plan(&c, &revs(&[0, 1, 2], "r1"), &obs);
    assert_eq!(removed(&p), [4, 3]);
    assert!(p.actions.iter().all(|a| !matches!(
        a,
        Action::Remove {
            delete_storage: true,
            ..
        }
    )));
    assert!(p.changes(&obs));
}

#[test]
fn scale_down_never_drops_partition_replicas() {
    let c = valid(3);
    let mut obs = observed(&five());
    obs.admin = hosting(&[(0, 6), (4, 3)]);
    let p = plan(&c, &revs(&[0, 1, 2], "r1"), &obs);
    assert_eq!(removed(&p), [3]);
    let (reason, why) = p.blocked.unwrap();
    assert_eq!(reason, "ScaleDownBlocked");
    assert!(
        why.contains("node 4 still hosts 3 partition replicas"),
        "{why}"
    );
    // Without Kafka metadata a ready broker is kept; one that never came up is not.
    let mut nodes = five();
    nodes[3].2 = false;
    let mut obs = observed(&nodes);
    obs.admin = Some(Err(AdminError::Unreachable("refused".into())));
    let p = plan(&c, &revs(&[0, 1, 2], "r1"), &obs);
    assert_eq!(removed(&p), [3]);
    assert_eq!(p.blocked.unwrap().0, "ScaleDownBlocked");
}

fn with_controllers(brokers: i32, controllers: i32) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: {brokers}\n  controllers: {controllers}\n"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn quorum(obs: &mut Observed, voters: &[i32]) {
    if let Some(Ok(a)) = obs.admin.as_mut() {
        a.voters = voters.iter().copied().collect();
    }
}

fn refused(p: &Plan) -> String {
    assert!(
        p.actions.is_empty(),
        "a refused spec changes nothing: {p:?}"
    );
    assert!(p.admin_ops.is_empty(), "{p:?}");
    let (reason, message) = p.degraded.clone().expect("refused");
    assert_eq!(reason, VOTER_CHANGE_BLOCKED);
    message
}

#[test]
fn voter_set_changes_are_refused_with_nothing_changed() {
    // Combined 1 -> 3 brokers: the quorum has one voter, the spec three.
    let mut obs = observed(&[(0, "r1", true)]);
    quorum(&mut obs, &[0]);
    let m = refused(&plan(&valid(3), &revs(&[0, 1, 2], "r1"), &obs));
    assert!(
        m.contains("voters [0, 1, 2]") && m.contains("voters are [0]"),
        "{m}"
    );
    assert!(m.contains("KIP-853"), "{m}");
    // Combined 3 -> 2: three voters -> one.
    let mut obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    quorum(&mut obs, &[0, 1, 2]);
    refused(&plan(&valid(2), &revs(&[0, 1], "r1"), &obs));
    // spec.controllers 3 -> 5, and combined -> dedicated.
    let mut nodes: Vec<(i32, &str, bool)> = (0..3).map(|i| (i, "r1", true)).collect();
    nodes.extend((1000..1003).map(|i| (i, "r1", true)));
    let mut obs = observed(&nodes);
    quorum(&mut obs, &[1000, 1001, 1002]);
    refused(&plan(&with_controllers(3, 5), &BTreeMap::new(), &obs));
    let mut obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    quorum(&mut obs, &[0, 1, 2]);
    refused(&plan(&with_controllers(3, 3), &BTreeMap::new(), &obs));
    // Brokers scale freely while the voters stay: 3 -> 5 combined, and with controllers.
    let mut obs = observed(&[(0, "r1", true), (1, "r1", true), (2, "r1", true)]);
    quorum(&mut obs, &[0, 1, 2]);
    let p = plan(&valid(5), &revs(&[0, 1, 2, 3, 4], "r1"), &obs);
    assert_eq!(p.degraded, None);
    assert_eq!(p.actions.len(), 5);
    let mut obs = observed(&nodes);
    quorum(&mut obs, &[1000, 1001, 1002]);
    let c = with_controllers(5, 3);
    let ids: Vec<i32> = c.nodes.iter().map(|n| n.id).collect();
    assert_eq!(plan(&c, &revs(&ids, "r1"), &obs).degraded, None);
}

#[test]
fn an_unread_quorum_refuses_only_what_cannot_be_a_recovery() {
    let down = |nodes: &[(i32, &str, bool)]| {
        let mut obs = observed(nodes);
        obs.admin = Some(Err(AdminError::Unreachable("unreachable".into())));
        obs
    };
    // Three combined nodes under a one-voter spec; a controller the spec dropped;
    // controllers under a combined spec.
    let obs = down(&[(0, "r1", false), (1, "r1", false), (2, "r1", false)]);
    refused(&plan(&valid(1), &revs(&[0], "r1"), &obs));
    let ctl = [
        (0, "r1", false),
        (1000, "r1", false),
        (1001, "r1", false),
        (1002, "r1", false),
    ];
    refused(&plan(
        &with_controllers(1, 1),
        &BTreeMap::new(),
        &down(&ctl),
    ));
    refused(&plan(&valid(1), &revs(&[0], "r1"), &down(&ctl)));
    // Fewer nodes than the spec's voters may be a quorum recovering: created as usual.
    let obs = down(&[(0, "r1", false)]);
    let p = plan(&valid(3), &revs(&[0, 1, 2], "r1"), &obs);
    assert_eq!(p.degraded, None);
    assert_eq!(p.actions.len(), 3);
    let p = plan(&with_controllers(1, 3), &BTreeMap::new(), &down(&ctl[..2]));
    assert_eq!(p.degraded, None);
    // A new cluster: nothing observed, nothing to compare.
    assert_eq!(voter_change(&valid(3), &Observed::default()), None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    /// Seeded so a failure replays: the seed is printed with the failing case.
    const SEED: [u8; 32] = *b"tidewater-operator-plan-seed-001";

    #[test]
    fn never_restarts_more_than_one_node_nor_while_another_is_down() {
        let strategy = (
            1i32..8,
            proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 8),
        );
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 512,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &SEED),
        );
        let result = runner.run(&strategy, |(brokers, states)| {
            let c = valid(brokers);
            let mut obs = Observed::default();
            for (id, (exists, stale, ready)) in (0..brokers).zip(states.iter()) {
                if *exists {
                    obs.nodes
                        .insert(id, node(if *stale { "old" } else { "new" }, *ready));
                }
            }
            let ids: Vec<i32> = (0..brokers).collect();
            let p = plan(&c, &revs(&ids, "new"), &obs);
            let restarted = restarts(&p);
            prop_assert!(restarted.len() <= 1);
            if let Some(id) = restarted.first() {
                prop_assert!(
                    obs.nodes
                        .get(id)
                        .is_some_and(|n| n.revision.as_deref() == Some("old"))
                );
                prop_assert!(ids.iter().all(|i| obs.nodes.contains_key(i)));
                prop_assert!(
                    obs.nodes
                        .iter()
                        .filter(|(i, _)| *i != id)
                        .all(|(_, n)| n.ready)
                );
            }
            // Every desired node is ensured exactly once.
            let ensured = p
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Ensure(_)))
                .count();
            prop_assert_eq!(ensured, ids.len());
            Ok(())
        });
        if let Err(e) = result {
            panic!("seed {SEED:?}: {e}");
        }
    }
}
