//! Preferred-leader handoffs (metadata.version 4.1-IV0): the election waits for the old
//! leader, below that level it moves leadership at once.

use super::*;
use crate::image::METADATA_VERSION;
use crate::records::NO_LEADER;

/// Partition t-0 on [1, 2, 3], led by 2 (1 came back after a restart) with 1 in the
/// ISR again, and `metadata.version` finalized at `level`.
fn led_by_the_second_replica(level: u16) -> Harness {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], |_| None);
    h.create_assigned("t", 5, &[&[1, 2, 3]]).unwrap();
    h.apply(&[MetadataRecord::FeatureLevel {
        name: METADATA_VERSION.into(),
        level,
    }]);
    h.heartbeat(1, true, false).unwrap();
    h.heartbeat(1, false, false).unwrap();
    h.set_isr("t", 0, &[2, 3, 1]);
    assert_eq!(h.partition("t", 0).leader, 2);
    h
}

fn elect(h: &Harness) -> Vec<MetadataRecord> {
    h.controller
        .elect_leader(&h.image, "t", 0, ElectionType::Preferred)
        .unwrap()
}

#[test]
fn at_4_1_iv0_a_preferred_election_is_a_handoff_completed_by_the_old_leader() {
    let mut h = led_by_the_second_replica(26);
    let epoch = h.partition("t", 0).leader_epoch;
    let records = elect(&h);
    assert!(
        matches!(&records[..], [MetadataRecord::LeaderHandoff(x)] if x.to == 1 && x.leader_epoch == epoch),
        "{records:?}"
    );
    h.apply(&records);
    assert_eq!(
        h.partition("t", 0).leader,
        2,
        "the old leader keeps it for now"
    );
    assert_eq!(h.image.leader_handoff(5, 0), Some(1));
    assert!(
        elect(&h).is_empty(),
        "asking again while it hands off adds nothing"
    );
    assert!(
        h.controller
            .complete_leader_handoff(&h.image, 5, 0, epoch - 1)
            .is_empty(),
        "another leader epoch"
    );

    let records = h.controller.complete_leader_handoff(&h.image, 5, 0, epoch);
    h.apply(&records);
    let p = h.partition("t", 0);
    assert_eq!((p.leader, p.leader_epoch), (1, epoch + 1));
    assert_eq!(h.image.leader_handoff(5, 0), None);
    assert!(
        h.controller
            .complete_leader_handoff(&h.image, 5, 0, epoch)
            .is_empty(),
        "a completed handoff is not completed twice"
    );
}

#[test]
fn a_handoff_whose_target_cannot_be_elected_is_cancelled() {
    let mut h = led_by_the_second_replica(26);
    let epoch = h.partition("t", 0).leader_epoch;
    let records = elect(&h);
    h.apply(&records);
    // The target is fenced meanwhile (its ISR slot goes with it).
    h.heartbeat(1, true, false).unwrap();
    let records = h.controller.complete_leader_handoff(&h.image, 5, 0, epoch);
    assert!(
        matches!(&records[..], [MetadataRecord::LeaderHandoff(x)] if x.to == NO_LEADER),
        "{records:?}"
    );
    h.apply(&records);
    assert_eq!(h.image.leader_handoff(5, 0), None);
    assert_eq!(h.partition("t", 0).leader, 2);
}

#[test]
fn below_4_1_iv0_a_preferred_election_moves_leadership_at_once() {
    let mut h = led_by_the_second_replica(25);
    let records = elect(&h);
    assert!(
        matches!(&records[..], [MetadataRecord::PartitionChange(c)] if c.leader == Some(1)),
        "{records:?}"
    );
    h.apply(&records);
    assert_eq!(h.partition("t", 0).leader, 1);
    assert!(h.image.leader_handoffs.is_empty());
}

#[test]
fn at_4_1_iv0_the_automatic_leader_rebalance_hands_over_too() {
    let mut h = led_by_the_second_replica(26);
    let records = h.controller.rebalance_leaders(&h.image);
    assert!(
        matches!(&records[..], [MetadataRecord::LeaderHandoff(x)] if x.to == 1),
        "{records:?}"
    );
    h.apply(&records);
    assert!(
        h.controller.rebalance_leaders(&h.image).is_empty(),
        "under way"
    );
}

#[test]
fn handoffs_ready_together_complete_in_one_batch_each_partition_once() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], |_| None);
    h.create_assigned("t", 5, &[&[1, 2, 3], &[1, 2, 3]])
        .unwrap();
    h.apply(&[MetadataRecord::FeatureLevel {
        name: METADATA_VERSION.into(),
        level: 26,
    }]);
    h.heartbeat(1, true, false).unwrap();
    h.heartbeat(1, false, false).unwrap();
    let mut ready = Vec::new();
    for p in 0..2 {
        h.set_isr("t", p, &[2, 3, 1]);
        assert_eq!(h.partition("t", p).leader, 2);
        ready.push((5, p, h.partition("t", p).leader_epoch));
        let records = h
            .controller
            .elect_leader(&h.image, "t", p, ElectionType::Preferred)
            .unwrap();
        h.apply(&records);
    }
    // Partition 0 asked twice before the sender ran: it still moves once.
    ready.push(ready[0]);
    let records = h.controller.complete_leader_handoffs(&h.image, &ready);
    assert_eq!(records.len(), 2, "{records:?}");
    h.apply(&records);
    for p in 0..2 {
        assert_eq!(h.partition("t", p).leader, 1, "partition {p}");
        assert_eq!(h.image.leader_handoff(5, p), None);
    }
}
