//! TxnOffsetCommit: offsets pending until their producer's marker, UNSTABLE_OFFSET_COMMIT
//! for `require_stable` fetches meanwhile, and the replay of transactional offsets.

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    GroupId, OffsetFetchRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::harness::{GROUP, Harness, topic};
use crate::backend::LoadRecord;
use crate::records::{OffsetCommitValue, RecordKey};
use crate::state_machine::{TxnCommitPlan, code};

const UNSTABLE_OFFSET_COMMIT: i16 = kafka_protocol::ResponseError::UnstableOffsetCommit.code();

fn exists(topic: &str, partition: i32) -> bool {
    topic == "t" && (0..6).contains(&partition)
}

fn txn_req(
    producer_id: i64,
    member: &str,
    generation: i32,
    offsets: &[(&str, i32, i64)],
) -> TxnOffsetCommitRequest {
    let mut req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
        .with_generation_id(generation)
        .with_member_id(StrBytes::from_string(member.to_owned()));
    for (t, p, o) in offsets {
        req.topics.push(
            TxnOffsetCommitRequestTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(*o)
                        .with_committed_leader_epoch(2),
                ]),
        );
    }
    req
}

/// TxnOffsetCommit v3, appended through the harness's log; the partitions' codes.
fn txn_commit(h: &mut Harness, req: &TxnOffsetCommitRequest) -> Vec<i16> {
    let response = match h.core.txn_offset_commit(req, 3, h.now, &exists) {
        TxnCommitPlan::Done(r) => r,
        TxnCommitPlan::Persist {
            partition,
            producer,
            records,
            pending,
        } => {
            assert_eq!(producer, (req.producer_id.0, req.producer_epoch));
            let result = h.append(partition, records);
            h.core.complete_txn_offset_commit(pending, result)
        }
    };
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v7 of partition `p` of `t`: (offset, error).
fn fetch(h: &Harness, p: i32, require_stable: bool) -> (i64, i16) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![p]),
        ]));
    let r = h.core.offset_fetch(&req, 7);
    assert_eq!(r.error_code, code::NONE);
    let part = &r.topics[0].partitions[0];
    (part.committed_offset, part.error_code)
}

#[test]
fn transactional_offsets_are_pending_until_the_commit_marker() {
    let mut h = Harness::new(Harness::default_config());
    let partition = h.core.partition_for(GROUP);
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, "", -1, &[("t", 0, 50)])),
        [0]
    );
    assert_eq!(fetch(&h, 0, false), (-1, code::NONE), "not visible yet");
    assert_eq!(fetch(&h, 0, true), (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(
        fetch(&h, 1, true),
        (-1, code::NONE),
        "other partitions stable"
    );
    // Another producer's marker, or a marker on another partition, changes nothing.
    h.core.complete_transaction(partition, 8, true);
    h.core.complete_transaction(partition + 1, 7, true);
    assert_eq!(fetch(&h, 0, true), (-1, UNSTABLE_OFFSET_COMMIT));
    h.core.complete_transaction(partition, 7, true);
    assert_eq!(fetch(&h, 0, true), (50, code::NONE));
    assert_eq!(fetch(&h, 0, false), (50, code::NONE));
}

#[test]
fn an_abort_marker_drops_the_transactional_offsets() {
    let mut h = Harness::new(Harness::default_config());
    let partition = h.core.partition_for(GROUP);
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, "", -1, &[("t", 0, 10)])),
        [0]
    );
    h.core.complete_transaction(partition, 7, true);
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, "", -1, &[("t", 0, 20)])),
        [0]
    );
    h.core.complete_transaction(partition, 7, false);
    assert_eq!(fetch(&h, 0, true), (10, code::NONE));
    // A later COMMIT of the producer has nothing left to apply.
    h.core.complete_transaction(partition, 7, true);
    assert_eq!(fetch(&h, 0, false), (10, code::NONE));
}

#[test]
fn a_later_plain_commit_beats_an_earlier_transactional_offset() {
    let mut h = Harness::new(Harness::default_config());
    let partition = h.core.partition_for(GROUP);
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, "", -1, &[("t", 0, 10)])),
        [0]
    );
    let plain = super::offsets::commit_req("", -1, &[("t", 0, 30)]);
    h.commit(&plain, 8, &exists);
    h.core.complete_transaction(partition, 7, true);
    assert_eq!(fetch(&h, 0, false), (30, code::NONE));
}

