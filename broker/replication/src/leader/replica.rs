//! The leader's view of one follower (Kafka's `Replica` / `ReplicaState`): where its log
//! ends, when it last fetched and when it was last caught up. It owns the caught-up
//! rules that drive ISR shrink, expansion and the high watermark; it never decides
//! them on its own.

use crate::UNKNOWN_OFFSET;

/// What the leader knows about a follower from its fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerView {
    /// The follower's log end offset = the offset of its last accepted fetch.
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// The leader's LEO when the follower last fetched: a follower that reaches it on
    /// its next fetch was caught up at the time of the previous one.
    pub last_fetch_leader_log_end_offset: i64,
    pub last_fetch_time_ms: u64,
    /// The last time the follower was known to have everything the leader had; ISR
    /// shrink compares it with `replica.lag.time.max.ms`. `None` = never (Kafka uses 0,
    /// which only means "long ago" on a wall clock).
    pub last_caught_up_time_ms: Option<u64>,
    /// The broker epoch of the follower's last fetch (KIP-903), so a restarted broker
    /// that lost its unflushed tail is not taken into the ISR on a stale position.
    pub broker_epoch: Option<i64>,
}

impl FollowerView {
    /// Kafka's `resetReplicaState` on becoming leader: positions are unknown until the
    /// follower fetches; ISR members get the benefit of the doubt for the lag time.
    pub fn new_for_leader(in_sync: bool, now_ms: u64) -> Self {
        Self {
            log_end_offset: UNKNOWN_OFFSET,
            log_start_offset: UNKNOWN_OFFSET,
            last_fetch_leader_log_end_offset: UNKNOWN_OFFSET,
            last_fetch_time_ms: 0,
            last_caught_up_time_ms: in_sync.then_some(now_ms),
            broker_epoch: None,
        }
    }

    /// Kafka's `updateFetchStateOrThrow`.
    pub fn update_fetch_state(
        &mut self,
        fetch_offset: i64,
        log_start_offset: i64,
        fetch_time_ms: u64,
        leader_end_offset: i64,
        broker_epoch: i64,
    ) {
        if fetch_offset >= leader_end_offset {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(Some(fetch_time_ms));
        } else if self.last_fetch_leader_log_end_offset >= 0
            && fetch_offset >= self.last_fetch_leader_log_end_offset
        {
            self.last_caught_up_time_ms = self
                .last_caught_up_time_ms
                .max(Some(self.last_fetch_time_ms));
        }
        self.log_start_offset = log_start_offset;
        self.log_end_offset = fetch_offset;
        self.last_fetch_leader_log_end_offset = leader_end_offset;
        self.last_fetch_time_ms = fetch_time_ms;
        self.broker_epoch = Some(broker_epoch);
    }

    /// Kafka's `isCaughtUp`: at the leader's end, or caught up within the lag time.
    pub fn is_caught_up(
        &self,
        leader_end_offset: i64,
        now_ms: u64,
        replica_lag_time_max_ms: u64,
    ) -> bool {
        leader_end_offset == self.log_end_offset
            || self
                .last_caught_up_time_ms
                .is_some_and(|t| now_ms.saturating_sub(t) <= replica_lag_time_max_ms)
    }
}
