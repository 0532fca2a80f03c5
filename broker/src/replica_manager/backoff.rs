//! How long a follower leaves a partition out of its fetches after a failure or a
//! round without progress (Kafka's per-partition `replica.fetch.backoff.ms` delay), so
//! a fetcher never spins on the same answer.

use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use super::{PartitionInner, ReplicaManager};

/// Leaves a replica out of fetches for `backoff` (it failed or made no progress).
pub(super) fn delay(inner: &mut PartitionInner, backoff: Duration) {
    inner.fetch_delayed_until = Some(Instant::now() + backoff);
}

/// How soon a follower asks again after a leader refused it because that leader has
/// not applied the metadata the follower already has (a leader change or a new topic
/// reaches the brokers a few ms apart). Waiting `replica.fetch.backoff.ms` (1 s) there
/// kept a new leader's high watermark still for a second after every controlled
/// shutdown, so acks=all produce stalled for that long.
const METADATA_LAG_BACKOFF: Duration = Duration::from_millis(20);

/// The backoff for a partition the leader answered with `error`.
pub(super) fn error_backoff(replicas: &ReplicaManager, error: ResponseError) -> Duration {
    match error {
        ResponseError::UnknownLeaderEpoch
        | ResponseError::NotLeaderOrFollower
        | ResponseError::UnknownTopicOrPartition => METADATA_LAG_BACKOFF,
        _ => Duration::from_millis(replicas.settings.fetch_backoff_ms.max(50)),
    }
}
