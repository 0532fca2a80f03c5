//! KIP-227 incremental fetch sessions for replica fetch, both ends, sans-IO.
//!
//! - Follower: [`FollowerSession`] (Kafka's `FetchSessionHandler`) decides which
//!   partitions a fetch must list (new ones, and those whose position or quota share
//!   changed) and which it must forget, so an idle follower's fetch lists none of the
//!   thousands it follows. A top-level FETCH_SESSION_ID_NOT_FOUND or
//!   INVALID_FETCH_SESSION_EPOCH, or a failed round trip, makes the next fetch a full
//!   one, as in Kafka.
//! - Leader: [`ReplicaFetchPartition`] is what the leader's session cache (the shared
//!   [`FetchSessionCache`](crate::broker_server::fetch_sessions::FetchSessionCache)
//!   logic) remembers per partition, so it reads every partition of the session on
//!   each fetch and answers only those with news.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::broker_server::fetch_sessions::{FetchSessionCache, SessionPartition};

/// How a fetch names a partition: (topic name, topic id, partition), with the name
/// empty from Fetch v13 on (topics by id) and the id nil before it.
pub type SessionKey = (String, Uuid, i32);

/// The key `version` uses for a partition.
pub fn session_key(version: i16, name: &str, id: Uuid, partition: i32) -> SessionKey {
    if version >= 13 {
        (String::new(), id, partition)
    } else {
        (name.to_string(), Uuid::nil(), partition)
    }
}

/// A partition's fields in a follower's fetch: the follower resends the partition when
/// any of them changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

/// What the leader remembers of one partition of a follower's session.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaFetchPartition {
    pub key: SessionKey,
    /// The topic's name, resolved when the partition entered the session.
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub position: FetchPosition,
}

impl SessionPartition for ReplicaFetchPartition {
    type Key = SessionKey;
    fn key(&self) -> SessionKey {
        self.key.clone()
    }
}

/// Epochs with a protocol meaning (Kafka's `FetchMetadata`).
const INITIAL_EPOCH: i32 = 0;
/// No session: the leader is asked for none (Fetch below v7).
const SESSIONLESS_EPOCH: i32 = -1;

/// A fetch as the session shapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// Indices (into the partitions given to [`FollowerSession::build`]) to list.
    pub send: Vec<usize>,
    /// Partitions the leader should drop from the session.
    pub forgotten: Vec<SessionKey>,
}

impl SessionRequest {
    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH || self.epoch == SESSIONLESS_EPOCH
    }
}

/// The follower's side of one fetch session with one leader.
#[derive(Debug, Default)]
pub struct FollowerSession {
    /// 0 until the leader grants a session.
    session_id: i32,
    /// The epoch of the next request; 0 asks for a full fetch (and a new session).
    next_epoch: i32,
    /// What the leader's session holds after the last request, with the position it
    /// was last told.
    sent: HashMap<SessionKey, FetchPosition>,
    /// The epoch of the request in flight, until its answer is handled.
    in_flight: Option<i32>,
    /// The leader answered a full fetch without a session (no slot for one): every
    /// fetch is full, and not worth a log line each.
    refused: bool,
}

impl FollowerSession {
    /// Shapes the next fetch of `partitions` (every partition this round fetches).
    /// `sessions` is false below Fetch v7: every fetch is then full and sessionless.
    pub fn build(
        &mut self,
        partitions: &[(SessionKey, FetchPosition)],
        sessions: bool,
    ) -> SessionRequest {
        let all = || (0..partitions.len()).collect();
        if !sessions {
            *self = FollowerSession::default();
            return SessionRequest {
                session_id: 0,
                epoch: SESSIONLESS_EPOCH,
                send: all(),
                forgotten: Vec::new(),
            };
        }
        let epoch = self.next_epoch;
        self.in_flight = Some(epoch);
        if epoch == INITIAL_EPOCH {
            self.sent = partitions.iter().cloned().collect();
            return SessionRequest {
                session_id: self.session_id,
                epoch,
                send: all(),
                forgotten: Vec::new(),
            };
        }
        let mut send = Vec::new();
        let mut next = HashMap::with_capacity(partitions.len());
        for (i, (key, position)) in partitions.iter().enumerate() {
            if self.sent.get(key) != Some(position) {
                send.push(i);
            }
            next.insert(key.clone(), *position);
        }
        let forgotten = self
            .sent
            .keys()
            .filter(|k| !next.contains_key(*k))
            .cloned()
            .collect();
        self.sent = next;
        SessionRequest {
            session_id: self.session_id,
            epoch,
            send,
            forgotten,
        }
    }

