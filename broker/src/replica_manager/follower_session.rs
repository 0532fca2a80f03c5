//! A follower's side of its KIP-227 fetch session with one leader (Kafka's
//! `FetchSessionHandler`): the first request lists every partition and opens a
//! session; later ones list only the partitions whose request changed (a new fetch
//! offset, leader epoch, log start or size) and the ones to forget. An idle follower
//! of thousands of partitions then sends and receives almost nothing per round.
//!
//! Sans-IO: [`FollowerSession::next`] decides what a request carries,
//! [`FollowerSession::on_response`] / [`FollowerSession::reset`] what comes after.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use kafka_protocol::ResponseError;
use tidewater_storage::TopicPartition;

/// What a fetch request says about one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    pub topic_id: uuid::Uuid,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

/// The fetch offset a held partition is marked with to be named again: no request
/// carries it, so the next one differs from what the session holds.
const RESEND: i64 = i64::MIN;

/// The next request's session fields and contents.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Next {
    pub session_id: i32,
    pub session_epoch: i32,
    /// Indexes into the wanted partitions to put in the request.
    pub include: Vec<usize>,
    pub forget: Vec<TopicPartition>,
}

/// The session with one leader.
#[derive(Debug, Default)]
pub(super) struct FollowerSession {
    /// 0 until the leader opened one.
    id: i32,
    /// The epoch the next request carries; 0 asks for a new session (full request).
    epoch: i32,
    /// What the leader holds for each partition of the session.
    sent: HashMap<TopicPartition, Sent>,
    /// What the request in flight changes (applied to `sent` when answered).
    pending: Option<Pending>,
}

/// The changes one request makes to the session: only those are copied, so an idle
/// round over thousands of partitions allocates nothing per partition.
#[derive(Debug)]
struct Pending {
    full: bool,
    changed: Vec<(TopicPartition, Sent)>,
    forget: Vec<TopicPartition>,
}

impl FollowerSession {
    /// What to send for `wanted` (every partition this follower fetches now).
    pub(super) fn next<T: Borrow<TopicPartition>>(&mut self, wanted: &[(T, Sent)]) -> Next {
        let full = self.epoch == 0;
        let mut include = Vec::new();
        // How many wanted partitions the session holds: all of it when this is every
        // partition in the session, so nothing is to be forgotten.
        let mut held = 0;
        for (i, (tp, s)) in wanted.iter().enumerate() {
            match self.sent.get(tp.borrow()) {
                Some(prev) if !full => {
                    held += 1;
                    if prev != s {
                        include.push(i);
                    }
                }
                _ => include.push(i),
            }
        }
        let forget: Vec<TopicPartition> = if full || held == self.sent.len() {
            Vec::new()
        } else {
            let now: HashSet<&TopicPartition> = wanted.iter().map(|(tp, _)| tp.borrow()).collect();
            self.sent
                .keys()
                .filter(|tp| !now.contains(tp))
                .cloned()
                .collect()
        };
        self.request(full, wanted, include, forget)
    }

    /// Remembers what the request changes (applied when answered) and builds it.
    fn request<T: Borrow<TopicPartition>>(
        &mut self,
        full: bool,
        wanted: &[(T, Sent)],
        include: Vec<usize>,
        forget: Vec<TopicPartition>,
    ) -> Next {
        self.pending = Some(Pending {
            full,
            changed: include
                .iter()
                .map(|&i| (wanted[i].0.borrow().clone(), wanted[i].1))
                .collect(),
            forget: forget.clone(),
        });
        Next {
            session_id: self.id,
            session_epoch: self.epoch,
            include,
            forget,
        }
    }

    /// Whether the next request must be full (no session is open): every partition
    /// must be in `wanted` then, so [`Self::next`], not [`Self::next_partial`].
    pub(super) fn needs_full(&self) -> bool {
        self.epoch == 0
    }

    /// The topic id the session holds `tp` under: what a request forgetting it names
    /// (the topic may be gone from this broker's metadata by then).
    pub(super) fn topic_id(&self, tp: &TopicPartition) -> Option<uuid::Uuid> {
        self.sent.get(tp).map(|s| s.topic_id)
    }

    /// Whether the session holds any partition (an incremental request with no changes
    /// still long-polls for them).
    pub(super) fn holds_any(&self) -> bool {
        !self.sent.is_empty()
    }

    /// An incremental request when only `changed` (partitions with a new request) and
    /// `stopped` (partitions no longer fetched) may differ from what the leader holds:
    /// every other partition of the session is left as it is, without being looked at.
    /// Only for an open session ([`Self::needs_full`] false).
    pub(super) fn next_partial<T: Borrow<TopicPartition>>(
        &mut self,
        changed: &[(T, Sent)],
        stopped: &[T],
    ) -> Next {
        let include: Vec<usize> = changed
            .iter()
            .enumerate()
            .filter(|(_, (tp, s))| self.sent.get(tp.borrow()) != Some(s))
            .map(|(i, _)| i)
            .collect();
        let forget: Vec<TopicPartition> = stopped
            .iter()
            .map(|tp| tp.borrow())
            .filter(|tp| self.sent.contains_key(*tp))
            .cloned()
            .collect();
        self.request(false, changed, include, forget)
    }

