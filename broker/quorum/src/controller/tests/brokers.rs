//! Broker registration, heartbeats, session fencing, controlled shutdown, unregistration.

use std::collections::BTreeMap;

use super::*;
use crate::records::{ConfigResourceType, NO_LEADER};

fn no_rack(_: i32) -> Option<String> {
    None
}

#[test]
fn registration_refuses_broker_without_finalized_metadata_version() {
    let mut h = Harness::new(ControllerConfig::default());
    h.apply(&[MetadataRecord::FeatureLevel {
        name: METADATA_VERSION.into(),
        level: 19,
    }]);
    let req = BrokerRegistrationRequest {
        broker_id: 1,
        incarnation_id: 1,
        rack: None,
        listeners: vec![],
        features: BTreeMap::from([(METADATA_VERSION.to_string(), (1, 14))]),
    };
    let err = h.controller.register_broker(&h.image, &req, 0).unwrap_err();
    assert_eq!(err.error_code(), 35);
    assert!(
        err.to_string()
            .contains("finalized version 19 of metadata.version"),
        "{err}"
    );
    assert!(err.to_string().contains("between 1 and 14"), "{err}");
    // A broker that supports the level registers, fenced, with a fresh epoch.
    let epoch = h.register(1, None).unwrap();
    assert!(epoch > 0);
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn registration_epochs_grow_and_live_duplicates_are_refused() {
    let mut h = Harness::new(ControllerConfig::default());
    let e1 = h.register(1, None).unwrap();
    h.heartbeat(1, false, false).unwrap();
    let e1b = h.register(1, None).unwrap();
    assert!(e1b > e1);
    h.heartbeat(1, false, false).unwrap();
    let other = BrokerRegistrationRequest {
        broker_id: 1,
        incarnation_id: 999,
        rack: None,
        listeners: vec![],
        features: BTreeMap::from([(METADATA_VERSION.to_string(), (1, 21))]),
    };
    let err = h
        .controller
        .register_broker(&h.image, &other, h.now_ms)
        .unwrap_err();
    assert_eq!(err.error_code(), 101);
    // Once the old incarnation's session expired, the new one may take the id.
    h.now_ms += 10_000;
    assert!(
        h.controller
            .register_broker(&h.image, &other, h.now_ms)
            .is_ok()
    );
}

#[test]
fn heartbeat_checks_registration_and_epoch_then_unfences() {
    let mut h = Harness::new(ControllerConfig::default());
    let hb = BrokerHeartbeat {
        broker_id: 7,
        broker_epoch: 1,
        want_fence: false,
        want_shutdown: false,
    };
    assert_eq!(
        h.controller
            .heartbeat(&h.image, &hb, 0)
            .unwrap_err()
            .error_code(),
        102
    );
    let epoch = h.register(7, None).unwrap();
    let stale = BrokerHeartbeat {
        broker_epoch: epoch - 1,
        broker_id: 7,
        ..hb
    };
    assert_eq!(
        h.controller
            .heartbeat(&h.image, &stale, 0)
            .unwrap_err()
            .error_code(),
        77
    );
    let still_fenced = h.heartbeat(7, true, false).unwrap();
    assert!(still_fenced.is_fenced);
    let reply = h.heartbeat(7, false, false).unwrap();
    assert!(!reply.is_fenced && reply.is_caught_up);
    assert!(h.image.is_active_broker(7));
}

#[test]
fn session_expiry_fences_and_moves_leadership_to_isr() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    h.create_assigned("t", 5, &[&[1, 2, 3]]).unwrap();
    let before = h.partition("t", 0);
    assert_eq!(before.leader, 1);
    // Brokers 2 and 3 keep heartbeating; 1 goes silent.
    for _ in 0..10 {
        h.now_ms += 1_000;
        h.heartbeat(2, false, false).unwrap();
        h.heartbeat(3, false, false).unwrap();
        let records = h.controller.tick(&h.image, h.now_ms);
        h.apply(&records);
    }
    assert!(h.image.brokers[&1].fenced);
    let after = h.partition("t", 0);
    assert_eq!(after.leader, 2);
    assert_eq!(after.isr, vec![2, 3]);
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    // Nothing more to do on the next tick.
    assert!(h.controller.tick(&h.image, h.now_ms).is_empty());
}