    /// Handles the answer's top-level error and session id; false when its partitions
    /// must not be used (the leader refused the session: the next fetch is full).
    pub fn on_response(&mut self, error_code: i16, session_id: i32) -> bool {
        let Some(epoch) = self.in_flight.take() else {
            return error_code == 0;
        };
        if error_code == ResponseError::FetchSessionIdNotFound.code() {
            // The leader lost the session (restarted, evicted it): start a new one.
            self.session_id = 0;
            self.next_epoch = INITIAL_EPOCH;
            return false;
        }
        if error_code != 0 {
            // INVALID_FETCH_SESSION_EPOCH or anything else: close it and start again.
            self.next_epoch = INITIAL_EPOCH;
            return false;
        }
        if epoch == INITIAL_EPOCH {
            // Session id 0: the leader keeps no session (no slot): every fetch is full.
            self.session_id = session_id;
            self.refused = session_id == 0;
            self.next_epoch = if session_id == 0 { INITIAL_EPOCH } else { 1 };
        } else {
            self.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        }
        true
    }

    /// Whether `request` starts a session (the first fetch, or the next after one was
    /// lost) rather than repeating a full fetch the leader keeps no session for.
    pub fn starts_session(&self, request: &SessionRequest) -> bool {
        request.epoch == INITIAL_EPOCH && !self.refused
    }

    /// The round trip failed (connection lost, timeout): the leader may or may not
    /// have seen it, so the next fetch is full and replaces the session (Kafka's
    /// `handleError`).
    pub fn on_error(&mut self) {
        self.in_flight = None;
        self.next_epoch = INITIAL_EPOCH;
    }
}

/// Sessions a leader keeps for follower brokers: one per follower broker is in use
/// (its fetcher for this leader), the rest are left by restarted followers until the
/// least recently used is evicted.
const LEADER_SESSION_SLOTS: usize = 1000;

