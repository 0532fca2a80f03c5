//! Which partitions a follower's fetch round looks at (the follower side of KIP-227):
//! the partitions that follow one leader, and among them the "dirty" ones — named in
//! the leader's last answer (new data, a new high watermark, an error), backing off,
//! truncating, or not sent yet. Only those are locked and recomputed in a round; the
//! others are unchanged in the fetch session, so an incremental request leaves them
//! out anyway. At 10,000 partitions, recomputing all of them every
//! `replica.fetch.wait.max.ms` was most of an idle follower's CPU.
//!
//! A full pass over every partition still runs when the list of followed partitions
//! changes, when the session must be opened again (a full request), while a follower
//! throttle is configured (its grants change every round), and every [`FULL_PASS`] as a
//! safety net for what changes a log outside the fetcher (retention moving the log
//! start offset).
//!
//! It owns no IO: the fetcher (`fetcher.rs`) sends what [`plan`] returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidewater_replication::{FollowerFetch, FollowerRequest};
use tidewater_storage::TopicPartition;
use tracing::warn;

use super::{Partition, ReplicaManager, Role};

/// How often a round looks at every followed partition even if none is dirty.
pub(super) const FULL_PASS: Duration = Duration::from_secs(5);

/// The partitions that followed one leader when last looked at, and the
/// [`ReplicaManager::follower_generation`] they were looked at under: a fetch round
/// goes over these instead of every partition on the broker (a third of them with
/// three leaders), until a partition starts or stops following someone.
#[derive(Default)]
pub(super) struct Followed {
    generation: Option<u64>,
    partitions: Vec<Arc<Partition>>,
    /// (topic id, partition) -> index in `partitions`, to find a partition the
    /// leader's answer names (Fetch v13+ names topics by id).
    by_id: HashMap<(u128, i32), usize>,
    /// The same by name, built on the first answer that names topics (Fetch < v13).
    by_name: Option<HashMap<TopicPartition, usize>>,
    /// The fetch the session holds for each partition (what the leader answers for),
    /// `None` when it is not fetched.
    sent: Vec<Option<FollowerFetch>>,
    /// Partitions the next round must recompute.
    dirty: DirtySet,
    /// This broker's epoch as its last fetch carried it (KIP-903): a request naming no
    /// partition must still carry it, as the leader checks it for every partition of
    /// the session (-1 would be STALE_BROKER_EPOCH for all of them).
    broker_epoch: Option<i64>,
}

impl Followed {
    /// Looks at the broker's partitions again if any started or stopped following a
    /// leader since the last look; the next round is then a full pass.
    pub(super) fn refresh(&mut self, replicas: &ReplicaManager, leader: i32) {
        // Read before the scan: a partition that starts following during it bumps
        // the generation past this one, and the next round looks again.
        let generation = replicas.follower_generation();
        if self.generation == Some(generation) {
            return;
        }
        self.partitions = replicas
            .all()
            .into_iter()
            .filter(|p| matches!(&p.lock().role, Role::Follower(f) if f.leader_id() == leader))
            .collect();
        self.by_id = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.topic_id, p.tp.partition), i))
            .collect();
        self.by_name = None;
        self.sent = vec![None; self.partitions.len()];
        self.dirty = DirtySet::new(self.partitions.len());
        self.generation = Some(generation);
    }

    pub(super) fn partition(&self, i: usize) -> &Arc<Partition> {
        &self.partitions[i]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The partitions this round recomputes; `force_full` (or a due safety-net pass)
    /// makes it all of them. Returns them and whether this is a full pass.
    pub(super) fn round(&mut self, force_full: bool, now: Instant) -> (Vec<usize>, bool) {
        self.dirty.round(force_full, now)
    }

    /// `i` must be recomputed next round.
    pub(super) fn mark(&mut self, i: usize) {
        self.dirty.mark(i);
    }

    /// `i`'s fetch reached the leader in an answered request: nothing to redo for it
    /// unless the answer names it.
    pub(super) fn clean(&mut self, i: usize) {
        self.dirty.clean(i);
    }

    /// What this round asks for `i` (`None`: not fetched).
    pub(super) fn set_sent(&mut self, i: usize, fetch: Option<FollowerFetch>) {
        if let Some(f) = &fetch {
            self.broker_epoch = Some(f.broker_epoch);
        }
        self.sent[i] = fetch;
    }

    /// The broker epoch the session's fetches carried (see `broker_epoch`).
    pub(super) fn broker_epoch(&self) -> Option<i64> {
        self.broker_epoch
    }

    /// The fetch the leader holds for `i`, if it is fetched.
    pub(super) fn sent(&self, i: usize) -> Option<FollowerFetch> {
        self.sent[i]
    }

    pub(super) fn index_by_id(&self, topic_id: u128, partition: i32) -> Option<usize> {
        self.by_id.get(&(topic_id, partition)).copied()
    }

    pub(super) fn index_by_name(&mut self, topic: &str, partition: i32) -> Option<usize> {
        let partitions = &self.partitions;
        let by_name = self.by_name.get_or_insert_with(|| {
            partitions
                .iter()
                .enumerate()
                .map(|(i, p)| (p.tp.clone(), i))
                .collect()
        });
        by_name.get(&TopicPartition::new(topic, partition)).copied()
    }
}