#[test]
fn txn_offset_commit_validates_the_group_as_kafka() {
    let mut h = Harness::new(Harness::default_config());
    let ids = h.stable_group(1, &["t"]);
    let member = ids[0].as_str();
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, member, 9, &[("t", 0, 1)])),
        [code::ILLEGAL_GENERATION]
    );
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, "ghost", 1, &[("t", 0, 1)])),
        [code::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        txn_commit(&mut h, &txn_req(7, member, 1, &[("t", 0, 1), ("t", 9, 1)])),
        [code::NONE, code::UNKNOWN_TOPIC_OR_PARTITION]
    );
    // Without member (v0-2 producers), a non-empty group still takes it, unlike
    // OffsetCommit.
    assert_eq!(txn_commit(&mut h, &txn_req(8, "", -1, &[("t", 1, 1)])), [0]);
    // A group that does not exist with a generation is ILLEGAL_GENERATION.
    let mut other = txn_req(7, "m", 1, &[("t", 0, 1)]);
    other.group_id = GroupId(StrBytes::from_static_str("nobody"));
    let plan = h.core.txn_offset_commit(&other, 3, h.now, &exists);
    let TxnCommitPlan::Done(r) = plan else {
        panic!("nothing to write: {plan:?}");
    };
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code::ILLEGAL_GENERATION
    );
    // A failed append leaves nothing pending.
    h.fail_appends = Some(kafka_protocol::ResponseError::NotEnoughReplicas);
    assert_eq!(
        txn_commit(&mut h, &txn_req(9, member, 1, &[("t", 2, 1)])),
        [code::COORDINATOR_NOT_AVAILABLE]
    );
    assert_eq!(fetch(&h, 2, true), (-1, code::NONE));
}

fn offset_record(p: i32, offset: i64) -> (bytes::Bytes, Option<bytes::Bytes>) {
    let value = OffsetCommitValue {
        offset,
        leader_epoch: 1,
        metadata: String::new(),
        commit_timestamp: 1,
        expire_timestamp: -1,
    };
    (
        RecordKey::offset_commit(GROUP, "t", p).encode(),
        Some(value.encode()),
    )
}

#[test]
fn replay_keeps_transactional_offsets_pending_until_their_marker() {
    let txn = |producer_id, p, offset| LoadRecord::Transactional {
        producer_id,
        record: offset_record(p, offset),
    };
    let marker = |producer_id, commit| LoadRecord::Marker {
        producer_id,
        commit,
    };
    let records = vec![
        // A marker with nothing before it (its offsets were compacted away).
        marker(5, true),
        LoadRecord::Plain(offset_record(0, 1)),
        txn(7, 0, 70),
        txn(8, 1, 80),
        txn(9, 2, 90),
        LoadRecord::Plain(offset_record(3, 3)),
        txn(7, 3, 73),
        txn(10, 4, 100),
        // A plain commit after producer 10's offset: the newer one, whatever 10 does.
        LoadRecord::Plain(offset_record(4, 4)),
        marker(7, true),
        marker(8, false),
    ];
    let mut h = Harness::unowned(Harness::default_config());
    let partition = h.core.partition_for(GROUP);
    let stats = h.core.load_partition(partition, records, h.now);
    assert_eq!(stats.corrupt, 0);
    assert_eq!(fetch(&h, 0, true), (70, code::NONE), "committed by 7");
    assert_eq!(fetch(&h, 1, true), (-1, code::NONE), "aborted by 8");
    assert_eq!(fetch(&h, 2, true), (-1, UNSTABLE_OFFSET_COMMIT), "9 open");
    assert_eq!(fetch(&h, 3, true), (73, code::NONE), "7's is newer");
    assert_eq!(fetch(&h, 4, true), (-1, UNSTABLE_OFFSET_COMMIT), "10 open");
    // The open transactions' markers arrive after the replay.
    h.core.complete_transaction(partition, 9, true);
    h.core.complete_transaction(partition, 10, true);
    assert_eq!(fetch(&h, 2, true), (90, code::NONE));
    assert_eq!(
        fetch(&h, 4, true),
        (4, code::NONE),
        "the later plain commit stays"
    );
}

#[test]
fn a_marker_replicated_before_the_replay_of_its_partition_is_applied_after_it() {
    // The new leader read the log (producer 7's offset, no marker yet), then the
    // coordinator's marker was appended and replicated before the replay ran.
    let records = vec![LoadRecord::Transactional {
        producer_id: 7,
        record: offset_record(0, 70),
    }];
    let mut h = Harness::unowned(Harness::default_config());
    let partition = h.core.partition_for(GROUP);
    h.core.complete_transaction(partition, 7, true);
    h.core.load_partition(partition, records.clone(), h.now);
    assert_eq!(fetch(&h, 0, true), (70, code::NONE), "not left pending");
    // An abort the same way drops it; a marker kept for a partition given up is
    // forgotten with it.
    let mut h = Harness::unowned(Harness::default_config());
    h.core.complete_transaction(partition, 7, false);
    h.core.load_partition(partition, records.clone(), h.now);
    assert_eq!(fetch(&h, 0, true), (-1, code::NONE));
    let mut h = Harness::unowned(Harness::default_config());
    h.core.complete_transaction(partition, 7, true);
    h.core.unload_partition(partition);
    h.core.load_partition(partition, records, h.now);
    assert_eq!(fetch(&h, 0, true), (-1, UNSTABLE_OFFSET_COMMIT));
}
