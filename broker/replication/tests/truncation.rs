//! Leader and follower state machines together: for any two logs with a valid shared
//! history, the follower's truncation protocol (diverging epoch on fetch, or
//! OffsetForLeaderEpoch first) ends with its log a prefix of the leader's at exactly the
//! point where they diverged — never keeping a record the leader does not have, never
//! cutting a record they share.

use proptest::prelude::*;
use tidewater_replication::{
    FetchKind, FetchPartitionResponse, FollowerAction, FollowerInit, FollowerRequest,
    FollowerState, LeaderConfig, LeaderEpochCache, LeaderInit, LeaderOffsets, LeaderState,
};

fn cache_of(log: &[i32]) -> LeaderEpochCache {
    let mut c = LeaderEpochCache::new();
    for (offset, &epoch) in log.iter().enumerate() {
        if c.latest_epoch().is_none_or(|e| epoch > e) {
            c.assign(epoch, offset as i64).expect("non-negative epochs");
        }
    }
    c
}

/// (shared prefix, follower-only suffix, leader-only suffix) as epochs per offset. The
/// follower may hold more records of the prefix's last epoch; after that each side's
/// new epochs are disjoint (odd for the follower, even for the leader), as two leaders
/// of different epochs would write.
fn histories() -> impl Strategy<Value = (Vec<i32>, Vec<i32>, Vec<i32>)> {
    let runs = || prop::collection::vec((1i32..4, 1usize..5), 0..4);
    (runs(), 0usize..4, runs(), runs()).prop_map(|(prefix_runs, continuation, f_runs, l_runs)| {
        let mut prefix = Vec::new();
        let mut epoch = 0;
        for (step, len) in prefix_runs {
            epoch += step;
            prefix.extend(std::iter::repeat_n(epoch, len));
        }
        let base = epoch;
        let mut follower = vec![base; if prefix.is_empty() { 0 } else { continuation }];
        let mut e = base;
        for (step, len) in f_runs {
            e += 2 * step;
            follower.extend(std::iter::repeat_n(2 * (e / 2) + 1, len));
        }
        let mut leader = Vec::new();
        let mut e = base;
        for (step, len) in l_runs {
            e += 2 * step;
            leader.extend(std::iter::repeat_n(2 * (e / 2) + 2, len));
        }
        (prefix, follower, leader)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn follower_truncates_exactly_to_the_divergence_point(
        (prefix, follower_suffix, leader_suffix) in histories(),
        truncation_on_fetch in any::<bool>(),
        hw_fraction in 0.0f64..=1.0,
    ) {
        let leader_log: Vec<i32> = prefix.iter().chain(&leader_suffix).copied().collect();
        let mut follower_log: Vec<i32> = prefix.iter().chain(&follower_suffix).copied().collect();
        let max_epoch = leader_log.iter().chain(&follower_log).copied().max().unwrap_or(0);
        let mut leader_epochs = cache_of(&leader_log);
        let init = LeaderInit {
            local_id: 1,
            leader_epoch: max_epoch + 1,
            partition_epoch: 0,
            replicas: vec![1, 2],
            isr: vec![1],
            log_start_offset: 0,
            log_end_offset: leader_log.len() as i64,
            high_watermark: 0,
        };
        let mut leader = LeaderState::new(init, LeaderConfig::default(), &mut leader_epochs, 0).unwrap();
        let mut follower_epochs = cache_of(&follower_log);
        // A high watermark within the shared prefix (committed data is never divergent).
        let hw = (prefix.len() as f64 * hw_fraction) as i64;
        let finit = FollowerInit {
            local_id: 2,
            broker_epoch: 1,
            leader_id: 1,
            leader_epoch: max_epoch + 1,
            high_watermark: hw,
            truncation_on_fetch,
        };
        let leo = |log: &Vec<i32>| log.len() as i64;
        let mut follower = FollowerState::new(finit, &follower_epochs, leo(&follower_log));
        let truncate = |log: &mut Vec<i32>, epochs: &mut LeaderEpochCache, offset: i64| {
            log.truncate(offset as usize);
            epochs.truncate_from_end(offset);
        };
        let mut rounds = 0;
        loop {
            rounds += 1;
            prop_assert!(rounds < 50, "no convergence: follower {follower_log:?} leader {leader_log:?}");
            let end = leo(&follower_log);
            let action = match follower.next_request(&follower_epochs, 0, end) {
                FollowerRequest::Fetch(fetch) => {
                    let mut response = FetchPartitionResponse {
                        request_fetch_offset: fetch.fetch_offset,
                        request_leader_epoch: max_epoch + 1,
                        error: None,
                        high_watermark: 0,
                        log_start_offset: 0,
                        diverging_epoch: None,
                    };
                    match leader.on_fetch(&fetch, &leader_epochs, rounds) {
                        Ok(r) => if let FetchKind::Diverging(d) = r.kind { response.diverging_epoch = Some(d) },
                        Err(e) => response.error = Some(e.error()),
                    }
                    follower.on_fetch_response(&response, &follower_epochs, end)
                }
                FollowerRequest::OffsetForLeaderEpoch { current_leader_epoch, leader_epoch, .. } => {
                    let answer = leader_epochs.end_offset_for(leader_epoch, leo(&leader_log));
                    follower.on_offset_for_leader_epoch(current_leader_epoch, Ok(answer), &follower_epochs, end)
                }
                FollowerRequest::TruncateToHighWatermark { offset } => {
                    truncate(&mut follower_log, &mut follower_epochs, offset);
                    follower.on_truncated_to_high_watermark();
                    continue;
                }
                FollowerRequest::ListOffsets { current_leader_epoch, .. } => {
                    let answer = LeaderOffsets { log_start_offset: 0, log_end_offset: leo(&leader_log) };
                    follower.on_leader_offsets(current_leader_epoch, Ok(answer), end)
                }
                FollowerRequest::Idle => { prop_assert!(false, "fenced without cause"); unreachable!() }
            };
            match action {
                FollowerAction::Append { .. } => break,
                FollowerAction::Truncate { offset } => {
                    prop_assert!(offset >= hw, "truncated committed data: {offset} < hw {hw}");
                    truncate(&mut follower_log, &mut follower_epochs, offset);
                }
                FollowerAction::Ignore | FollowerAction::ListLeaderOffsets => {}
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        prop_assert_eq!(&follower_log[..], &prefix[..], "leader {:?}", leader_log);
    }
}
