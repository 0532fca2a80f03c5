//! Replication throttling (Kafka's `ReplicationQuotaManager`, KIP-73): which replicas
//! are throttled (`leader.replication.throttled.replicas` /
//! `follower.replication.throttled.replicas` topic configs) and whether the broker's
//! throttled replication traffic is above `leader.replication.throttled.rate` /
//! `follower.replication.throttled.rate`, measured like Kafka's `Rate` over
//! `replication.quota.window.num` samples of `replication.quota.window.size.seconds`.
//!
//! One instance per direction (leader and follower). Only throttled replicas are
//! slowed; in-sync replicas are never throttled by the leader (Kafka's
//! `shouldLeaderThrottle`), so a throttle cannot shrink the ISR.
//!
//! How much one throttled fetch may take ([`ReplicationQuota::allowance`]) comes from a
//! token bucket refilled at the rate and holding at most one quota window's worth, so
//! the copy flows steadily at the rate. The sampled rate alone (Kafka) lets a fetcher
//! take a whole span's worth at once and then sit idle until that span expires: with
//! several leaders' and the follower's quotas each bursting on its own 11 s cycle, the
//! copy locked into moving at 0.57x the rate in about half of the runs
//! (`local_rebalance::throttled_scale_out_holds_the_move_rate`).

mod rate;

use std::collections::{BTreeMap, BTreeSet};

pub use rate::SampledRate;

use crate::ReplicaId;
use crate::error::QuotaConfigError;

/// Static and dynamic settings of one replication quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationQuotaConfig {
    /// The throttled rate in bytes/s; `None` is Kafka's default `Long.MAX_VALUE`.
    pub rate_bytes_per_sec: Option<u64>,
    /// `replication.quota.window.num` (default 11).
    pub window_num: u32,
    /// `replication.quota.window.size.seconds` (default 1).
    pub window_size_seconds: u32,
}

impl Default for ReplicationQuotaConfig {
    fn default() -> Self {
        Self {
            rate_bytes_per_sec: None,
            window_num: 11,
            window_size_seconds: 1,
        }
    }
}

/// The partitions of one topic hosted here that are throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledReplicas {
    /// `*`: every partition of the topic.
    All,
    Partitions(BTreeSet<i32>),
}

impl ThrottledReplicas {
    /// Parses a `*.replication.throttled.replicas` value for this broker, as Kafka's
    /// `parseThrottledPartitions`: `*`, or `partition:broker` pairs of which only those
    /// naming `local_broker` apply. Returns `None` for an empty value (no throttle).
    pub fn parse(value: &str, local_broker: ReplicaId) -> Result<Option<Self>, QuotaConfigError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        if value == "*" {
            return Ok(Some(Self::All));
        }
        let mut partitions = BTreeSet::new();
        for item in value.split(',').map(str::trim) {
            let invalid = || QuotaConfigError::ThrottledReplicas(item.to_owned());
            let (partition, broker) = item.split_once(':').ok_or_else(invalid)?;
            let partition: i32 = partition.trim().parse().map_err(|_| invalid())?;
            let broker: ReplicaId = broker.trim().parse().map_err(|_| invalid())?;
            if partition < 0 || broker < 0 {
                return Err(invalid());
            }
            if broker == local_broker {
                partitions.insert(partition);
            }
        }
        Ok(Some(Self::Partitions(partitions)))
    }

    fn contains(&self, partition: i32) -> bool {
        match self {
            Self::All => true,
            Self::Partitions(p) => p.contains(&partition),
        }
    }
}

/// One direction's replication quota on one broker.
#[derive(Debug, Clone)]
pub struct ReplicationQuota {
    rate_bytes_per_sec: Option<u64>,
    rate: SampledRate,
    throttled: BTreeMap<String, ThrottledReplicas>,
    /// Bytes granted to fetches still in flight ([`Self::reserve`]): concurrent fetchers
    /// (one per leader) must not each take the whole allowance before any answer is
    /// recorded, or every quota window overshoots by a fetch per leader.
    reserved: u64,
    bucket: TokenBucket,
}

/// Bytes a throttled fetch may take: refilled at the rate up to one quota window's
/// worth; recorded traffic is taken out and may leave a debt (a fetch returns at least
/// one whole batch, as Kafka's), which later fetches wait out.
#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    refilled_ms: Option<u64>,
    window_ms: u64,
}

impl TokenBucket {
    fn capacity(&self, rate: u64) -> f64 {
        rate as f64 * self.window_ms as f64 / 1000.0
    }

    fn refill(&mut self, rate: u64, now_ms: u64) {
        let cap = self.capacity(rate);
        self.tokens = match self.refilled_ms {
            // A new bucket starts full: the first window may move at once.
            None => cap,
            Some(then) => {
                let elapsed = now_ms.saturating_sub(then) as f64 / 1000.0;
                (self.tokens + rate as f64 * elapsed).min(cap)
            }
        };
        self.refilled_ms = Some(self.refilled_ms.map_or(now_ms, |t| t.max(now_ms)));
    }
}

