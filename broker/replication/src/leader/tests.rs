use super::*;
use crate::epoch_cache::EpochEndOffset;
use kafka_protocol::ResponseError;

#[path = "proptests.rs"]
mod proptests;

pub(super) const LAG: u64 = 10_000;

pub(super) fn config(min_isr: usize) -> LeaderConfig {
    LeaderConfig {
        replica_lag_time_max_ms: LAG,
        min_insync_replicas: min_isr,
        ..LeaderConfig::default()
    }
}

/// Leader 1 of replicas [1,2,3] in epoch 5, log [0, 10) of which epoch 5 starts at 10.
pub(super) fn leader(isr: &[ReplicaId], min_isr: usize) -> (LeaderState, LeaderEpochCache) {
    let mut epochs = LeaderEpochCache::new();
    epochs.assign(3, 0).unwrap();
    let init = LeaderInit {
        local_id: 1,
        leader_epoch: 5,
        partition_epoch: 7,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        log_start_offset: 0,
        log_end_offset: 10,
        high_watermark: 4,
    };
    let state = LeaderState::new(init, config(min_isr), &mut epochs, 0).unwrap();
    (state, epochs)
}

pub(super) fn fetch(
    replica_id: ReplicaId,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> FollowerFetch {
    FollowerFetch {
        replica_id,
        broker_epoch: 1,
        current_leader_epoch: Some(5),
        fetch_offset,
        last_fetched_epoch: Some(last_fetched_epoch),
        log_start_offset: 0,
    }
}

#[test]
fn high_watermark_is_min_isr_leo_and_waits_for_unknown_followers() {
    let (mut l, epochs) = leader(&[1, 2, 3], 2);
    assert_eq!(
        l.high_watermark(),
        4,
        "followers' positions are unknown after election"
    );
    assert_eq!(
        epochs.latest_entry().map(|e| (e.epoch, e.start_offset)),
        Some((5, 10))
    );
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    assert_eq!(l.high_watermark(), 4, "replica 3 is still unknown");
    l.on_fetch(&fetch(3, 8, 3), &epochs, 2).unwrap();
    assert_eq!(l.high_watermark(), 8);
    // A reordered older fetch lowers the view but never the high watermark.
    l.on_fetch(&fetch(3, 6, 3), &epochs, 3).unwrap();
    assert_eq!(l.high_watermark(), 8);
    l.on_fetch(&fetch(3, 10, 3), &epochs, 4).unwrap();
    assert_eq!(l.high_watermark(), 10);
}

#[test]
fn divergent_follower_gets_diverging_epoch_and_is_not_recorded() {
    let (mut l, mut epochs) = leader(&[1, 2, 3], 1);
    l.on_leader_append(15, 1);
    epochs.assign(5, 10).unwrap();
    // Follower wrote epoch 4 records at 10..12 that this leader never had.
    let r = l.on_fetch(&fetch(2, 12, 4), &epochs, 2).unwrap();
    assert_eq!(
        r.kind,
        FetchKind::Diverging(EpochEndOffset {
            epoch: 3,
            end_offset: 10
        })
    );
    assert_eq!(
        l.follower(2).map(|v| v.log_end_offset),
        Some(crate::UNKNOWN_OFFSET)
    );
    // Same epoch but past where that epoch ended here.
    let r = l.on_fetch(&fetch(2, 11, 3), &epochs, 3).unwrap();
    assert_eq!(
        r.kind,
        FetchKind::Diverging(EpochEndOffset {
            epoch: 3,
            end_offset: 10
        })
    );
    let r = l.on_fetch(&fetch(2, 10, 3), &epochs, 4).unwrap();
    assert_eq!(r.kind, FetchKind::Records { fetch_offset: 10 });
}

#[test]
fn fencing_and_range_errors_carry_kafka_codes() {
    let (mut l, epochs) = leader(&[1, 2, 3], 1);
    let mut f = fetch(2, 10, 3);
    f.current_leader_epoch = Some(4);
    assert_eq!(
        l.on_fetch(&f, &epochs, 1).unwrap_err().error(),
        ResponseError::FencedLeaderEpoch
    );
    f.current_leader_epoch = Some(6);
    assert_eq!(
        l.on_fetch(&f, &epochs, 1).unwrap_err().error(),
        ResponseError::UnknownLeaderEpoch
    );
    let f = FollowerFetch {
        last_fetched_epoch: None,
        ..fetch(2, 11, 3)
    };
    assert_eq!(
        l.on_fetch(&f, &epochs, 1).unwrap_err().error(),
        ResponseError::OffsetOutOfRange
    );
    assert_eq!(
        l.on_fetch(&fetch(9, 1, 3), &epochs, 1).unwrap_err().error(),
        ResponseError::NotLeaderOrFollower
    );
    // Epoch above anything the leader knows: Kafka answers OFFSET_OUT_OF_RANGE.
    assert_eq!(
        l.on_fetch(&fetch(2, 10, 9), &epochs, 1)
            .unwrap_err()
            .error(),
        ResponseError::OffsetOutOfRange
    );
    l.update_broker_registration(2, 3, false);
    assert_eq!(
        l.on_fetch(&fetch(2, 10, 3), &epochs, 1)
            .unwrap_err()
            .error(),
        ResponseError::StaleBrokerEpoch
    );
}

#[test]
fn lagging_follower_is_shrunk_and_hw_waits_until_commit() {
    let (mut l, epochs) = leader(&[1, 2, 3], 1);
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    l.on_fetch(&fetch(3, 6, 3), &epochs, 1).unwrap();
    assert_eq!(l.high_watermark(), 6);
    l.tick(LAG);
    assert!(l.take_alter_partition().is_none(), "within the lag time");
    // As Kafka, the ISR is looked at every lag / 2, not on every tick.
    l.on_fetch(&fetch(2, 10, 3), &epochs, LAG + 1).unwrap();
    l.tick(LAG + 1);
    assert!(
        l.take_alter_partition().is_none(),
        "not looked at again yet"
    );
    l.on_fetch(&fetch(2, 10, 3), &epochs, LAG + LAG / 2)
        .unwrap();
    l.tick(LAG + LAG / 2);
    let req = l.take_alter_partition().expect("shrink proposed");
    assert_eq!(req.isr_ids(), [1, 2].into_iter().collect());
    assert_eq!((req.leader_epoch, req.partition_epoch), (5, 7));
    // KIP-497: a pending shrink does not yet let the high watermark pass replica 3.
    l.tick(LAG + LAG / 2 + 1);
    assert_eq!(l.high_watermark(), 6);
    let committed = CommittedPartition {
        leader_id: 1,
        leader_epoch: 5,
        partition_epoch: 8,
        isr: vec![1, 2],
    };
    assert!(!l.on_alter_partition_response(
        AlterPartitionResponse {
            request_id: req.request_id,
            result: Ok(committed)
        },
        LAG + LAG / 2 + 2
    ));
    assert_eq!(l.high_watermark(), 10);
    assert_eq!(l.partition_epoch(), 8);
}

#[test]
fn caught_up_follower_is_expanded_and_counts_while_pending() {
    let (mut l, epochs) = leader(&[1, 2], 1);
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    assert_eq!(l.high_watermark(), 10);
    l.on_leader_append(20, 2);
    l.on_fetch(&fetch(3, 10, 3), &epochs, 3).unwrap();
    let req = l.take_alter_partition().expect("expansion proposed");
    assert_eq!(req.isr_ids(), [1, 2, 3].into_iter().collect());
    assert_eq!(l.maximal_isr().len(), 3);
    assert_eq!(l.isr().len(), 2);
    l.on_fetch(&fetch(2, 20, 5), &epochs, 4).unwrap();
    assert_eq!(
        l.high_watermark(),
        10,
        "the joining replica holds the high watermark"
    );
    // The controller rejects it: back to the committed ISR, free to propose again.
    let resp = AlterPartitionResponse {
        request_id: req.request_id,
        result: Err(ResponseError::IneligibleReplica),
    };
    assert!(!l.on_alter_partition_response(resp, 5));
    assert!(l.inflight_alter_partition().is_none());
    // A retriable error asks for a resend; a stale id is ignored.
    l.on_fetch(&fetch(3, 15, 5), &epochs, 6).unwrap();
    let req = l.take_alter_partition().expect("proposed again");
    let stale = AlterPartitionResponse {
        request_id: req.request_id - 1,
        result: Err(ResponseError::RequestTimedOut),
    };
    assert!(!l.on_alter_partition_response(stale, 7));
    let retry = AlterPartitionResponse {
        request_id: req.request_id,
        result: Err(ResponseError::RequestTimedOut),
    };
    assert!(l.on_alter_partition_response(retry, 7));
}

#[test]
fn follower_below_epoch_start_is_not_expanded() {
    let (mut l, epochs) = leader(&[1], 1);
    // HW is 10 (ISR = leader alone), so 9 < HW and < epoch start 10.
    l.on_fetch(&fetch(2, 9, 3), &epochs, 1).unwrap();
    assert!(l.take_alter_partition().is_none());
    l.on_fetch(&fetch(2, 10, 3), &epochs, 2).unwrap();
    assert!(l.take_alter_partition().is_some());
}

#[test]
fn acks_all_outcomes() {
    let (mut l, epochs) = leader(&[1, 2], 2);
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    l.check_produce(true).unwrap();
    l.on_leader_append(12, 2);
    l.await_acks(100, 12, 100_000, 2);
    l.on_leader_append(14, 3);
    l.await_acks(101, 14, 100_000, 3);
    assert!(l.take_completions().is_empty());
    l.on_fetch(&fetch(2, 12, 5), &epochs, 4).unwrap();
    let done = l.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].request_id, done[0].result.clone()), (100, Ok(())));
    // The follower stops fetching; the ISR shrinks to the leader alone.
    l.tick(LAG + 5);
    let req = l.take_alter_partition().expect("shrink");
    let committed = CommittedPartition {
        leader_id: 1,
        leader_epoch: 5,
        partition_epoch: 8,
        isr: vec![1],
    };
    l.on_alter_partition_response(
        AlterPartitionResponse {
            request_id: req.request_id,
            result: Ok(committed),
        },
        LAG + 6,
    );
    let done = l.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].result.as_ref().unwrap_err().error(),
        ResponseError::NotEnoughReplicasAfterAppend
    );
    assert_eq!(
        l.check_produce(true).unwrap_err().error(),
        ResponseError::NotEnoughReplicas
    );
    assert!(l.check_produce(false).is_ok());
}

