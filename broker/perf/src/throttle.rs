//! Rate limiting for the producer, in the manner of Kafka's `ThroughputThrottler`.
//!
//! Sans-IO: it only answers "how long should the sender wait now", given how many
//! records were sent and how much time has passed. The caller owns the clock and
//! the sleeping, so the arithmetic is testable without time passing.

use std::time::Duration;

/// Keeps the average send rate at or below a target number of records per second.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Target records per second; `None` means "as fast as possible".
    target_per_sec: Option<f64>,
}

impl Throttle {
    /// A throttle aiming at `target_per_sec` records/s; zero or negative disables it,
    /// like `--throughput -1` in kafka-producer-perf-test.
    pub fn new(target_per_sec: f64) -> Self {
        let target_per_sec = (target_per_sec > 0.0).then_some(target_per_sec);
        Self { target_per_sec }
    }

    /// Whether there is a target rate at all (`delay` is always `None` otherwise).
    pub fn is_limited(&self) -> bool {
        self.target_per_sec.is_some()
    }

    /// How long to pause before sending the next record, given `sent` records were
    /// sent in `elapsed`. `None` when the sender is at or below the target rate.
    pub fn delay(&self, sent: u64, elapsed: Duration) -> Option<Duration> {
        let target = self.target_per_sec?;
        // The moment at which `sent` records would be on schedule.
        let due = Duration::from_secs_f64(sent as f64 / target);
        due.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let t = Throttle::new(-1.0);
        assert_eq!(t.delay(1_000_000, Duration::ZERO), None);
        assert_eq!(Throttle::new(0.0).delay(5, Duration::ZERO), None);
        assert!(!t.is_limited());
        assert!(Throttle::new(10.0).is_limited());
    }

    #[test]
    fn ahead_of_schedule_waits_the_difference() {
        let t = Throttle::new(1000.0);
        // 500 records at 1000/s are due at 500 ms; 200 ms passed, so wait 300 ms.
        assert_eq!(
            t.delay(500, Duration::from_millis(200)),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn behind_schedule_does_not_wait() {
        let t = Throttle::new(1000.0);
        assert_eq!(t.delay(500, Duration::from_millis(500)), None);
        assert_eq!(t.delay(500, Duration::from_secs(2)), None);
    }
}