    /// The leader answered the request `next` built with `session_id` and no top-level
    /// error.
    pub(super) fn on_response(&mut self, session_id: i32) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if session_id == 0 {
            // No session (the leader's cache is off or full): every request is full.
            self.id = 0;
            self.epoch = 0;
            self.sent.clear();
            return;
        }
        self.id = session_id;
        self.epoch = if self.epoch == 0 || self.epoch == i32::MAX {
            1
        } else {
            self.epoch + 1
        };
        if pending.full {
            self.sent.clear();
        }
        for tp in &pending.forget {
            self.sent.remove(tp);
        }
        self.sent.extend(pending.changed);
    }

    /// The leader answered `tp` with an error: it may not have entered the session
    /// (e.g. UNKNOWN_TOPIC_ID from a leader whose metadata lags), so the next request
    /// names it again. It stays held all the same: the error may come from a partition
    /// the session does hold (NOT_LEADER_OR_FOLLOWER from a leader that deleted it),
    /// and such a partition must be forgotten once it is no longer fetched, or its
    /// error ends every long poll of the session at once.
    pub(super) fn resend(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.sent.get_mut(tp) {
            s.fetch_offset = RESEND;
        }
    }

    /// The request failed (a connection error, or the leader lost or refused the
    /// session): the next request is full again and replaces the session on the leader.
    pub(super) fn reset(&mut self) {
        self.epoch = 0;
        self.pending = None;
        self.sent.clear();
    }

    /// Whether a top-level fetch error is the session's own (retry at once, full).
    pub(super) fn is_session_error(error: Option<ResponseError>) -> bool {
        matches!(
            error,
            Some(ResponseError::FetchSessionIdNotFound | ResponseError::InvalidFetchSessionEpoch)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(offset: i64) -> Sent {
        Sent {
            topic_id: uuid::Uuid::nil(),
            fetch_offset: offset,
            current_leader_epoch: 1,
            last_fetched_epoch: 1,
            log_start_offset: 0,
            partition_max_bytes: 1 << 20,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn full_then_incremental_then_forgotten() {
        let mut s = FollowerSession::default();
        let wanted = vec![(tp(0), sent(5)), (tp(1), sent(7))];
        let n = s.next(&wanted);
        assert_eq!((n.session_id, n.session_epoch), (0, 0));
        assert_eq!(n.include, vec![0, 1]);
        s.on_response(42);
        // idle: nothing changed, nothing sent
        let n = s.next(&wanted);
        assert_eq!((n.session_id, n.session_epoch), (42, 1));
        assert!(n.include.is_empty() && n.forget.is_empty());
        s.on_response(42);
        // partition 1 advanced, partition 0 left, partition 2 joined
        let wanted = vec![(tp(1), sent(9)), (tp(2), sent(0))];
        let n = s.next(&wanted);
        assert_eq!(n.session_epoch, 2);
        assert_eq!(n.include, vec![0, 1]);
        assert_eq!(n.forget, vec![tp(0)]);
        s.on_response(42);
        let n = s.next(&wanted);
        assert_eq!(n.session_epoch, 3);
        assert!(n.include.is_empty() && n.forget.is_empty());
        // answered with an error: named again next time
        s.on_response(42);
        s.resend(&tp(2));
        assert_eq!(s.next(&wanted).include, vec![1]);
        s.on_response(42);
        // Answered with an error, then no longer fetched (its topic deleted): the
        // leader's session may hold it, so it is forgotten, under its topic id.
        s.resend(&tp(2));
        let n = s.next(&[(tp(1), sent(9))]);
        assert!(n.include.is_empty());
        assert_eq!(n.forget, vec![tp(2)]);
        assert_eq!(s.topic_id(&tp(2)), Some(uuid::Uuid::nil()));
        s.on_response(42);
        assert_eq!(s.topic_id(&tp(2)), None);
    }

    #[test]
    fn a_partial_request_names_only_what_changed_or_stopped() {
        let mut s = FollowerSession::default();
        assert!(s.needs_full() && !s.holds_any());
        let wanted = vec![(tp(0), sent(5)), (tp(1), sent(7)), (tp(2), sent(1))];
        s.next(&wanted);
        s.on_response(42);
        assert!(!s.needs_full() && s.holds_any());
        // Partition 0 looked at again unchanged, 1 advanced, 2 stopped (backing off).
        let n = s.next_partial(&[(tp(0), sent(5)), (tp(1), sent(8))], &[tp(2)]);
        assert_eq!((n.session_id, n.session_epoch), (42, 1));
        assert_eq!((n.include, n.forget), (vec![1], vec![tp(2)]));
        s.on_response(42);
        // Nothing looked at: nothing sent, the session keeps 0 and 1.
        let n = s.next_partial::<TopicPartition>(&[], &[]);
        assert!(n.include.is_empty() && n.forget.is_empty());
        s.on_response(42);
        // 2 is back; stopping a partition the session does not hold forgets nothing.
        let n = s.next_partial(&[(tp(2), sent(1))], &[tp(3)]);
        assert_eq!((n.include, n.forget), (vec![0], vec![]));
        s.on_response(42);
        let n = s.next(&[(tp(0), sent(5)), (tp(1), sent(8)), (tp(2), sent(1))]);
        assert!(n.include.is_empty() && n.forget.is_empty());
    }

    #[test]
    fn a_reset_or_a_sessionless_leader_makes_every_request_full() {
        let mut s = FollowerSession::default();
        let wanted = vec![(tp(0), sent(5))];
        s.next(&wanted);
        s.on_response(7);
        s.next(&wanted);
        s.reset();
        let n = s.next(&wanted);
        // the old id goes along with epoch 0 so the leader replaces the session
        assert_eq!((n.session_id, n.session_epoch, n.include.len()), (7, 0, 1));
        s.on_response(0);
        let n = s.next(&wanted);
        assert_eq!((n.session_id, n.session_epoch, n.include.len()), (0, 0, 1));
        assert!(FollowerSession::is_session_error(Some(
            ResponseError::InvalidFetchSessionEpoch
        )));
        assert!(!FollowerSession::is_session_error(None));
    }
}
