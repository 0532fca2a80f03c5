//! What the controller listener shares with its [`super::QuorumNode`] beyond raft: the
//! slot the node's controller fills once it exists (the listener starts first), the
//! applied-entry window and image that metadata fetches are answered from, and the
//! observers and voter acknowledgements DescribeQuorum reports.
//!
//! Answers come from APPLIED (committed) state only, so an observer never sees a
//! record that could still be rolled back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use openraft::{BasicNode, Raft, RaftMetrics};
use tokio::sync::watch;

use super::TypeConfig;
use super::leader_loss::LeaderSeen;
use super::network::PeerAcks;
use super::recent::RecentEntries;
use crate::image::MetadataImage;
use crate::rpc::{MetadataDelta, QuorumInfo, ReplicaProgress};
use crate::service::ControllerShared;

/// Longest a fetch may wait for new entries, whatever the observer asks.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);

/// Observers silent this long are no longer listed (Kafka drops them similarly).
const OBSERVER_EXPIRY: Duration = Duration::from_secs(60);

/// Observers tracked at most, so fetches naming ever new ids cannot grow the map.
const MAX_OBSERVERS: usize = 4096;

/// An observer's last fetch.
#[derive(Debug, Clone, Copy)]
struct ObserverSeen {
    /// The log index it had (its fetch's `after`).
    offset: u64,
    at: Instant,
}

/// State shared by the node and its listener task.
pub(crate) struct ListenerState {
    pub node_id: u64,
    pub raft: Raft<TypeConfig>,
    pub cluster_id: Arc<str>,
    /// The controller running on this node, set by `QuorumController::new`. Weak, so
    /// a dropped controller stops deciding even while connections stay open.
    pub controller: OnceLock<Weak<ControllerShared>>,
    recent: RecentEntries,
    image: watch::Receiver<Arc<MetadataImage>>,
    acks: PeerAcks,
    observers: Mutex<BTreeMap<i32, ObserverSeen>>,
    /// The raft leader this node last accepted AppendEntries from, and when.
    pub leader_seen: LeaderSeen,
}

impl ListenerState {
    pub fn new(
        node_id: u64,
        raft: Raft<TypeConfig>,
        cluster_id: Arc<str>,
        recent: RecentEntries,
        image: watch::Receiver<Arc<MetadataImage>>,
        acks: PeerAcks,
    ) -> Self {
        Self {
            node_id,
            raft,
            cluster_id,
            controller: OnceLock::new(),
            recent,
            image,
            acks,
            observers: Mutex::new(BTreeMap::new()),
            leader_seen: LeaderSeen::default(),
        }
    }

    /// Answers a FetchMetadata: entries after `after`, or the whole image when the
    /// window no longer reaches back that far (or `after` is 0). Waits up to `max_wait`
    /// for something newer when there is nothing yet.
    pub async fn fetch_metadata(
        &self,
        after: u64,
        max_wait: Duration,
        observer_id: Option<i32>,
    ) -> MetadataDelta {
        if let Some(id) = observer_id {
            self.saw_observer(id, after);
        }
        if self.recent.last_index() <= after {
            let mut image = self.image.clone();
            let newer = image.wait_for(|i| i.offset > after);
            // A timeout (or a stopped state machine) just answers with what there is.
            let _ = tokio::time::timeout(max_wait.min(MAX_FETCH_WAIT), newer).await;
        }
        let image = self.image.borrow().clone();
        answer_fetch(&self.recent, &image, after)
    }

    fn saw_observer(&self, id: i32, offset: u64) {
        let mut observers = self
            .observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        observers.retain(|_, seen| seen.at.elapsed() < OBSERVER_EXPIRY);
        if observers.len() >= MAX_OBSERVERS && !observers.contains_key(&id) {
            return;
        }
        observers.insert(
            id,
            ObserverSeen {
                offset,
                at: Instant::now(),
            },
        );
    }

    /// DescribeQuorum from this node's point of view (meaningful on the leader).
    pub fn quorum_info(&self) -> QuorumInfo {
        let metrics = self.raft.metrics().borrow().clone();
        let observers: Vec<(i32, u64, Duration)> = self
            .observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, seen)| seen.at.elapsed() < OBSERVER_EXPIRY)
            .map(|(id, seen)| (*id, seen.offset, seen.at.elapsed()))
            .collect();
        quorum_info(&metrics, &observers, |peer| self.acks.since_last_ack(peer))
    }
}

/// A fetch's answer: the window's entries after `after`, or `image` (the state
/// machine's latest) when the window does not reach back to `after + 1`.
pub(crate) fn answer_fetch(
    recent: &RecentEntries,
    image: &MetadataImage,
    after: u64,
) -> MetadataDelta {
    match recent.entries_after(after) {
        Some(entries) => MetadataDelta::Entries(entries),
        None => MetadataDelta::Image(Box::new(image.clone())),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Builds DescribeQuorum's answer from raft metrics; `observers` are (id, offset, age)
/// and `last_ack` tells when a voter last acknowledged replication.
pub(crate) fn quorum_info(
    m: &RaftMetrics<u64, BasicNode>,
    observers: &[(i32, u64, Duration)],
    last_ack: impl Fn(u64) -> Option<Duration>,
) -> QuorumInfo {
    let to_i32 = |id: u64| i32::try_from(id).unwrap_or(i32::MAX);
    let index = |log_id: Option<&openraft::LogId<u64>>| log_id.map_or(0, |l| l.index as i64);
    // A peer the leader replicates to; no matched entry yet (still being caught up):
    // log end unknown.
    let replicated = |id: u64| {
        let matched = m.replication.as_ref().and_then(|r| r.get(&id));
        ReplicaProgress {
            replica_id: to_i32(id),
            log_end_offset: matched
                .and_then(Option::as_ref)
                .map_or(-1, |l| l.index as i64),
            last_fetch_ms_ago: last_ack(id).map_or(-1, ms),
        }
    };
    let voter_ids: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    let voters = voter_ids
        .iter()
        .map(|&id| {
            if id == m.id {
                ReplicaProgress {
                    replica_id: to_i32(id),
                    log_end_offset: m.last_log_index.map_or(0, |i| i as i64),
                    last_fetch_ms_ago: 0,
                }
            } else {
                replicated(id)
            }
        })
        .collect();
    let membership = m.membership_config.membership();
    // Controllers being added: learners the leader replicates to.
    let learners = membership.learner_ids().map(replicated);
    let learner_ids: Vec<u64> = membership.learner_ids().collect();
    let fetchers = observers
        .iter()
        .filter(|(id, _, _)| {
            let id = *id as u64;
            !voter_ids.contains(&id) && !learner_ids.contains(&id)
        })
        .map(|&(id, offset, age)| ReplicaProgress {
            replica_id: id,
            log_end_offset: i64::try_from(offset).unwrap_or(i64::MAX),
            last_fetch_ms_ago: ms(age),
        });
    let endpoints = voter_ids
        .iter()
        .filter_map(|id| {
            membership
                .get_node(id)
                .map(|n| (to_i32(*id), n.addr.clone()))
        })
        .collect();
    QuorumInfo {
        leader_id: m.current_leader.map_or(-1, to_i32),
        leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
        high_watermark: index(m.last_applied.as_ref()),
        voters,
        observers: learners.chain(fetchers).collect(),
        endpoints,
    }
}

#[cfg(test)]
mod tests;
