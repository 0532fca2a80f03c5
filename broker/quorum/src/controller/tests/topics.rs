//! CreateTopics (placement, defaults, refusals, manual assignment), configs, deletes, CreatePartitions.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::records::ConfigResourceType;

fn rack_of(id: i32) -> Option<String> {
    Some(format!("rack-{}", id % 3))
}

#[test]
fn create_topic_places_replicas_on_distinct_racks_with_leader_first() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[0, 1, 2, 3, 4, 5], rack_of);
    h.create("orders", 0x1234_5678_9abc_def0_1111_2222_3333_4444, 12, 3)
        .unwrap();
    let topic = h.image.topic("orders").unwrap();
    assert_eq!(topic.partitions.len(), 12);
    for p in topic.partitions.values() {
        let racks: BTreeSet<_> = p.replicas.iter().map(|b| b % 3).collect();
        assert_eq!(racks.len(), 3, "{p:?}");
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
    }
}

#[test]
fn create_topic_uses_configured_defaults() {
    let mut h = Harness::new(ControllerConfig {
        num_partitions: 3,
        default_replication_factor: 2,
        ..ControllerConfig::default()
    });
    h.brokers(&[1, 2], |_| None);
    h.create("t", 9, -1, -1).unwrap();
    let topic = h.image.topic("t").unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert!(topic.partitions.values().all(|p| p.replicas.len() == 2));
}

#[test]
fn create_topic_refusals_carry_kafka_codes() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2], |_| None);
    h.create("t", 9, 1, 1).unwrap();
    let code = |h: &mut Harness, name: &str, id: u128, n: i32, rf: i16| {
        h.create(name, id, n, rf).unwrap_err().error_code()
    };
    assert_eq!(code(&mut h, "t", 10, 1, 1), 36);
    assert_eq!(code(&mut h, "bad name", 10, 1, 1), 17);
    assert_eq!(code(&mut h, "..", 10, 1, 1), 17);
    assert_eq!(code(&mut h, &"x".repeat(250), 10, 1, 1), 17);
    assert_eq!(code(&mut h, "u", 10, 0, 1), 37);
    assert_eq!(code(&mut h, "u", 10, 1, 3), 38);
    assert_eq!(code(&mut h, "u", 10, 1, 0), 38);
    assert_eq!(code(&mut h, "u", 9, 1, 1), 42, "topic id reuse");
    h.create("a.b", 11, 1, 1).unwrap();
    let collision = h.create("a_b", 12, 1, 1).unwrap_err();
    assert_eq!(collision.error_code(), 17);
    assert!(
        collision
            .to_string()
            .contains("collides with existing topic: a.b"),
        "{collision}"
    );
    let rf3 = h.create("u", 10, 1, 3).unwrap_err();
    assert!(
        rf3.to_string().contains("only 2 broker(s) are registered"),
        "{rf3}"
    );
}

#[test]
fn explicit_assignment_is_validated() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], |_| None);
    assert_eq!(
        h.create_assigned("a", 1, &[&[1, 1]])
            .unwrap_err()
            .error_code(),
        39
    );
    assert_eq!(
        h.create_assigned("a", 1, &[&[1, 9]])
            .unwrap_err()
            .error_code(),
        39
    );
    assert_eq!(
        h.create_assigned("a", 1, &[&[1, 2], &[3]])
            .unwrap_err()
            .error_code(),
        39
    );
    assert_eq!(
        h.create_assigned("a", 1, &[&[]]).unwrap_err().error_code(),
        39
    );
    let both = CreateTopic {
        name: "a".into(),
        topic_id: 1,
        num_partitions: 1,
        replication_factor: -1,
        assignments: BTreeMap::from([(0, vec![1])]),
        configs: BTreeMap::new(),
    };
    assert_eq!(
        h.controller
            .create_topic(&h.image, &both)
            .unwrap_err()
            .error_code(),
        42
    );
    h.create_assigned("a", 1, &[&[3, 1], &[2, 3]]).unwrap();
    assert_eq!(h.partition("a", 0).replicas, vec![3, 1]);
    assert_eq!(h.partition("a", 1).leader, 2);
    // Fenced replicas start outside the ISR.
    h.heartbeat(2, true, false).unwrap();
    h.create_assigned("b", 2, &[&[2, 3]]).unwrap();
    let p = h.partition("b", 0);
    assert_eq!((p.leader, p.isr), (3, vec![3]));
    assert_eq!(
        h.create_assigned("c", 3, &[&[2]]).unwrap_err().error_code(),
        39
    );
}

