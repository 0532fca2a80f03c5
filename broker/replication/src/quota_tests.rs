use proptest::prelude::*;

use super::*;

fn quota(rate: u64) -> ReplicationQuota {
    ReplicationQuota::new(ReplicationQuotaConfig {
        rate_bytes_per_sec: Some(rate),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn throttled_replicas_parse_like_kafka() {
    assert_eq!(ThrottledReplicas::parse("", 1).unwrap(), None);
    assert_eq!(
        ThrottledReplicas::parse(" * ", 1).unwrap(),
        Some(ThrottledReplicas::All)
    );
    let parsed = ThrottledReplicas::parse("0:1, 1:2,2:1", 1).unwrap();
    assert_eq!(
        parsed,
        Some(ThrottledReplicas::Partitions([0, 2].into_iter().collect()))
    );
    for bad in ["0", "a:1", "0:b", "-1:1", "0:1,"] {
        assert!(
            ThrottledReplicas::parse(bad, 1).is_err(),
            "{bad:?} must be rejected"
        );
    }
    assert!(
        ReplicationQuota::new(ReplicationQuotaConfig {
            window_num: 0,
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        ReplicationQuota::new(ReplicationQuotaConfig {
            window_size_seconds: 0,
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn only_throttled_out_of_sync_replicas_are_slowed() {
    let mut q = quota(1_000);
    q.set_throttled("t", ThrottledReplicas::parse("0:1", 1).unwrap());
    q.record(1_000_000, 0);
    assert!(q.is_quota_exceeded(0));
    assert!(q.should_throttle("t", 0, false, 0));
    assert!(
        !q.should_throttle("t", 0, true, 0),
        "in-sync replicas are never throttled"
    );
    assert!(
        !q.should_throttle("t", 1, false, 0),
        "partition 1 is not listed for broker 1"
    );
    assert!(
        !q.should_throttle("u", 0, false, 0),
        "other topics are unaffected"
    );
    q.set_throttled("t", None);
    assert!(!q.should_throttle("t", 0, false, 0));
    // Unlimited quota never throttles.
    q.update_quota(None);
    assert!(!q.is_quota_exceeded(0));
    assert_eq!(q.allowance(0), u64::MAX);
}

#[test]
fn rate_uses_kafkas_window_arithmetic() {
    let mut q = quota(100);
    q.record(1_000, 0);
    // A young sensor counts N-1 = 10 full windows: 1000 B / 10 s.
    assert!((q.rate(0) - 100.0).abs() < 1e-9);
    assert!(!q.is_quota_exceeded(0));
    // At 500 ms the window is 10.5 s: 1100 B / 10.5 s > 100 B/s.
    q.record(100, 500);
    assert!(q.is_quota_exceeded(500));
    // Once the whole span (11 s) has passed, the window is purged.
    assert!((q.rate(11_500) - 0.0).abs() < 1e-9);
    assert_eq!(q.allowance(11_500), 100, "capped by the upper bound");
}

/// A greedy throttled fetcher on a simulated clock: fetch whenever the quota is not
/// exceeded, as much as the allowance lets. Returns bytes moved in `[from_ms, to_ms)`.
fn greedy(rate: u64, max_fetch: u64, tick_ms: u64, from_ms: u64, to_ms: u64) -> u64 {
    let mut q = quota(rate);
    let mut now = 0;
    let mut moved = 0;
    while now < to_ms {
        if !q.is_quota_exceeded(now) {
            let bytes = q.allowance(now).min(max_fetch);
            q.record(bytes, now);
            if now >= from_ms {
                moved += bytes;
            }
        }
        now += tick_ms;
    }
    moved
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The achieved rate of a greedy throttled fetcher stays within 10% of the quota
    /// once the first sample span has passed, for any rate, fetch size and fetch cadence.
    #[test]
    fn greedy_fetcher_stays_within_ten_percent(
        rate in 10_000u64..50_000_000,
        overdrive in 1.5f64..100.0,
        tick_ms in 1u64..250,
    ) {
        // The fetcher could move `overdrive` times the quota if unthrottled.
        let max_fetch = ((rate as f64 * tick_ms as f64 / 1000.0 * overdrive) as u64).max(1);
        let (from, to) = (11_000, 131_000);
        let moved = greedy(rate, max_fetch, tick_ms, from, to);
        let achieved = moved as f64 / ((to - from) as f64 / 1000.0);
        let ratio = achieved / rate as f64;
        prop_assert!((0.9..=1.1).contains(&ratio), "achieved {achieved:.0} B/s for quota {rate} B/s (ratio {ratio:.3})");
    }
}

/// Two followers behind one leader: partition 0 is throttled, partition 1 is not. Only
/// throttled bytes count against the quota; the unthrottled partition moves at full
/// speed while the throttled one settles at the quota.
#[test]
fn only_throttled_partitions_are_slowed() {
    let rate = 1_000_000;
    let mut q = quota(rate);
    q.set_throttled("t", ThrottledReplicas::parse("0:1", 1).unwrap());
    let (tick_ms, per_fetch) = (10, 100_000); // 10 MB/s per partition unthrottled
    let (from, to) = (11_000, 71_000);
    let mut moved = [0u64; 2];
    let mut now = 0;
    while now < to {
        for partition in 0..2 {
            if q.should_throttle("t", partition, false, now) {
                continue;
            }
            let bytes = if q.is_throttled("t", partition) {
                q.allowance(now).min(per_fetch)
            } else {
                per_fetch
            };
            if q.is_throttled("t", partition) {
                q.record(bytes, now);
            }
            if now >= from {
                moved[partition as usize] += bytes;
            }
        }
        now += tick_ms;
    }
    let secs = (to - from) as f64 / 1000.0;
    let unthrottled = moved[1] as f64 / secs;
    let throttled = moved[0] as f64 / secs;
    assert_eq!(
        unthrottled,
        per_fetch as f64 * 1000.0 / tick_ms as f64,
        "unthrottled partition slowed"
    );
    let ratio = throttled / rate as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "throttled partition at {throttled:.0} B/s for quota {rate} (ratio {ratio:.3})"
    );
}

/// Fetchers (one per leader) asking before any answer is recorded share one allowance:
/// what one holds, the others cannot take; a released grant counts only what arrived.
#[test]
fn concurrent_fetches_share_one_allowance() {
    let mut q = quota(1_000);
    let first = q.reserve(0);
    assert_eq!(first, 1_000, "a new bucket holds one quota window's worth");
    assert_eq!(q.reserve(0), 0, "the first fetch holds all of it");
    // The first fetch got only 400 bytes: recorded, then its grant released.
    q.record(400, 0);
    q.release(first);
    assert_eq!(q.allowance(0), 600);
    // The bucket refills at the rate, never beyond one window's worth.
    assert_eq!(q.allowance(300), 900);
    assert_eq!(q.allowance(5_000), 1_000);
    // A fetch may return more than it was granted (a whole first batch): the debt is
    // waited out.
    q.record(3_000, 5_000);
    assert_eq!(q.allowance(6_000), 0);
    assert_eq!(q.allowance(7_500), 500);
    q.update_quota(Some(100));
    assert_eq!(q.allowance(7_500), 100, "a lower rate takes effect at once");
    q.update_quota(None);
    assert_eq!(q.reserve(0), u64::MAX, "no rate: nothing held");
}

/// Bytes a greedy fetcher (fetch whenever the quota is not exceeded, as much as the
/// allowance lets, every `tick_ms`) moves in each second of `[0, to_ms)`.
fn greedy_per_second(rate: u64, tick_ms: u64, to_ms: u64) -> Vec<u64> {
    let mut q = quota(rate);
    let mut seconds = vec![0u64; (to_ms / 1000) as usize];
    let mut now = 0;
    while now < to_ms {
        if !q.is_quota_exceeded(now) {
            let bytes = q.allowance(now);
            q.record(bytes, now);
            seconds[(now / 1000) as usize] += bytes;
        }
        now += tick_ms;
    }
    seconds
}

/// The copy flows at the rate every few seconds instead of moving a whole 11 s span's
/// worth at once and then idling until it expires (what the sampled rate alone does,
/// and what let several quotas' cycles lock a real copy at 0.57x the rate).
#[test]
fn a_greedy_fetcher_moves_steadily_not_in_span_sized_bursts() {
    let rate = 1_000_000u64;
    let seconds = greedy_per_second(rate, 20, 120_000);
    for (i, w) in seconds.windows(3).enumerate().skip(1) {
        let moved: u64 = w.iter().sum();
        let ratio = moved as f64 / (3 * rate) as f64;
        assert!(
            (0.6..=1.4).contains(&ratio),
            "seconds {i}..{}: moved {moved} bytes = {ratio:.2}x the rate; per second: {seconds:?}",
            i + 3
        );
    }
}