impl ReplicationQuota {
    pub fn new(config: ReplicationQuotaConfig) -> Result<Self, QuotaConfigError> {
        let rate = SampledRate::new(config.window_num, config.window_size_seconds)?;
        Ok(Self {
            rate_bytes_per_sec: config.rate_bytes_per_sec,
            rate,
            throttled: BTreeMap::new(),
            reserved: 0,
            bucket: TokenBucket {
                tokens: 0.0,
                refilled_ms: None,
                window_ms: u64::from(config.window_size_seconds) * 1000,
            },
        })
    }

    /// A dynamic update of the `*.replication.throttled.rate` broker config.
    pub fn update_quota(&mut self, rate_bytes_per_sec: Option<u64>) {
        self.rate_bytes_per_sec = rate_bytes_per_sec;
        if let Some(rate) = rate_bytes_per_sec {
            // A lower rate takes effect at once; a higher one refills from here.
            self.bucket.tokens = self.bucket.tokens.min(self.bucket.capacity(rate));
        }
    }

    pub fn quota(&self) -> Option<u64> {
        self.rate_bytes_per_sec
    }

    /// Applies a topic's throttled-replicas config (`None` removes the throttle).
    pub fn set_throttled(&mut self, topic: &str, replicas: Option<ThrottledReplicas>) {
        match replicas {
            Some(r) => {
                self.throttled.insert(topic.to_owned(), r);
            }
            None => {
                self.throttled.remove(topic);
            }
        }
    }

    /// Whether a rate is set and some topic has throttled replicas: only then can
    /// [`Self::is_throttled`] matter (a fetcher asks this once per round, not per
    /// partition).
    pub fn throttles_any(&self) -> bool {
        self.rate_bytes_per_sec.is_some() && !self.throttled.is_empty()
    }

    pub fn is_throttled(&self, topic: &str, partition: i32) -> bool {
        self.throttled
            .get(topic)
            .is_some_and(|r| r.contains(partition))
    }

    /// Records bytes of throttled replication traffic.
    pub fn record(&mut self, bytes: u64, now_ms: u64) {
        self.rate.record(bytes as f64, now_ms);
        if let Some(rate) = self.rate_bytes_per_sec {
            self.bucket.refill(rate, now_ms);
            self.bucket.tokens -= bytes as f64;
        }
    }

    /// The measured throttled traffic rate in bytes/s.
    pub fn rate(&mut self, now_ms: u64) -> f64 {
        self.rate.measure(now_ms)
    }

    /// Kafka's `isQuotaExceeded`: the measured rate is above the quota.
    pub fn is_quota_exceeded(&mut self, now_ms: u64) -> bool {
        match self.rate_bytes_per_sec {
            None => false,
            Some(bound) => self.rate.measure(now_ms) > bound as f64,
        }
    }

    /// Kafka's `upperBound`: the most one fetch may ever take.
    pub fn upper_bound(&self) -> u64 {
        self.rate_bytes_per_sec.unwrap_or(u64::MAX)
    }

    /// The bytes a throttled fetch may take now: what the token bucket holds beyond the
    /// grants in flight (never more than [`Self::upper_bound`]).
    pub fn allowance(&mut self, now_ms: u64) -> u64 {
        let Some(rate) = self.rate_bytes_per_sec else {
            return u64::MAX;
        };
        self.bucket.refill(rate, now_ms);
        let room = self.bucket.tokens - self.reserved as f64;
        if room <= 0.0 {
            0
        } else {
            (room.floor() as u64).min(rate)
        }
    }

    /// Grants a fetch about to be sent the current [`Self::allowance`] and holds it
    /// until [`Self::release`], so fetches in flight at the same time share one
    /// allowance. `u64::MAX` (nothing held) when no rate is set.
    pub fn reserve(&mut self, now_ms: u64) -> u64 {
        let grant = self.allowance(now_ms);
        if self.rate_bytes_per_sec.is_some() {
            self.reserved = self.reserved.saturating_add(grant);
        }
        grant
    }

    /// Returns a grant of [`Self::reserve`] once its fetch's bytes are recorded.
    pub fn release(&mut self, grant: u64) {
        self.reserved = self.reserved.saturating_sub(grant);
    }

    /// Kafka's `shouldLeaderThrottle` / `shouldFollowerThrottle`: skip this partition in
    /// the current fetch. In-sync replicas are never throttled.
    pub fn should_throttle(
        &mut self,
        topic: &str,
        partition: i32,
        replica_in_sync: bool,
        now_ms: u64,
    ) -> bool {
        !replica_in_sync && self.is_throttled(topic, partition) && self.is_quota_exceeded(now_ms)
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