#[test]
fn topic_configs_are_validated_and_written() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1], |_| None);
    let mut req = CreateTopic {
        name: "t".into(),
        topic_id: 4,
        num_partitions: 1,
        replication_factor: 1,
        assignments: BTreeMap::new(),
        configs: BTreeMap::from([("cleanup.policy".into(), "compact,delete".into())]),
    };
    let records = h.controller.create_topic(&h.image, &req).unwrap();
    h.apply(&records);
    assert_eq!(
        h.image
            .config(ConfigResourceType::Topic, "t", "cleanup.policy"),
        Some("compact,delete")
    );
    req.name = "u".into();
    req.topic_id = 5;
    for (k, v) in [
        ("no.such.config", "1"),
        ("retention.ms", "abc"),
        ("min.insync.replicas", "0"),
        ("cleanup.policy", "x"),
    ] {
        req.configs = BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            h.controller
                .create_topic(&h.image, &req)
                .unwrap_err()
                .error_code(),
            40,
            "{k}={v}"
        );
    }
    let alter = |h: &Harness, name: &str, key: &str, v: Option<&str>| {
        h.controller.incremental_alter_configs(
            &h.image,
            ConfigResourceType::Topic,
            name,
            &[(key.into(), v.map(Into::into))],
        )
    };
    assert_eq!(
        alter(&h, "missing", "retention.ms", Some("1"))
            .unwrap_err()
            .error_code(),
        3
    );
    assert_eq!(
        alter(&h, "t", "retention.ms", Some("-5"))
            .unwrap_err()
            .error_code(),
        40
    );
    assert!(
        alter(&h, "t", "cleanup.policy", Some("compact,delete"))
            .unwrap()
            .is_empty(),
        "no-op"
    );
    let records = alter(&h, "t", "cleanup.policy", None).unwrap();
    h.apply(&records);
    assert_eq!(
        h.image
            .config(ConfigResourceType::Topic, "t", "cleanup.policy"),
        None
    );
}

#[test]
fn delete_topics_by_name_and_id() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1], |_| None);
    h.create("t", 4, 2, 1).unwrap();
    assert_eq!(
        h.controller
            .delete_topic(&h.image, "nope")
            .unwrap_err()
            .error_code(),
        3
    );
    assert_eq!(
        h.controller
            .delete_topic_by_id(&h.image, 77)
            .unwrap_err()
            .error_code(),
        100
    );
    let records = h.controller.delete_topic_by_id(&h.image, 4).unwrap();
    h.apply(&records);
    assert!(h.image.topic("t").is_none());
    h.create("t", 5, 1, 1).unwrap();
    let records = h.controller.delete_topic(&h.image, "t").unwrap();
    h.apply(&records);
    assert!(h.image.topics_by_id.is_empty());
}

#[test]
fn create_partitions_grows_only() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], |_| None);
    h.create("t", 4, 2, 2).unwrap();
    let c = &h.controller;
    assert_eq!(
        c.create_partitions(&h.image, "t", 2, None)
            .unwrap_err()
            .error_code(),
        37
    );
    assert_eq!(
        c.create_partitions(&h.image, "t", 1, None)
            .unwrap_err()
            .error_code(),
        37
    );
    assert_eq!(
        c.create_partitions(&h.image, "x", 3, None)
            .unwrap_err()
            .error_code(),
        3
    );
    assert_eq!(
        c.create_partitions(&h.image, "t", 4, Some(&[vec![1, 2]]))
            .unwrap_err()
            .error_code(),
        39
    );
    let records = c.create_partitions(&h.image, "t", 4, None).unwrap();
    h.apply(&records);
    let topic = h.image.topic("t").unwrap();
    assert_eq!(
        topic.partitions.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(topic.partitions.values().all(|p| p.replicas.len() == 2));
    let records = h
        .controller
        .create_partitions(&h.image, "t", 5, Some(&[vec![3, 1]]))
        .unwrap();
    h.apply(&records);
    assert_eq!(h.partition("t", 4).replicas, vec![3, 1]);
}