#[test]
fn losing_the_last_isr_member_takes_the_partition_offline_unless_unclean() {
    for unclean in [false, true] {
        let mut h = Harness::new(ControllerConfig::default());
        h.brokers(&[1, 2], no_rack);
        h.create_assigned("t", 5, &[&[1, 2]]).unwrap();
        if unclean {
            let records = h
                .controller
                .incremental_alter_configs(
                    &h.image,
                    ConfigResourceType::Topic,
                    "t",
                    &[("unclean.leader.election.enable".into(), Some("true".into()))],
                )
                .unwrap();
            h.apply(&records);
        }
        // Shrink the ISR to the leader, then fence the leader.
        let p = h.partition("t", 0);
        let shrink = AlterPartition {
            broker_id: 1,
            broker_epoch: h.epochs[&1],
            topic_id: 5,
            partition: 0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: vec![1],
        };
        let records = h.controller.alter_partition(&h.image, &shrink).unwrap();
        h.apply(&records);
        h.heartbeat(1, true, false).unwrap();
        let p = h.partition("t", 0);
        if unclean {
            assert_eq!(
                (p.leader, p.isr.clone()),
                (2, vec![2]),
                "unclean election elects 2"
            );
        } else {
            assert_eq!(p.leader, NO_LEADER);
            assert_eq!(p.isr, vec![1], "the last ISR member stays in the ISR");
            // When broker 1 is back, it leads again, cleanly.
            h.heartbeat(1, false, false).unwrap();
            assert_eq!(h.partition("t", 0).leader, 1);
        }
    }
}

#[test]
fn controlled_shutdown_moves_leaderships_before_allowing_shutdown() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    h.create_assigned("t", 5, &[&[1, 2], &[2, 1], &[1, 3]])
        .unwrap();
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(
        !reply.should_shutdown && !reply.is_fenced,
        "the heartbeat that moves the leaderships does not complete the shutdown: {reply:?}"
    );
    assert!(h.image.brokers[&1].in_controlled_shutdown);
    assert!(!h.image.brokers[&1].fenced, "still listed for its clients");
    for p in h.image.topic("t").unwrap().partitions.values() {
        assert_ne!(p.leader, 1);
        assert!(!p.isr.contains(&1), "{p:?}");
    }
    assert_eq!(h.partition("t", 0).leader, 2);
    assert_eq!(h.partition("t", 2).leader, 3);
    // The next heartbeat finds nothing left to move: SHUTDOWN_NOW.
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(reply.should_shutdown && reply.is_fenced, "{reply:?}");
}

/// A broker that leads nothing completes its controlled shutdown on its first heartbeat.
#[test]
fn controlled_shutdown_of_a_broker_leading_nothing_completes_at_once() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    h.create_assigned("t", 5, &[&[2, 1], &[3, 1]]).unwrap();
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(reply.should_shutdown && reply.is_fenced, "{reply:?}");
}

/// Kafka's SHUTDOWN_NOW fences the broker: the restarted process (a new incarnation)
/// registers at once instead of waiting out the old incarnation's session, and the
/// stopping broker's own heartbeats cannot unfence it again.
#[test]
fn a_completed_controlled_shutdown_fences_so_the_restarted_broker_registers_at_once() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    h.create_assigned("t", 5, &[&[1, 2, 3]]).unwrap();
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(
        !reply.should_shutdown,
        "leaderships moved, not complete yet: {reply:?}"
    );
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(reply.should_shutdown && reply.is_fenced, "{reply:?}");
    assert!(h.image.brokers[&1].fenced);
    assert!(!h.partition("t", 0).isr.contains(&1));
    // The old process still beats until it exits: it stays fenced.
    let reply = h.heartbeat(1, false, false).unwrap();
    assert!(reply.is_fenced);
    let restarted = BrokerRegistrationRequest {
        broker_id: 1,
        incarnation_id: 999,
        rack: None,
        listeners: vec![],
        features: BTreeMap::from([(METADATA_VERSION.to_string(), (1, 21))]),
    };
    assert!(
        h.controller
            .register_broker(&h.image, &restarted, h.now_ms)
            .is_ok(),
        "the new incarnation must not wait for the old one's session to expire"
    );
}

#[test]
fn controlled_shutdown_of_sole_replica_takes_it_offline_as_kraft_does() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1], no_rack);
    h.create_assigned("t", 5, &[&[1]]).unwrap();
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(!reply.should_shutdown);
    let reply = h.heartbeat(1, false, true).unwrap();
    assert!(reply.should_shutdown);
    let p = h.partition("t", 0);
    assert_eq!(p.leader, NO_LEADER);
    assert_eq!(p.isr, vec![1]);
}

#[test]
fn unregister_removes_broker_and_its_leaderships() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2], no_rack);
    h.create_assigned("t", 5, &[&[1, 2]]).unwrap();
    let records = h.controller.unregister_broker(&h.image, 1).unwrap();
    h.apply(&records);
    assert!(!h.image.brokers.contains_key(&1));
    assert_eq!(h.partition("t", 0).leader, 2);
    assert_eq!(
        h.controller
            .unregister_broker(&h.image, 1)
            .unwrap_err()
            .error_code(),
        102
    );
}
