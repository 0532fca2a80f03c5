//! Rack-parallel rolls (`spec.rollout.parallelRacks`, issue 11 item 6): a rack's brokers
//! restart together only when every partition keeps `min.insync.replicas` in-sync
//! replicas in the other racks; otherwise one at a time, and the plan says why.

use super::tests::restarts;
use super::*;
use crate::observed::PartitionView;
use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
use crate::render::parse_cluster;
use crate::validate::validate;

/// 6 brokers over racks a, b, c (broker i in rack i mod 3) and 3 dedicated controllers.
fn racked(parallel: bool) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 6\n  controllers: 3\n  rack:\n    zones: [a, b, c]\n  rollout:\n    parallelRacks: {parallel}\n"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn partition(p: i32, replicas: &[i32], min_insync: i32) -> PartitionView {
    PartitionView {
        topic: "t".into(),
        partition: p,
        leader: replicas[0],
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        min_insync,
    }
}

/// Every node ready; brokers on revision `old` (stale), controllers on `new`.
fn observed(c: &ValidatedCluster, partitions: Vec<PartitionView>) -> Observed {
    Observed {
        nodes: c
            .nodes
            .iter()
            .map(|n| {
                let rev = if n.role == Role::Controller {
                    "new"
                } else {
                    "old"
                };
                (
                    n.id,
                    ObservedNode {
                        name: format!("n{}", n.id),
                        revision: Some(rev.into()),
                        ready: true,
                        ..ObservedNode::default()
                    },
                )
            })
            .collect(),
        admin: Some(Ok(AdminSnapshot {
            registered: c.brokers().map(|n| n.id).collect(),
            partitions,
            ..AdminSnapshot::default()
        })),
    }
}

fn desired(c: &ValidatedCluster) -> BTreeMap<i32, String> {
    c.nodes.iter().map(|n| (n.id, "new".to_owned())).collect()
}

/// RF 3 with one replica per rack: any one rack can go.
fn rack_spread() -> Vec<PartitionView> {
    vec![
        partition(0, &[0, 1, 2], 2),
        partition(1, &[3, 4, 5], 2),
        partition(2, &[1, 5, 3], 2),
    ]
}

#[test]
fn a_whole_rack_restarts_together_when_every_partition_keeps_min_isr_elsewhere() {
    let c = racked(true);
    let obs = observed(&c, rack_spread());
    let p = plan(&c, &desired(&c), &obs);
    assert_eq!(restarts(&p), [0, 3], "rack a's brokers together");
    let (reason, note) = p.roll_note.clone().unwrap();
    assert_eq!(reason, "RackRoll");
    assert!(note.contains("rack a") && note.contains("0, 3"), "{note}");
    assert!(p.events(&obs).iter().any(|(r, _)| *r == "RackRoll"));
}

#[test]
fn a_partition_with_two_replicas_in_the_rack_falls_back_to_one_at_a_time() {
    let c = racked(true);
    let mut parts = rack_spread();
    // Replicas 0 and 3 are both in rack a: with the rack down only 1 stays in sync.
    parts.push(partition(3, &[0, 3, 1], 2));
    let obs = observed(&c, parts);
    let p = plan(&c, &desired(&c), &obs);
    assert_eq!(restarts(&p), [0], "one node at a time");
    let (reason, note) = p.roll_note.clone().unwrap();
    assert_eq!(reason, "OneAtATime");
    assert!(note.contains("t-3"), "names the partition: {note}");
    assert!(note.contains("min.insync.replicas"), "{note}");
    assert!(
        p.events(&obs)
            .iter()
            .any(|(r, n)| *r == "OneAtATime" && n == &note)
    );
}

#[test]
fn without_the_opt_in_brokers_roll_one_at_a_time() {
    let c = racked(false);
    let obs = observed(&c, rack_spread());
    let p = plan(&c, &desired(&c), &obs);
    assert_eq!(restarts(&p), [0]);
    assert_eq!(p.roll_note, None);
}

#[test]
fn a_rack_waits_for_the_rest_of_the_cluster_and_never_rolls_blind() {
    let c = racked(true);
    // Broker 4 (rack b) not ready: rack a waits.
    let mut obs = observed(&c, rack_spread());
    obs.nodes.get_mut(&4).unwrap().revision = Some("new".into());
    obs.nodes.get_mut(&4).unwrap().ready = false;
    let p = plan(&c, &desired(&c), &obs);
    assert!(restarts(&p).is_empty(), "{p:?}");
    assert!(p.blocked.is_some());
    // Unreadable metadata: nothing restarts.
    let mut obs = observed(&c, rack_spread());
    obs.admin = Some(Err(AdminError::Unreachable("connection refused".into())));
    let p = plan(&c, &desired(&c), &obs);
    assert!(restarts(&p).is_empty());
    assert_eq!(p.blocked.as_ref().map(|b| b.0), Some("RollBlocked"));
}

#[test]
fn controllers_restart_alone_before_any_rack() {
    let c = racked(true);
    let mut obs = observed(&c, rack_spread());
    for n in obs.nodes.values_mut() {
        n.revision = Some("old".into());
    }
    let p = plan(&c, &desired(&c), &obs);
    assert_eq!(restarts(&p), [1000]);
    assert_eq!(p.roll_note, None);
}

#[test]
fn dynamic_config_changes_alter_the_cluster_default_without_a_restart() {
    let text = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 3\n  config:\n    log.retention.ms: \"60000\"\n";
    let c = validate(&parse_cluster(text).unwrap()).unwrap();
    let mut obs = observed(&c, vec![partition(0, &[0, 1, 2], 2)]);
    for n in obs.nodes.values_mut() {
        n.revision = Some("new".into());
    }
    if let Some(Ok(s)) = obs.admin.as_mut() {
        s.cluster_configs = Some(BTreeMap::new());
    }
    let p = plan(&c, &desired(&c), &obs);
    assert!(restarts(&p).is_empty());
    assert_eq!(
        p.admin_ops,
        [AdminOp::AlterClusterConfigs(vec![(
            "log.retention.ms".into(),
            Some("60000".into())
        )])]
    );
    assert!(p.events(&obs).iter().any(|(r, _)| *r == "ConfigApplied"));
    // Not read: nothing altered.
    if let Some(Ok(s)) = obs.admin.as_mut() {
        s.cluster_configs = None;
    }
    assert!(plan(&c, &desired(&c), &obs).admin_ops.is_empty());
}