/// The dirty marks of one fetcher's partitions (by index), and when the next full pass
/// is due.
#[derive(Debug, Default)]
pub(super) struct DirtySet {
    dirty: Vec<bool>,
    /// `None`: the next round is a full pass.
    full_due: Option<Instant>,
}

impl DirtySet {
    pub(super) fn new(len: usize) -> Self {
        Self {
            dirty: vec![false; len],
            full_due: None,
        }
    }

    pub(super) fn round(&mut self, force_full: bool, now: Instant) -> (Vec<usize>, bool) {
        let full = force_full || self.full_due.is_none_or(|t| now >= t);
        if full {
            self.full_due = Some(now + FULL_PASS);
            return ((0..self.dirty.len()).collect(), true);
        }
        // A scan of flags is a few microseconds at thousands of partitions; the
        // partition locks it spares are what cost.
        let picked = self
            .dirty
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.then_some(i))
            .collect();
        (picked, false)
    }

    pub(super) fn mark(&mut self, i: usize) {
        if let Some(d) = self.dirty.get_mut(i) {
            *d = true;
        }
    }

    pub(super) fn clean(&mut self, i: usize) {
        if let Some(d) = self.dirty.get_mut(i) {
            *d = false;
        }
    }
}

/// What the fetcher for one leader should do next.
pub(super) struct Plan {
    /// The looked-at partitions (indexes in [`Followed`]) that are not backing off,
    /// with their request.
    pub work: Vec<(usize, FollowerRequest)>,
    /// Looked-at partitions with nothing to fetch (backing off, fenced, no longer
    /// following this leader): a session holding them forgets them.
    pub stopped: Vec<usize>,
    /// Whether any looked-at partition follows this leader.
    pub any: bool,
    /// The earliest time a backing-off partition becomes ready again.
    pub next_ready: Option<Instant>,
}

impl Plan {
    /// The fetches among the work.
    pub(super) fn fetches(&self) -> Vec<(usize, FollowerFetch)> {
        self.work
            .iter()
            .filter_map(|(i, r)| match r {
                FollowerRequest::Fetch(f) => Some((*i, *f)),
                _ => None,
            })
            .collect()
    }
}

/// What the partitions `picked` (indexes in `followed`) following `leader` need next.
/// Every picked partition stays dirty until a fetch carrying its request is answered.
pub(super) fn plan(followed: &mut Followed, picked: &[usize], leader: i32) -> Plan {
    let mut plan = Plan {
        work: Vec::new(),
        stopped: Vec::new(),
        any: false,
        next_ready: None,
    };
    let now = Instant::now();
    for &i in picked {
        followed.mark(i);
        let p = followed.partition(i).clone();
        let mut inner = p.lock();
        let delayed = inner.fetch_delayed_until.filter(|t| *t > now);
        let Role::Follower(state) = &mut inner.role else {
            plan.stopped.push(i);
            continue;
        };
        if state.leader_id() != leader {
            plan.stopped.push(i);
            continue;
        }
        plan.any = true;
        if let Some(t) = delayed {
            plan.next_ready = Some(plan.next_ready.map_or(t, |n| n.min(t)));
            plan.stopped.push(i);
            continue;
        }
        let log = &p.log;
        let mut request =
            p.with_epochs(|e| state.next_request(e, log.log_start_offset(), log.log_end_offset()));
        if let FollowerRequest::TruncateToHighWatermark { offset } = request {
            match log.truncate_to(offset) {
                Ok(()) => state.on_truncated_to_high_watermark(),
                Err(e) => warn!(tp = %p.tp, error = %e, "truncation failed"),
            }
            request = p.with_epochs(|e| {
                state.next_request(e, log.log_start_offset(), log.log_end_offset())
            });
        }
        drop(inner);
        if !matches!(request, FollowerRequest::Fetch(_)) {
            plan.stopped.push(i);
        }
        plan.work.push((i, request));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dirty_partitions_between_full_passes() {
        let t0 = Instant::now();
        let mut d = DirtySet::new(4);
        // The first round is a full pass.
        assert_eq!(d.round(false, t0), (vec![0, 1, 2, 3], true));
        // Nothing dirty: an idle round looks at nothing.
        assert_eq!(d.round(false, t0), (vec![], false));
        d.mark(2);
        d.mark(0);
        assert_eq!(d.round(false, t0), (vec![0, 2], false));
        d.clean(0);
        assert_eq!(d.round(false, t0), (vec![2], false));
        // Forced (a new session, a throttle) or due: every partition again.
        assert!(d.round(true, t0).1);
        assert_eq!(d.round(false, t0 + FULL_PASS / 2), (vec![2], false));
        assert_eq!(d.round(false, t0 + FULL_PASS), (vec![0, 1, 2, 3], true));
        // Out-of-range marks (a list refreshed meanwhile) are ignored.
        d.mark(9);
        d.clean(9);
    }
}
