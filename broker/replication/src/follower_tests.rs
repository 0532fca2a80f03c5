use super::*;
use kafka_protocol::ResponseError;

fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
    let mut c = LeaderEpochCache::new();
    for &(e, s) in entries {
        c.assign(e, s).unwrap();
    }
    c
}

fn init(truncation_on_fetch: bool) -> FollowerInit {
    FollowerInit {
        local_id: 2,
        broker_epoch: 9,
        leader_id: 1,
        leader_epoch: 4,
        high_watermark: 3,
        truncation_on_fetch,
    }
}

fn ok_response(
    fetch_offset: i64,
    diverging_epoch: Option<EpochEndOffset>,
) -> FetchPartitionResponse {
    FetchPartitionResponse {
        request_fetch_offset: fetch_offset,
        request_leader_epoch: 4,
        error: None,
        high_watermark: 6,
        log_start_offset: 0,
        diverging_epoch,
    }
}

fn eo(epoch: i32, end_offset: i64) -> EpochEndOffset {
    EpochEndOffset { epoch, end_offset }
}

#[test]
fn fetch_carries_last_fetched_epoch_and_broker_epoch() {
    let epochs = cache(&[(1, 0), (2, 5)]);
    let f = FollowerState::new(init(true), &epochs, 8);
    let FollowerRequest::Fetch(fetch) = f.next_request(&epochs, 0, 8) else {
        panic!("expected a fetch")
    };
    assert_eq!(
        (
            fetch.fetch_offset,
            fetch.last_fetched_epoch,
            fetch.broker_epoch
        ),
        (8, Some(2), 9)
    );
    assert_eq!(fetch.current_leader_epoch, Some(4));
}

#[test]
fn diverging_epoch_truncates_to_min_of_both_ends() {
    // Follower: epoch 1 at [0,5), epoch 2 at [5,8). Leader ended epoch 1 at 6.
    let epochs = cache(&[(1, 0), (2, 5)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    let action = f.on_fetch_response(&ok_response(8, Some(eo(1, 6))), &epochs, 8);
    assert_eq!(action, FollowerAction::Truncate { offset: 5 });
    assert_eq!(f.high_watermark(), 3);
    // Leader's epoch 2 ended at 7: keep [0,7).
    let mut f = FollowerState::new(init(true), &epochs, 8);
    assert_eq!(
        f.on_fetch_response(&ok_response(8, Some(eo(2, 7))), &epochs, 8),
        FollowerAction::Truncate { offset: 7 }
    );
}

#[test]
fn unknown_leader_epoch_truncates_to_our_smaller_epoch_and_continues() {
    // Follower knows epochs 1 and 3; the leader answers with epoch 2 that we never saw.
    let epochs = cache(&[(1, 0), (3, 5)]);
    let mut f = FollowerState::new(init(false), &epochs, 9);
    assert!(f.is_truncating());
    let req = f.next_request(&epochs, 0, 9);
    assert_eq!(
        req,
        FollowerRequest::OffsetForLeaderEpoch {
            replica_id: 2,
            current_leader_epoch: 4,
            leader_epoch: 3
        }
    );
    let action = f.on_offset_for_leader_epoch(4, Ok(eo(2, 7)), &epochs, 9);
    assert_eq!(action, FollowerAction::Truncate { offset: 5 });
    assert!(
        f.is_truncating(),
        "not final: ask again about the epoch before"
    );
    let epochs = cache(&[(1, 0)]);
    let action = f.on_offset_for_leader_epoch(4, Ok(eo(1, 6)), &epochs, 5);
    assert_eq!(action, FollowerAction::Truncate { offset: 5 });
    assert!(!f.is_truncating());
}

#[test]
fn undefined_answers_fall_back_to_high_watermark_or_leader_offset() {
    let epochs = cache(&[(1, 0), (2, 5)]);
    let mut f = FollowerState::new(init(false), &epochs, 8);
    assert_eq!(
        f.on_offset_for_leader_epoch(4, Ok(EpochEndOffset::UNDEFINED), &epochs, 8),
        FollowerAction::Truncate { offset: 3 }
    );
    let mut f = FollowerState::new(init(false), &epochs, 8);
    assert_eq!(
        f.on_offset_for_leader_epoch(4, Ok(eo(UNDEFINED_EPOCH, 6)), &epochs, 8),
        FollowerAction::Truncate { offset: 6 }
    );
    // Empty log: truncate to the high watermark before fetching.
    let empty = LeaderEpochCache::new();
    let mut f = FollowerState::new(init(true), &empty, 3);
    assert_eq!(
        f.next_request(&empty, 0, 3),
        FollowerRequest::TruncateToHighWatermark { offset: 3 }
    );
    f.on_truncated_to_high_watermark();
    assert!(matches!(
        f.next_request(&empty, 0, 3),
        FollowerRequest::Fetch(_)
    ));
}

#[test]
fn stale_responses_are_ignored() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    assert_eq!(
        f.on_fetch_response(&ok_response(7, None), &epochs, 8),
        FollowerAction::Ignore
    );
    let old_epoch = FetchPartitionResponse {
        request_leader_epoch: 3,
        ..ok_response(8, None)
    };
    assert_eq!(
        f.on_fetch_response(&old_epoch, &epochs, 8),
        FollowerAction::Ignore
    );
    let action = f.on_fetch_response(&ok_response(8, None), &epochs, 8);
    assert_eq!(
        action,
        FollowerAction::Append {
            fetch_offset: 8,
            leader_high_watermark: 6,
            leader_log_start_offset: 0
        }
    );
    f.on_appended(0, 10, 6);
    assert_eq!(f.high_watermark(), 6);
    f.on_appended(0, 10, 12);
    assert_eq!(f.high_watermark(), 10, "never above our own log end");
}

#[test]
fn leader_epoch_errors_fence_or_back_off() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    let unknown = FetchPartitionResponse {
        error: Some(ResponseError::UnknownLeaderEpoch),
        ..ok_response(8, None)
    };
    assert_eq!(
        f.on_fetch_response(&unknown, &epochs, 8),
        FollowerAction::Backoff {
            error: ResponseError::UnknownLeaderEpoch
        }
    );
    let fenced = FetchPartitionResponse {
        error: Some(ResponseError::FencedLeaderEpoch),
        ..ok_response(8, None)
    };
    assert_eq!(
        f.on_fetch_response(&fenced, &epochs, 8),
        FollowerAction::AwaitMetadata {
            error: ResponseError::FencedLeaderEpoch
        }
    );
    assert!(f.is_fenced());
    assert_eq!(f.next_request(&epochs, 0, 8), FollowerRequest::Idle);
}

