//! AlterPartition, elections, auto rebalance, reassignments and feature updates.

use super::*;
use crate::records::{ConfigResourceType, NO_LEADER};

fn setup() -> Harness {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3, 4], |_| None);
    h.create_assigned("t", 5, &[&[1, 2, 3]]).unwrap();
    h
}

fn alter(h: &Harness, broker: i32, new_isr: &[i32]) -> AlterPartition {
    let p = h.partition("t", 0);
    AlterPartition {
        broker_id: broker,
        broker_epoch: h.epochs[&broker],
        topic_id: 5,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: new_isr.to_vec(),
    }
}

fn shrink_isr(h: &mut Harness, new_isr: &[i32]) {
    let leader = h.partition("t", 0).leader;
    let records = h
        .controller
        .alter_partition(&h.image, &alter(h, leader, new_isr))
        .unwrap();
    h.apply(&records);
}

#[test]
fn alter_partition_shrinks_and_grows_isr() {
    let mut h = setup();
    shrink_isr(&mut h, &[1, 2]);
    let p = h.partition("t", 0);
    assert_eq!(
        (p.isr.clone(), p.leader_epoch, p.partition_epoch),
        (vec![1, 2], 0, 1)
    );
    shrink_isr(&mut h, &[1, 2, 3]);
    assert_eq!(h.partition("t", 0).partition_epoch, 2);
}

#[test]
fn alter_partition_refusals_match_kafka() {
    let mut h = setup();
    let code = |h: &Harness, req: &AlterPartition| {
        h.controller
            .alter_partition(&h.image, req)
            .unwrap_err()
            .error_code()
    };
    let ok = alter(&h, 1, &[1, 2]);
    assert_eq!(
        code(
            &h,
            &AlterPartition {
                broker_epoch: 0,
                ..ok.clone()
            }
        ),
        77
    );
    assert_eq!(
        code(
            &h,
            &AlterPartition {
                topic_id: 6,
                ..ok.clone()
            }
        ),
        100
    );
    assert_eq!(
        code(
            &h,
            &AlterPartition {
                partition: 3,
                ..ok.clone()
            }
        ),
        3
    );
    assert_eq!(
        code(
            &h,
            &AlterPartition {
                partition_epoch: 9,
                ..ok.clone()
            }
        ),
        95
    );
    assert_eq!(
        code(
            &h,
            &AlterPartition {
                leader_epoch: 1,
                ..ok.clone()
            }
        ),
        41
    );
    assert_eq!(code(&h, &alter(&h, 2, &[1, 2])), 42, "not the leader");
    assert_eq!(code(&h, &alter(&h, 1, &[2, 3])), 42, "ISR without leader");
    assert_eq!(code(&h, &alter(&h, 1, &[1, 4])), 107, "not a replica");
    h.heartbeat(3, true, false).unwrap();
    assert_eq!(code(&h, &alter(&h, 1, &[1, 2, 3])), 107, "fenced replica");
    // A leader change fences the old leader epoch.
    let stale = alter(&h, 1, &[1]);
    let records = h
        .controller
        .elect_leader(&h.image, "t", 0, ElectionType::Preferred);
    assert_eq!(records.unwrap_err().error_code(), 84);
    h.heartbeat(1, true, false).unwrap();
    assert_eq!(h.partition("t", 0).leader, 2);
    h.heartbeat(1, false, false).unwrap();
    let stale = AlterPartition {
        broker_id: 2,
        broker_epoch: h.epochs[&2],
        ..stale
    };
    assert_eq!(code(&h, &stale), 74);
}

#[test]
fn preferred_election_and_auto_rebalance_restore_first_replica() {
    let mut h = setup();
    h.heartbeat(1, true, false).unwrap();
    assert_eq!(h.partition("t", 0).leader, 2);
    // Preferred replica is fenced: not available.
    let err = h
        .controller
        .elect_leader(&h.image, "t", 0, ElectionType::Preferred)
        .unwrap_err();
    assert_eq!(err.error_code(), 80);
    h.heartbeat(1, false, false).unwrap();
    // Back, but not in the ISR until the leader adds it.
    assert_eq!(
        h.controller
            .elect_leader(&h.image, "t", 0, ElectionType::Preferred)
            .unwrap_err()
            .error_code(),
        80
    );
    shrink_isr(&mut h, &[2, 3, 1]);
    let disabled = Controller::new(ControllerConfig {
        auto_leader_rebalance_enable: false,
        ..ControllerConfig::default()
    });
    assert!(disabled.rebalance_leaders(&h.image).is_empty());
    let records = h.controller.rebalance_leaders(&h.image);
    assert_eq!(records.len(), 1);
    let mut manual = setup_from(&h);
    h.apply(&records);
    assert_eq!(h.partition("t", 0).leader, 1);
    assert!(h.controller.rebalance_leaders(&h.image).is_empty());
    let records = manual
        .controller
        .elect_leader(&manual.image, "t", 0, ElectionType::Preferred)
        .unwrap();
    manual.apply(&records);
    assert_eq!(manual.partition("t", 0), h.partition("t", 0));
    assert_eq!(
        h.controller
            .elect_leader(&h.image, "x", 0, ElectionType::Preferred)
            .unwrap_err()
            .error_code(),
        3
    );
}

