//! Image apply semantics: fencing by epoch, epoch bumps, removal cascades, round trips.

use super::*;
use crate::records::NO_LEADER;

fn register(id: i32, epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        broker_id: id,
        incarnation_id: id as u128,
        broker_epoch: epoch,
        rack: None,
        listeners: vec![],
        features: BTreeMap::new(),
    }
}

fn topic_with_partition() -> Vec<MetadataRecord> {
    vec![
        MetadataRecord::Topic {
            name: "t".into(),
            topic_id: 9,
        },
        MetadataRecord::Partition(PartitionRecord {
            topic_id: 9,
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }),
    ]
}

#[test]
fn registration_starts_fenced_and_unfences_at_matching_epoch_only() {
    let mut image = MetadataImage::default();
    image.apply(&register(1, 5));
    assert!(image.brokers[&1].fenced);
    image.apply(&MetadataRecord::BrokerUnfence {
        broker_id: 1,
        broker_epoch: 4,
    });
    assert!(image.brokers[&1].fenced, "stale epoch must be ignored");
    image.apply(&MetadataRecord::BrokerUnfence {
        broker_id: 1,
        broker_epoch: 5,
    });
    assert!(image.is_active_broker(1));
    image.apply(&MetadataRecord::ControlledShutdown {
        broker_id: 1,
        broker_epoch: 5,
    });
    assert!(!image.is_active_broker(1));
    assert_eq!(image.last_broker_epoch, 5);
}

#[test]
fn partition_change_bumps_epochs() {
    let mut image = MetadataImage::default();
    image.apply_entry(3, &topic_with_partition());
    assert_eq!(image.offset, 3);
    image.apply(&MetadataRecord::PartitionChange(PartitionChange {
        isr: Some(vec![1]),
        ..PartitionChange::new(9, 0)
    }));
    let p = image.partition(9, 0).unwrap();
    assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
    image.apply(&MetadataRecord::PartitionChange(PartitionChange {
        leader: Some(NO_LEADER),
        ..PartitionChange::new(9, 0)
    }));
    let p = image.partition(9, 0).unwrap();
    assert_eq!(
        (p.leader, p.leader_epoch, p.partition_epoch),
        (NO_LEADER, 1, 2)
    );
}

#[test]
fn remove_topic_drops_partitions_name_and_configs() {
    let mut image = MetadataImage::default();
    image.apply_entry(1, &topic_with_partition());
    image.apply(&MetadataRecord::Config {
        resource_type: ConfigResourceType::Topic,
        resource_name: "t".into(),
        key: "retention.ms".into(),
        value: Some("1".into()),
    });
    assert_eq!(
        image.config(ConfigResourceType::Topic, "t", "retention.ms"),
        Some("1")
    );
    image.apply(&MetadataRecord::RemoveTopic { topic_id: 9 });
    assert!(image.topic("t").is_none());
    assert!(image.partition(9, 0).is_none());
    assert!(image.configs.is_empty());
}

#[test]
fn config_delete_and_feature_zero_remove_entries() {
    let mut image = MetadataImage::default();
    let set = |v: Option<&str>| MetadataRecord::Config {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        key: "unclean.leader.election.enable".into(),
        value: v.map(str::to_string),
    };
    image.apply(&set(Some("true")));
    image.apply(&set(None));
    assert!(image.configs.is_empty());
    image.apply(&MetadataRecord::FeatureLevel {
        name: METADATA_VERSION.into(),
        level: 7,
    });
    assert_eq!(image.feature_level(METADATA_VERSION), 7);
    image.apply(&MetadataRecord::FeatureLevel {
        name: METADATA_VERSION.into(),
        level: 0,
    });
    assert_eq!(image.feature_level(METADATA_VERSION), 0);
}

#[test]
fn image_round_trips_as_snapshot_payload() {
    let mut image = MetadataImage::default();
    image.apply(&register(1, 2));
    image.apply_entry(4, &topic_with_partition());
    image.apply(&MetadataRecord::Config {
        resource_type: ConfigResourceType::Topic,
        resource_name: "t".into(),
        key: "cleanup.policy".into(),
        value: Some("compact".into()),
    });
    let bytes = image.to_bytes().unwrap();
    assert_eq!(MetadataImage::from_bytes(&bytes).unwrap(), image);
}

#[test]
fn partition_change_for_unknown_partition_is_ignored() {
    let mut image = MetadataImage::default();
    image.apply(&MetadataRecord::PartitionChange(PartitionChange {
        leader: Some(1),
        ..PartitionChange::new(1, 0)
    }));
    assert_eq!(image, MetadataImage::default());
}

#[test]
fn a_leader_handoff_lasts_one_leader_epoch_and_is_cancelled_by_no_leader() {
    let mut image = MetadataImage::default();
    for r in topic_with_partition() {
        image.apply(&r);
    }
    let handoff = |leader_epoch, to| {
        MetadataRecord::LeaderHandoff(crate::records::LeaderHandoff {
            topic_id: 9,
            partition: 0,
            leader_epoch,
            to,
        })
    };
    image.apply(&handoff(3, 2));
    assert_eq!(image.leader_handoff(9, 0), None, "another epoch is ignored");
    image.apply(&handoff(0, 2));
    assert_eq!(image.leader_handoff(9, 0), Some(2));
    image.apply(&handoff(0, NO_LEADER));
    assert_eq!(image.leader_handoff(9, 0), None, "cancelled");
    assert!(image.leader_handoffs.is_empty());

    image.apply(&handoff(0, 2));
    let mut change = PartitionChange::new(9, 0);
    change.leader = Some(2);
    image.apply(&MetadataRecord::PartitionChange(change));
    assert_eq!(
        image.leader_handoff(9, 0),
        None,
        "the leader change ends it"
    );
    assert!(image.leader_handoffs.is_empty());

    // An image without handoffs serializes as before 4.1-IV0 (0.2.0 reads it).
    let json = serde_json::to_string(&image).unwrap();
    assert!(!json.contains("leader_handoffs"), "{json}");
}