#[test]
fn acks_all_times_out_and_fails_on_resignation() {
    let (mut l, _epochs) = leader(&[1, 2], 1);
    l.on_leader_append(12, 1);
    l.await_acks(1, 12, 100, 1);
    l.await_acks(2, 12, 500, 1);
    l.tick(101);
    let done = l.take_completions();
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].result.as_ref().unwrap_err().error(),
        ResponseError::RequestTimedOut
    );
    let done = l.resign();
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].result.as_ref().unwrap_err().error(),
        ResponseError::NotLeaderOrFollower
    );
}

#[test]
fn current_epoch_commit_rule_holds_hw_until_a_new_epoch_record() {
    let mut epochs = LeaderEpochCache::new();
    epochs.assign(3, 0).unwrap();
    let init = LeaderInit {
        local_id: 1,
        leader_epoch: 5,
        partition_epoch: 0,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        log_start_offset: 0,
        log_end_offset: 10,
        high_watermark: 4,
    };
    let cfg = LeaderConfig {
        require_current_epoch_commit: true,
        ..config(1)
    };
    let mut l = LeaderState::new(init, cfg, &mut epochs, 0).unwrap();
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    assert_eq!(l.high_watermark(), 4);
    l.on_leader_append(11, 2);
    l.on_fetch(&fetch(2, 11, 5), &epochs, 3).unwrap();
    assert_eq!(l.high_watermark(), 11);
}

