//! Fetch from the closest replica (KIP-392): Kafka's `RackAwareReplicaSelector` and the
//! candidate filtering of `ReplicaManager.findPreferredReadReplica`.
//!
//! It only chooses; the caller puts the choice into the fetch response's
//! `PreferredReadReplica` and knows the brokers' racks (`broker.rack`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::ReplicaId;
use crate::leader::LeaderState;

/// One replica as the selector sees it (Kafka's `ReplicaView`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub id: ReplicaId,
    pub rack: Option<String>,
    pub log_end_offset: i64,
    pub time_since_last_caught_up_ms: u64,
}

/// Kafka's `RackAwareReplicaSelector`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RackAwareReplicaSelector;

impl RackAwareReplicaSelector {
    /// Without a `client.rack`, or with no replica in it, the leader. If the leader is in
    /// the client's rack, the leader. Otherwise the most caught-up replica in that rack:
    /// highest log end offset, then most recently caught up (then lowest id, so the
    /// choice is stable where Kafka's hash-set order is not).
    pub fn select<'a>(
        &self,
        client_rack: Option<&str>,
        leader: &'a ReplicaView,
        replicas: &'a [ReplicaView],
    ) -> &'a ReplicaView {
        let Some(rack) = client_rack.filter(|r| !r.is_empty()) else {
            return leader;
        };
        if leader.rack.as_deref() == Some(rack) {
            return leader;
        }
        replicas
            .iter()
            .filter(|r| r.rack.as_deref() == Some(rack))
            .max_by(|a, b| compare_views(a, b))
            .unwrap_or(leader)
    }

    /// Kafka's `findPreferredReadReplica` for a consumer fetch at `fetch_offset`: only
    /// in-sync followers that hold `fetch_offset` are candidates (a lagging follower
    /// may not have the data, or may be truncated). `None` means "read from the leader".
    pub fn preferred_read_replica(
        &self,
        leader: &LeaderState,
        racks: &BTreeMap<ReplicaId, String>,
        client_rack: Option<&str>,
        fetch_offset: i64,
        now_ms: u64,
    ) -> Option<ReplicaId> {
        let leader_view = ReplicaView {
            id: leader.local_id(),
            rack: racks.get(&leader.local_id()).cloned(),
            log_end_offset: leader.log_end_offset(),
            time_since_last_caught_up_ms: 0,
        };
        let candidates: Vec<ReplicaView> = leader
            .isr()
            .iter()
            .filter(|&&id| id != leader.local_id())
            .filter_map(|&id| leader.follower(id).map(|v| (id, v)))
            .filter(|(_, v)| v.log_end_offset >= fetch_offset && v.log_start_offset <= fetch_offset)
            .map(|(id, v)| ReplicaView {
                id,
                rack: racks.get(&id).cloned(),
                log_end_offset: v.log_end_offset,
                time_since_last_caught_up_ms: v
                    .last_caught_up_time_ms
                    .map_or(u64::MAX, |t| now_ms.saturating_sub(t)),
            })
            .collect();
        let chosen = self.select(client_rack, &leader_view, &candidates);
        (chosen.id != leader_view.id).then_some(chosen.id)
    }
}

/// Orders views the way the selector prefers them (greatest = preferred); exposed for
/// callers that rank replicas for other purposes (e.g. metrics).
pub fn compare_views(a: &ReplicaView, b: &ReplicaView) -> Ordering {
    a.log_end_offset
        .cmp(&b.log_end_offset)
        .then(
            b.time_since_last_caught_up_ms
                .cmp(&a.time_since_last_caught_up_ms),
        )
        .then(b.id.cmp(&a.id))
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
