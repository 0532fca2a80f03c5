//! The follower replication throttle's share of one fetch round (Kafka's
//! `shouldFollowerThrottle` and the follower quota): which out-of-sync partitions of
//! throttled topics sit a round out, and how many bytes the others may ask for.

use std::collections::HashSet;
use std::sync::Arc;

use super::Partition;
use super::ReplicaManager;
use super::fetch_plan::Followed;

/// One fetch round's share of the follower replication throttle: the bytes reserved
/// for it and the most each throttled partition may ask the leader for, so the bytes
/// that arrive stay within the quota instead of overshooting it by a whole fetch.
#[derive(Default)]
pub(super) struct Grant {
    /// Throttled out-of-sync partitions in this round: (topic, partition).
    throttled: HashSet<(String, i32)>,
    /// Bytes held in the quota until the answer is recorded (released when dropped).
    _reservation: Option<Reservation>,
    /// `partition_max_bytes` for each throttled partition.
    per_partition: i32,
}

/// Bytes held in the follower quota for a fetch in flight, returned when dropped: also
/// when the fetcher is stopped mid-fetch (its leader changed), or the held bytes would
/// be lost to the quota for good and every later copy would crawl.
struct Reservation {
    replicas: Arc<ReplicaManager>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.replicas.follower_quota().release(self.bytes);
    }
}

impl Grant {
    pub(super) fn partition_max_bytes(&self, p: &Partition, configured: i32) -> i32 {
        // Asked per partition of every fetch: no key is built while nothing is throttled.
        if !self.throttled.is_empty()
            && self
                .throttled
                .contains(&(p.tp.topic.clone(), p.tp.partition))
        {
            configured.min(self.per_partition)
        } else {
            configured
        }
    }
}

/// Kafka's shouldFollowerThrottle: out-of-sync replicas of throttled partitions sit
/// out a round while this broker's throttled fetch rate is above the quota; otherwise
/// they share the quota's allowance (reserved until the answer is recorded, as the
/// fetchers of other leaders ask at the same time).
pub(super) fn unthrottled(
    replicas: &Arc<ReplicaManager>,
    followed: &Followed,
    fetches: Vec<(usize, tidewater_replication::FollowerFetch)>,
) -> (Vec<(usize, tidewater_replication::FollowerFetch)>, Grant) {
    let node = replicas.node_id;
    let image = replicas.cluster.image();
    let now = crate::clock::mono_ms();
    let mut quota = replicas.follower_quota();
    if !quota.throttles_any() {
        // Nothing to look up per partition (the common case).
        return (fetches, Grant::default());
    }
    let throttled: HashSet<(String, i32)> = fetches
        .iter()
        .map(|(i, _)| followed.partition(*i))
        .filter(|p| quota.is_throttled(&p.tp.topic, p.tp.partition))
        .filter(|p| {
            !image
                .topic(&p.tp.topic)
                .and_then(|t| t.partitions.get(&p.tp.partition))
                .is_some_and(|r| r.isr.contains(&node))
        })
        .map(|p| (p.tp.topic.clone(), p.tp.partition))
        .collect();
    if throttled.is_empty() || quota.quota().is_none() {
        return (fetches, Grant::default());
    }
    let reserved = if quota.is_quota_exceeded(now) {
        0
    } else {
        quota.reserve(now)
    };
    if reserved == 0 {
        let free = fetches
            .into_iter()
            .filter(|(i, _)| {
                let p = followed.partition(*i);
                !throttled.contains(&(p.tp.topic.clone(), p.tp.partition))
            })
            .collect();
        return (free, Grant::default());
    }
    let share = reserved / throttled.len() as u64;
    let per_partition = i32::try_from(share.max(1)).unwrap_or(i32::MAX);
    (
        fetches,
        Grant {
            throttled,
            _reservation: Some(Reservation {
                replicas: replicas.clone(),
                bytes: reserved,
            }),
            per_partition,
        },
    )
}