fn setup_from(h: &Harness) -> Harness {
    Harness {
        image: h.image.clone(),
        controller: h.controller.clone(),
        now_ms: h.now_ms,
        epochs: h.epochs.clone(),
    }
}

#[test]
fn unclean_election_on_request_and_by_dynamic_config() {
    let mut h = setup();
    shrink_isr(&mut h, &[1]);
    h.heartbeat(1, true, false).unwrap();
    let p = h.partition("t", 0);
    assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![1]));
    assert_eq!(
        h.controller
            .elect_leader(&h.image, "t", 0, ElectionType::Preferred)
            .unwrap_err()
            .error_code(),
        80
    );
    let mut by_config = setup_from(&h);
    let records = h
        .controller
        .elect_leader(&h.image, "t", 0, ElectionType::Unclean)
        .unwrap();
    h.apply(&records);
    let p = h.partition("t", 0);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(
        h.controller
            .elect_leader(&h.image, "t", 0, ElectionType::Unclean)
            .unwrap_err()
            .error_code(),
        84
    );
    // Cluster-wide dynamic default turns it on for offline partitions.
    let records = by_config
        .controller
        .incremental_alter_configs(
            &by_config.image,
            ConfigResourceType::Broker,
            "",
            &[("unclean.leader.election.enable".into(), Some("true".into()))],
        )
        .unwrap();
    by_config.apply(&records);
    let records = by_config.controller.elect_offline_leaders(&by_config.image);
    by_config.apply(&records);
    assert_eq!(by_config.partition("t", 0).leader, 2);
}

#[test]
fn unclean_election_without_live_replicas_fails() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1], |_| None);
    h.create_assigned("t", 5, &[&[1]]).unwrap();
    h.heartbeat(1, true, false).unwrap();
    let err = h
        .controller
        .elect_leader(&h.image, "t", 0, ElectionType::Unclean)
        .unwrap_err();
    assert_eq!(err.error_code(), 83);
}

#[test]
fn reassignment_adds_then_completes_when_targets_join_isr() {
    let mut h = setup();
    let records = h
        .controller
        .alter_partition_reassignment(&h.image, "t", 0, Some(&[4, 2, 3]))
        .unwrap();
    h.apply(&records);
    let p = h.partition("t", 0);
    assert_eq!(p.replicas, vec![4, 2, 3, 1]);
    assert_eq!(
        (p.adding_replicas.clone(), p.removing_replicas.clone()),
        (vec![4], vec![1])
    );
    let listed = list_partition_reassignments(&h.image);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].topic.as_str(), listed[0].adding_replicas.clone()),
        ("t", vec![4])
    );
    // The leader (1, being removed) adds 4 to the ISR: the move completes, 1 steps down
    // and the first target replica in the ISR leads, as in KRaft.
    shrink_isr(&mut h, &[1, 2, 3, 4]);
    let p = h.partition("t", 0);
    assert_eq!(p.replicas, vec![4, 2, 3]);
    assert_eq!(p.isr, vec![2, 3, 4]);
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    assert_eq!((p.leader, p.leader_epoch), (4, 1));
    assert!(list_partition_reassignments(&h.image).is_empty());
}

#[test]
fn reassignment_cancel_reverts_and_pure_removal_completes_at_once() {
    let mut h = setup();
    let c = &h.controller;
    assert_eq!(
        c.alter_partition_reassignment(&h.image, "t", 0, None)
            .unwrap_err()
            .error_code(),
        85
    );
    assert_eq!(
        c.alter_partition_reassignment(&h.image, "t", 0, Some(&[1, 9]))
            .unwrap_err()
            .error_code(),
        39
    );
    assert_eq!(
        c.alter_partition_reassignment(&h.image, "t", 0, Some(&[]))
            .unwrap_err()
            .error_code(),
        39
    );
    assert_eq!(
        c.alter_partition_reassignment(&h.image, "t", 9, Some(&[1]))
            .unwrap_err()
            .error_code(),
        3
    );
    let before = h.partition("t", 0);
    let records = c
        .alter_partition_reassignment(&h.image, "t", 0, Some(&[4, 1, 2]))
        .unwrap();
    h.apply(&records);
    let records = h
        .controller
        .alter_partition_reassignment(&h.image, "t", 0, None)
        .unwrap();
    h.apply(&records);
    let p = h.partition("t", 0);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (before.replicas, before.isr, 1)
    );
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    // Removing a replica without adding one completes immediately.
    let records = h
        .controller
        .alter_partition_reassignment(&h.image, "t", 0, Some(&[2, 3]))
        .unwrap();
    h.apply(&records);
    let p = h.partition("t", 0);
    assert_eq!((p.replicas, p.isr, p.leader), (vec![2, 3], vec![2, 3], 2));
}

