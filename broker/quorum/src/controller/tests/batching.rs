//! Decisions over many partitions are one decision (one metadata log entry): a batched
//! AlterPartition, the fencing of a broker that leads thousands of partitions, and a
//! preferred election of every partition.

use super::*;
use crate::records::NO_LEADER;

const PARTITIONS: usize = 1_000;

/// Brokers 1-3, topic "t" (id 5) with `PARTITIONS` partitions, all with `replicas`.
fn setup(replicas: &[i32]) -> Harness {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], |_| None);
    let assignment: Vec<&[i32]> = vec![replicas; PARTITIONS];
    h.create_assigned("t", 5, &assignment).unwrap();
    h
}

fn alter(h: &Harness, partition: i32, new_isr: &[i32]) -> AlterPartition {
    let p = h.partition("t", partition);
    AlterPartition {
        broker_id: p.leader,
        broker_epoch: h.epochs[&p.leader],
        topic_id: 5,
        partition,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: new_isr.to_vec(),
    }
}

#[test]
fn alter_partitions_decides_a_whole_batch_with_one_answer_each() {
    let mut h = setup(&[1, 2, 3]);
    let mut reqs: Vec<AlterPartition> = (0..PARTITIONS as i32)
        .map(|p| alter(&h, p, &[1, 2]))
        .collect();
    // A stale request, and a second change of partition 0 in the same batch: it was
    // made against the epoch the first one moves, so it is refused as Kafka would.
    reqs.push(AlterPartition {
        partition_epoch: 7,
        ..alter(&h, 1, &[1])
    });
    reqs.push(alter(&h, 0, &[1]));
    let decision = h.controller.alter_partitions(&h.image, &reqs);

    assert_eq!(decision.records.len(), PARTITIONS);
    assert_eq!(decision.reply.len(), PARTITIONS + 2);
    for (p, reply) in decision.reply[..PARTITIONS].iter().enumerate() {
        let after = reply.as_ref().unwrap();
        assert_eq!((after.partition, after.isr.clone()), (p as i32, vec![1, 2]));
        assert_eq!(after.partition_epoch, 1);
    }
    let invalid_update_version = 95;
    for refused in &decision.reply[PARTITIONS..] {
        assert_eq!(
            refused.as_ref().unwrap_err().error_code(),
            invalid_update_version
        );
    }
    h.apply(&decision.records);
    assert!(h.image.partitions().all(|p| p.isr == [1, 2]));
}

#[test]
fn alter_partitions_of_an_unchanged_isr_writes_nothing() {
    let h = setup(&[1, 2, 3]);
    let reqs: Vec<AlterPartition> = (0..10).map(|p| alter(&h, p, &[1, 2, 3])).collect();
    let decision = h.controller.alter_partitions(&h.image, &reqs);
    assert!(decision.records.is_empty());
    assert!(decision.reply.iter().all(Result::is_ok));
}

/// Fences broker 2 by session expiry (brokers 1 and 3 heartbeat); the tick's records.
fn expire_broker_2(h: &mut Harness) -> Vec<MetadataRecord> {
    let timeout = h.controller.config().broker_session_timeout_ms;
    h.now_ms += timeout + 1;
    h.heartbeat(1, false, false).unwrap();
    h.heartbeat(3, false, false).unwrap();
    h.controller.tick(&h.image, h.now_ms)
}

#[test]
fn fencing_a_broker_moves_all_its_leaderships_in_one_decision() {
    let mut h = setup(&[2, 1, 3]);
    assert!(h.image.partitions().all(|p| p.leader == 2));

    let records = expire_broker_2(&mut h);

    let fences = records
        .iter()
        .filter(|r| matches!(r, MetadataRecord::BrokerFence { broker_id: 2, .. }))
        .count();
    let changes = records
        .iter()
        .filter(|r| matches!(r, MetadataRecord::PartitionChange(_)))
        .count();
    assert_eq!(
        (fences, changes, records.len()),
        (1, PARTITIONS, PARTITIONS + 1)
    );
    h.apply(&records);
    for p in h.image.partitions() {
        assert_eq!(
            (p.leader, p.leader_epoch),
            (1, 1),
            "partition {}",
            p.partition
        );
        assert_eq!(p.isr, [1, 3]);
        assert_ne!(p.leader, NO_LEADER);
    }
}

#[test]
fn preferred_election_of_every_partition_is_one_decision() {
    let mut h = setup(&[2, 1, 3]);
    let records = expire_broker_2(&mut h);
    h.apply(&records);
    h.heartbeat(2, false, false).unwrap();
    let rejoin: Vec<AlterPartition> = (0..PARTITIONS as i32)
        .map(|p| alter(&h, p, &[1, 3, 2]))
        .collect();
    let decision = h.controller.alter_partitions(&h.image, &rejoin);
    h.apply(&decision.records);
    let mut targets: Vec<(String, i32)> = (0..PARTITIONS as i32).map(|p| ("t".into(), p)).collect();
    // Named twice: the second election finds the preferred leader already elected.
    targets.push(("t".into(), 0));

    let decision = h
        .controller
        .elect_leaders(&h.image, &targets, ElectionType::Preferred);

    assert_eq!(decision.records.len(), PARTITIONS);
    assert!(decision.reply[..PARTITIONS].iter().all(Result::is_ok));
    let election_not_needed = 84;
    assert_eq!(
        decision.reply[PARTITIONS]
            .as_ref()
            .unwrap_err()
            .error_code(),
        election_not_needed
    );
    h.apply(&decision.records);
    assert!(h.image.partitions().all(|p| p.leader == 2));
}