#[test]
fn fenced_or_reregistered_brokers_are_not_expanded() {
    let (mut l, epochs) = leader(&[1, 2], 1);
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    // Broker 3 is fenced: caught up, but not eligible.
    l.update_broker_registration(3, 1, true);
    l.on_fetch(&fetch(3, 10, 3), &epochs, 2).unwrap();
    assert!(l.take_alter_partition().is_none());
    // Registered again with epoch 2 while its fetch still carries epoch 1... rejected as
    // stale; a fetch with the new epoch makes it eligible.
    l.update_broker_registration(3, 2, false);
    assert!(l.on_fetch(&fetch(3, 10, 3), &epochs, 3).is_err());
    assert!(l.take_alter_partition().is_none());
    let fresh = FollowerFetch {
        broker_epoch: 2,
        ..fetch(3, 10, 3)
    };
    l.on_fetch(&fresh, &epochs, 4).unwrap();
    let req = l.take_alter_partition().expect("eligible now");
    assert!(
        req.new_isr.contains(&(3, 2)),
        "the proposal carries the broker epoch: {req:?}"
    );
    // Metadata lagging behind the broker (fetch epoch newer than registered): not yet.
    let (mut l, epochs) = leader(&[1, 2], 1);
    l.update_broker_registration(3, 1, false);
    let ahead = FollowerFetch {
        broker_epoch: 5,
        ..fetch(3, 10, 3)
    };
    l.on_fetch(&ahead, &epochs, 1).unwrap();
    assert!(l.take_alter_partition().is_none());
}

#[test]
fn metadata_update_commits_the_isr_and_ignores_other_epochs() {
    let (mut l, epochs) = leader(&[1, 2, 3], 1);
    l.on_fetch(&fetch(2, 10, 3), &epochs, 1).unwrap();
    l.tick(LAG + 1);
    assert!(l.inflight_alter_partition().is_some());
    let other_epoch = CommittedPartition {
        leader_id: 1,
        leader_epoch: 6,
        partition_epoch: 9,
        isr: vec![1],
    };
    assert!(!l.on_partition_update(other_epoch, LAG + 2));
    // The controller fenced 2 and 3 itself: the pending shrink is superseded.
    let fenced = CommittedPartition {
        leader_id: 1,
        leader_epoch: 5,
        partition_epoch: 9,
        isr: vec![1],
    };
    assert!(l.on_partition_update(fenced, LAG + 2));
    assert!(l.inflight_alter_partition().is_none());
    assert_eq!(l.isr().len(), 1);
    assert_eq!(l.partition_epoch(), 9);
    assert_eq!(l.high_watermark(), 10);
}