/// The leader's cache of follower sessions, apart from the consumers' so that
/// consumers never evict a follower's session.
pub fn leader_session_cache() -> FetchSessionCache<ReplicaFetchPartition> {
    let seed = Uuid::new_v4().as_u128() as i32 & 0x3fff_ffff;
    FetchSessionCache::new(LEADER_SESSION_SLOTS, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker_server::fetch_sessions::PartitionOutcome;

    fn key(p: i32) -> SessionKey {
        (String::new(), Uuid::from_u128(1), p)
    }

    fn pos(offset: i64) -> FetchPosition {
        FetchPosition {
            current_leader_epoch: 3,
            fetch_offset: offset,
            last_fetched_epoch: 3,
            log_start_offset: 0,
            partition_max_bytes: 1 << 20,
        }
    }

    #[test]
    fn idle_fetches_list_nothing_and_changes_are_resent() {
        let mut s = FollowerSession::default();
        let parts = vec![(key(0), pos(10)), (key(1), pos(20)), (key(2), pos(30))];
        let r = s.build(&parts, true);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (0, 0, 3));
        assert!(s.starts_session(&r));
        assert!(s.on_response(0, 42));

        let r = s.build(&parts, true);
        assert_eq!((r.session_id, r.epoch), (42, 1));
        assert!(r.send.is_empty() && r.forgotten.is_empty());
        assert!(s.on_response(0, 42));

        // Partition 1 moved on, 2 left the round (backing off), 3 is new.
        let parts = vec![(key(0), pos(10)), (key(1), pos(25)), (key(3), pos(0))];
        let r = s.build(&parts, true);
        assert_eq!(r.epoch, 2);
        assert_eq!(r.send, vec![1, 2]);
        assert_eq!(r.forgotten, vec![key(2)]);
        assert!(s.on_response(0, 42));
        assert_eq!(s.build(&parts, true).epoch, 3);
    }

    #[test]
    fn session_errors_and_lost_round_trips_make_the_next_fetch_full() {
        let parts = vec![(key(0), pos(10)), (key(1), pos(20))];
        for (error, id_after) in [(70, 0), (71, 42)] {
            let mut s = FollowerSession::default();
            s.build(&parts, true);
            s.on_response(0, 42);
            s.build(&parts, true);
            assert!(
                !s.on_response(error, 0),
                "error {error} is not a usable answer"
            );
            let r = s.build(&parts, true);
            assert_eq!((r.session_id, r.epoch, r.send.len()), (id_after, 0, 2));
        }
        let mut s = FollowerSession::default();
        s.build(&parts, true);
        s.on_response(0, 42);
        s.build(&parts, true);
        s.on_error();
        let r = s.build(&parts, true);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (42, 0, 2));
    }

    #[test]
    fn no_session_slot_or_old_version_means_full_fetches() {
        let parts = vec![(key(0), pos(10))];
        let mut s = FollowerSession::default();
        s.build(&parts, true);
        assert!(s.on_response(0, 0));
        let r = s.build(&parts, true);
        assert!(r.is_full() && !s.starts_session(&r));
        let r = s.build(&parts, false);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (0, -1, 1));
    }

    /// Both ends together: the leader's cache answers what the follower's session
    /// built, and a leader that lost its cache (a restart) is fetched in full again.
    #[test]
    fn follower_and_leader_sessions_agree() {
        let to_leader = |parts: &[(SessionKey, FetchPosition)], r: &SessionRequest| {
            r.send
                .iter()
                .map(|&i| ReplicaFetchPartition {
                    key: parts[i].0.clone(),
                    topic: "t".into(),
                    topic_id: parts[i].0.1,
                    partition: parts[i].0.2,
                    position: parts[i].1,
                })
                .collect::<Vec<_>>()
        };
        let quiet = PartitionOutcome {
            error_code: 0,
            high_watermark: 10,
            log_start_offset: 0,
            has_records: false,
        };
        let mut leader: FetchSessionCache<ReplicaFetchPartition> = FetchSessionCache::new(10, 5);
        let mut s = FollowerSession::default();
        let parts = vec![(key(0), pos(10)), (key(1), pos(10))];
        for round in 0..3 {
            let r = s.build(&parts, true);
            let ctx = leader
                .begin(r.session_id, r.epoch, to_leader(&parts, &r), &r.forgotten)
                .unwrap();
            assert_eq!(ctx.partitions.len(), 2, "the session holds both partitions");
            let include = leader.complete(&ctx, &[quiet, quiet]);
            let answered = include.iter().filter(|i| **i).count();
            assert_eq!(answered, if round == 0 { 2 } else { 0 });
            assert!(s.on_response(0, ctx.session_id()));
        }
        // The leader restarts: its cache is empty.
        let mut leader: FetchSessionCache<ReplicaFetchPartition> = FetchSessionCache::new(10, 9);
        let r = s.build(&parts, true);
        let code = leader
            .begin(r.session_id, r.epoch, to_leader(&parts, &r), &r.forgotten)
            .unwrap_err();
        assert!(!s.on_response(code, 0));
        let r = s.build(&parts, true);
        let ctx = leader
            .begin(r.session_id, r.epoch, to_leader(&parts, &r), &r.forgotten)
            .unwrap();
        assert_eq!(ctx.partitions.len(), 2);
        assert!(s.on_response(0, ctx.session_id()));
    }
}