fn out_of_range(f: &mut FollowerState, epochs: &LeaderEpochCache, log_end: i64) {
    let oor = FetchPartitionResponse {
        error: Some(ResponseError::OffsetOutOfRange),
        ..ok_response(log_end, None)
    };
    assert_eq!(
        f.on_fetch_response(&oor, epochs, log_end),
        FollowerAction::ListLeaderOffsets
    );
    assert!(f.is_out_of_range());
    // No fetch until the leader's offsets are known: a fetch would get the same error.
    assert_eq!(
        f.next_request(epochs, 0, log_end),
        FollowerRequest::ListOffsets {
            replica_id: 2,
            current_leader_epoch: 4
        }
    );
}

fn offsets(log_start_offset: i64, log_end_offset: i64) -> Result<LeaderOffsets, ResponseError> {
    Ok(LeaderOffsets {
        log_start_offset,
        log_end_offset,
    })
}

#[test]
fn below_the_leaders_log_start_restarts_the_log_there() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    out_of_range(&mut f, &epochs, 8);
    assert_eq!(
        f.on_leader_offsets(4, offsets(20, 30), 8),
        FollowerAction::TruncateFullyAndStartAt { offset: 20 }
    );
    assert_eq!(f.high_watermark(), 20);
    // The caller restarted the log empty at 20 (no epochs): fetch from there.
    let empty = LeaderEpochCache::new();
    match f.next_request(&empty, 20, 20) {
        FollowerRequest::Fetch(fetch) => {
            assert_eq!(fetch.fetch_offset, 20);
            assert_eq!(fetch.log_start_offset, 20);
            assert_eq!(fetch.last_fetched_epoch, None);
        }
        other => panic!("expected a fetch, got {other:?}"),
    }
    // A repeated answer after fetching resumed is stale.
    assert_eq!(
        f.on_leader_offsets(4, offsets(20, 30), 20),
        FollowerAction::Ignore
    );
}

#[test]
fn past_the_leaders_log_end_truncates_to_it() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    out_of_range(&mut f, &epochs, 8);
    assert_eq!(
        f.on_leader_offsets(4, offsets(0, 6), 8),
        FollowerAction::Truncate { offset: 6 }
    );
    assert!(matches!(
        f.next_request(&epochs, 0, 6),
        FollowerRequest::Fetch(_)
    ));
}

#[test]
fn within_the_leaders_range_fetches_again() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 25);
    out_of_range(&mut f, &epochs, 25);
    assert_eq!(
        f.on_leader_offsets(4, offsets(2, 30), 25),
        FollowerAction::Ignore
    );
    assert!(matches!(
        f.next_request(&epochs, 0, 25),
        FollowerRequest::Fetch(_)
    ));
}

#[test]
fn leader_offsets_errors_retry_fence_or_go_stale() {
    let epochs = cache(&[(1, 0)]);
    let mut f = FollowerState::new(init(true), &epochs, 8);
    out_of_range(&mut f, &epochs, 8);
    // An answer for another leader epoch is stale.
    assert_eq!(
        f.on_leader_offsets(3, offsets(20, 30), 8),
        FollowerAction::Ignore
    );
    // A retriable error keeps asking (after the backoff), never fetches meanwhile.
    let error = ResponseError::NotLeaderOrFollower;
    assert_eq!(
        f.on_leader_offsets(4, Err(error), 8),
        FollowerAction::Backoff { error }
    );
    assert!(f.is_out_of_range());
    assert!(matches!(
        f.next_request(&epochs, 0, 8),
        FollowerRequest::ListOffsets { .. }
    ));
    assert_eq!(
        f.on_leader_offsets(4, Err(ResponseError::FencedLeaderEpoch), 8),
        FollowerAction::AwaitMetadata {
            error: ResponseError::FencedLeaderEpoch
        }
    );
    assert!(f.is_fenced());
}