#[test]
fn bootstrap_finalizes_metadata_version_once() {
    let mut h = Harness::new(ControllerConfig {
        bootstrap_metadata_version: 14,
        ..ControllerConfig::default()
    });
    let records = h.controller.bootstrap_features(&h.image).unwrap();
    h.apply(&records);
    assert_eq!(h.image.feature_level(METADATA_VERSION), 14);
    assert!(
        h.controller
            .bootstrap_features(&h.image)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bootstrap_finalizes_the_formatted_features_with_metadata_version() {
    let mut supported = ControllerConfig::default().supported_features;
    supported.insert("transaction.version".into(), (0, 2));
    let mut h = Harness::new(ControllerConfig {
        bootstrap_metadata_version: 14,
        bootstrap_features: BTreeMap::from([("transaction.version".to_string(), 2)]),
        supported_features: supported.clone(),
        ..ControllerConfig::default()
    });
    let records = h.controller.bootstrap_features(&h.image).unwrap();
    h.apply(&records);
    assert_eq!(h.image.feature_level(METADATA_VERSION), 14);
    assert_eq!(h.image.feature_level("transaction.version"), 2);
    // A level this controller does not support fails the bootstrap, as Kafka's format
    // refuses it.
    let h = Harness::new(ControllerConfig {
        bootstrap_features: BTreeMap::from([("transaction.version".to_string(), 3)]),
        supported_features: supported,
        ..ControllerConfig::default()
    });
    assert!(h.controller.bootstrap_features(&h.image).is_err());
}

#[test]
fn kraft_version_is_finalized_at_dynamic_without_a_record() {
    let h = setup();
    let update = |level: u16, upgrade_type: UpgradeType| FeatureUpdate {
        feature: KRAFT_VERSION.into(),
        max_version_level: level,
        upgrade_type,
    };
    // What `kafka-features upgrade --release-version` sends along: nothing to write.
    let records = h
        .controller
        .update_features(&h.image, &[update(1, UpgradeType::Upgrade)])
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
    for (u, why) in [
        (update(0, UpgradeType::SafeDowngrade), "Can't downgrade"),
        (update(0, UpgradeType::UnsafeDowngrade), "Can't downgrade"),
        (
            update(2, UpgradeType::Upgrade),
            "only supports versions 0-1",
        ),
    ] {
        let err = h.controller.update_features(&h.image, &[u]).unwrap_err();
        assert_eq!(err.error_code(), 95, "{err}");
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn feature_updates_check_brokers_and_downgrades() {
    let mut h = setup();
    let update = |level: u16, upgrade_type: UpgradeType| FeatureUpdate {
        feature: METADATA_VERSION.into(),
        max_version_level: level,
        upgrade_type,
    };
    let records = h
        .controller
        .update_features(&h.image, &[update(19, UpgradeType::Upgrade)])
        .unwrap();
    h.apply(&records);
    assert_eq!(h.image.feature_level(METADATA_VERSION), 19);
    let code = |h: &Harness, u: FeatureUpdate| {
        h.controller
            .update_features(&h.image, &[u])
            .unwrap_err()
            .error_code()
    };
    assert_eq!(
        code(&h, update(22, UpgradeType::Upgrade)),
        95,
        "beyond every range"
    );
    assert_eq!(
        code(&h, update(18, UpgradeType::Upgrade)),
        95,
        "downgrade needs a type"
    );
    assert_eq!(
        code(&h, update(16, UpgradeType::SafeDowngrade)),
        95,
        "level 17 changed metadata"
    );
    assert_eq!(code(&h, update(18, UpgradeType::UnsafeDowngrade)), 95);
    assert_eq!(code(&h, update(0, UpgradeType::SafeDowngrade)), 95);
    let records = h
        .controller
        .update_features(&h.image, &[update(18, UpgradeType::SafeDowngrade)])
        .unwrap();
    h.apply(&records);
    assert_eq!(h.image.feature_level(METADATA_VERSION), 18);
    assert!(
        h.controller
            .update_features(&h.image, &[update(18, UpgradeType::Upgrade)])
            .unwrap()
            .is_empty()
    );
    // A registered broker with a narrower range blocks the upgrade.
    let narrow = BrokerRegistrationRequest {
        broker_id: 9,
        incarnation_id: 9,
        rack: None,
        listeners: vec![],
        features: std::collections::BTreeMap::from([(METADATA_VERSION.to_string(), (1, 18))]),
    };
    let decision = h
        .controller
        .register_broker(&h.image, &narrow, h.now_ms)
        .unwrap();
    h.apply(&decision.records);
    let err = h
        .controller
        .update_features(&h.image, &[update(19, UpgradeType::Upgrade)])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Broker 9 only supports versions 1-18"),
        "{err}"
    );
}
