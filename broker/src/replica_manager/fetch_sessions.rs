//! Incremental fetch sessions (KIP-227): the broker remembers what each consumer
//! fetches so follow-up requests list only the partitions that changed, and
//! responses only the partitions with news.
//!
//! Sans-IO: [`FetchSessionCache::begin`] resolves a request against the cache
//! into the partitions to read, and [`FetchSessionCache::complete`] decides which
//! read results go into the response and remembers what was sent.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use tidewater_storage::TopicPartition;
use uuid::Uuid;

pub use super::lookup::ReplicaSlot;

/// Epoch values with a protocol meaning (`FetchMetadata` in Kafka).
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;

/// What a fetch asks of one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    /// `CurrentLeaderEpoch`, `LastFetchedEpoch` and `LogStartOffset` as sent (-1 when
    /// not): a follower's session keeps them, like its fetch offset.
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
    /// This broker's replica of `tp` as last looked up, kept with the request the
    /// session holds (see [`ReplicaSlot`]).
    pub replica: ReplicaSlot,
}

/// A partition a request tells the session to forget.
#[derive(Debug, Clone, PartialEq)]
pub enum Forget {
    /// By name: Fetch < v13, or a topic id this broker still knows.
    Name(TopicPartition),
    /// By topic id and partition: a Fetch v13+ naming a topic this broker no longer
    /// knows (deleted). The session holds it under its old name; left there, its
    /// error (NOT_LEADER_OR_FOLLOWER: no replica) would end every long poll of the
    /// session at once.
    Id(Uuid, i32),
}

/// Per-partition facts that decide whether an incremental response includes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionOutcome {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub has_records: bool,
    /// When (ms, leader generation) the partition was read for this answer; `None`
    /// when its read was skipped as quiet (see [`Hint`]) or for a consumer.
    pub evaluated: Option<(u64, u64)>,
}

/// What the session knew of an incremental fetch's partition before this request:
/// enough for a leader to skip reading a follower's partition that is quiet (not
/// named in the request, nothing new to send, read recently under the same
/// leadership) — the read an idle session would otherwise repeat for thousands of
/// partitions every `replica.fetch.wait.max.ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hint {
    /// Named in this request (a new fetch offset or epoch): must be read.
    pub fresh: bool,
    /// The (high watermark, log start offset) the client was last told.
    pub last_sent: Option<(i64, i64)>,
    /// When (ms, leader generation) it was last read for this session.
    pub evaluated: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// Shared with every [`FetchContext`] of the session: an incremental fetch of an
    /// idle session copies pointers, not thousands of topic names.
    request: Arc<FetchPartition>,
    /// What the last response told the client (None: never sent).
    last_sent: Option<(i64, i64)>,
    /// When (ms, leader generation) it was last read (see [`Hint`]).
    evaluated: Option<(u64, u64)>,
    /// The request tick that last named it.
    named_at: u64,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    epoch: i32,
    partitions: IndexMap<TopicPartition, Cached>,
    last_used: u64,
}

/// How a request relates to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// No session: answer every requested partition, session id 0.
    Sessionless,
    /// A new session: answer every partition.
    Full { session_id: i32 },
    /// An existing session: answer only partitions with news.
    Incremental { session_id: i32 },
}

/// A resolved fetch: which partitions to read and how to shape the answer.
#[derive(Debug, Clone)]
pub struct FetchContext {
    pub kind: SessionKind,
    pub partitions: Vec<Arc<FetchPartition>>,
    /// For an incremental fetch, one per partition (same order); else empty.
    pub hints: Vec<Hint>,
}

impl FetchContext {
    /// The session id the response carries.
    pub fn session_id(&self) -> i32 {
        match self.kind {
            SessionKind::Sessionless => 0,
            SessionKind::Full { session_id } | SessionKind::Incremental { session_id } => {
                session_id
            }
        }
    }
}

/// The broker's cache of fetch sessions, bounded by
/// `max.incremental.fetch.session.cache.slots`, evicting the least recently used.
#[derive(Debug)]
pub struct FetchSessionCache {
    max_slots: usize,
    sessions: HashMap<i32, Session>,
    next_id: i32,
    /// Logical clock for LRU eviction.
    tick: u64,
}

impl FetchSessionCache {
    /// `first_id` seeds session ids (random in production, fixed in tests).
    pub fn new(max_slots: usize, first_id: i32) -> Self {
        FetchSessionCache {
            max_slots,
            sessions: HashMap::new(),
            next_id: first_id.max(1),
            tick: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Resolves a request. `Err` is the top-level error code
    /// (FETCH_SESSION_ID_NOT_FOUND / INVALID_FETCH_SESSION_EPOCH).
    pub fn begin(
        &mut self,
        session_id: i32,
        epoch: i32,
        requested: Vec<FetchPartition>,
        forgotten: &[Forget],
    ) -> Result<FetchContext, ResponseError> {
        self.tick += 1;
        let requested: Vec<Arc<FetchPartition>> = requested.into_iter().map(Arc::new).collect();
        match epoch {
            FINAL_EPOCH => {
                self.sessions.remove(&session_id);
                Ok(FetchContext {
                    kind: SessionKind::Sessionless,
                    partitions: requested,
                    hints: Vec::new(),
                })
            }
            INITIAL_EPOCH => {
                if session_id != 0 {
                    self.sessions.remove(&session_id);
                }
                if self.max_slots == 0 {
                    return Ok(FetchContext {
                        kind: SessionKind::Sessionless,
                        partitions: requested,
                        hints: Vec::new(),
                    });
                }
                while self.sessions.len() >= self.max_slots {
                    let Some(lru) = self
                        .sessions
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id)
                    else {
                        break;
                    };
                    self.sessions.remove(&lru);
                }
                let id = self.allocate_id();
                let partitions = requested
                    .iter()
                    .map(|p| {
                        (
                            p.tp.clone(),
                            Cached {
                                request: Arc::clone(p),
                                last_sent: None,
                                evaluated: None,
                                named_at: self.tick,
                            },
                        )
                    })
                    .collect();
                self.sessions.insert(
                    id,
                    Session {
                        epoch: next_epoch(epoch),
                        partitions,
                        last_used: self.tick,
                    },
                );
                Ok(FetchContext {
                    kind: SessionKind::Full { session_id: id },
                    partitions: requested,
                    hints: Vec::new(),
                })
            }
            _ => {
                let session = self
                    .sessions
                    .get_mut(&session_id)
                    .ok_or(ResponseError::FetchSessionIdNotFound)?;
                if session.epoch != epoch {
                    return Err(ResponseError::InvalidFetchSessionEpoch);
                }
                for f in forgotten {
                    match f {
                        Forget::Name(tp) => {
                            session.partitions.shift_remove(tp);
                        }
                        Forget::Id(id, partition) => session.partitions.retain(|tp, c| {
                            !(c.request.topic_id == *id && tp.partition == *partition)
                        }),
                    }
                }
                for p in requested {
                    match session.partitions.get_mut(&p.tp) {
                        Some(c) => {
                            c.request = p;
                            c.named_at = self.tick;
                        }
                        None => {
                            session.partitions.insert(
                                p.tp.clone(),
                                Cached {
                                    request: p,
                                    last_sent: None,
                                    evaluated: None,
                                    named_at: self.tick,
                                },
                            );
                        }
                    }
                }
                session.epoch = next_epoch(epoch);
                session.last_used = self.tick;
                let partitions = session
                    .partitions
                    .values()
                    .map(|c| Arc::clone(&c.request))
                    .collect();
                let hints = session
                    .partitions
                    .values()
                    .map(|c| Hint {
                        fresh: c.named_at == self.tick,
                        last_sent: c.last_sent,
                        evaluated: c.evaluated,
                    })
                    .collect();
                Ok(FetchContext {
                    kind: SessionKind::Incremental { session_id },
                    partitions,
                    hints,
                })
            }
        }
    }

    /// After reading `outcomes` (in `ctx.partitions` order): which to include in
    /// the response. Records what was sent and advances cached fetch offsets is
    /// the client's job (it resends changed offsets), as in Kafka.
    pub fn complete(&mut self, ctx: &FetchContext, outcomes: &[PartitionOutcome]) -> Vec<bool> {
        let session_id = match ctx.kind {
            SessionKind::Sessionless => return vec![true; outcomes.len()],
            SessionKind::Full { session_id } | SessionKind::Incremental { session_id } => {
                session_id
            }
        };
        let incremental = matches!(ctx.kind, SessionKind::Incremental { .. });
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return vec![true; outcomes.len()];
        };
        // An incremental context lists the session's partitions in its order: matched
        // by position (checked by pointer), looked up by name only if it changed since.
        let in_order = ctx.partitions.len() == session.partitions.len();
        ctx.partitions
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(i, (p, o))| {
                let positional = in_order
                    && session
                        .partitions
                        .get_index(i)
                        .is_some_and(|(_, c)| Arc::ptr_eq(&c.request, p));
                let cached = if positional {
                    session.partitions.get_index_mut(i).map(|(_, c)| c)
                } else {
                    session.partitions.get_mut(&p.tp)
                };
                let Some(cached) = cached else {
                    return true;
                };
                let now = (o.high_watermark, o.log_start_offset);
                let changed = cached.last_sent != Some(now);
                cached.last_sent = Some(now);
                if o.evaluated.is_some() {
                    cached.evaluated = o.evaluated;
                }
                !incremental || changed || o.has_records || o.error_code != 0
            })
            .collect()
    }

    fn allocate_id(&mut self) -> i32 {
        loop {
            let id = self.next_id;
            self.next_id = if self.next_id == i32::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(topic: &str, p: i32, offset: i64) -> FetchPartition {
        FetchPartition {
            tp: TopicPartition::new(topic, p),
            topic_id: Uuid::nil(),
            fetch_offset: offset,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            replica: ReplicaSlot::default(),
        }
    }

    fn outcome(hw: i64, has_records: bool) -> PartitionOutcome {
        PartitionOutcome {
            error_code: 0,
            high_watermark: hw,
            log_start_offset: 0,
            has_records,
            evaluated: None,
        }
    }

    #[test]
    fn hints_say_what_an_incremental_fetch_named_sent_and_read() {
        let mut cache = FetchSessionCache::new(10, 7);
        let ctx = cache
            .begin(0, 0, vec![part("a", 0, 0), part("a", 1, 0)], &[])
            .unwrap();
        assert!(ctx.hints.is_empty(), "a full fetch reads everything");
        let read = |hw| PartitionOutcome {
            evaluated: Some((100, 1)),
            ..outcome(hw, false)
        };
        cache.complete(&ctx, &[read(5), read(5)]);
        let ctx = cache.begin(7, 1, vec![part("a", 1, 5)], &[]).unwrap();
        let quiet = Hint {
            fresh: false,
            last_sent: Some((5, 0)),
            evaluated: Some((100, 1)),
        };
        assert_eq!(
            ctx.hints,
            vec![
                quiet,
                Hint {
                    fresh: true,
                    ..quiet
                }
            ]
        );
        // A skipped read keeps the last read's time.
        cache.complete(&ctx, &[outcome(5, false), read(5)]);
        let ctx = cache.begin(7, 2, vec![], &[]).unwrap();
        assert_eq!(ctx.hints, vec![quiet, quiet]);
    }

    #[test]
    fn full_then_incremental_only_reports_news() {
        let mut cache = FetchSessionCache::new(10, 7);
        let ctx = cache
            .begin(0, 0, vec![part("a", 0, 0), part("a", 1, 0)], &[])
            .unwrap();
        assert_eq!(ctx.kind, SessionKind::Full { session_id: 7 });
        assert_eq!(
            cache.complete(&ctx, &[outcome(5, true), outcome(0, false)]),
            vec![true, true]
        );

        // Epoch 1: nothing listed, both partitions still fetched; only news reported.
        let ctx = cache.begin(7, 1, vec![], &[]).unwrap();
        assert_eq!(ctx.partitions.len(), 2);
        assert_eq!(
            cache.complete(&ctx, &[outcome(5, false), outcome(3, false)]),
            vec![false, true]
        );

        // Forget one, move the other's offset.
        let ctx = cache
            .begin(
                7,
                2,
                vec![part("a", 0, 5)],
                &[Forget::Name(TopicPartition::new("a", 1))],
            )
            .unwrap();
        assert_eq!(ctx.partitions, vec![Arc::new(part("a", 0, 5))]);

        assert_eq!(
            cache.begin(7, 2, vec![], &[]).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            cache.begin(99, 1, vec![], &[]).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );

        // Final epoch closes the session.
        let ctx = cache.begin(7, -1, vec![part("a", 0, 5)], &[]).unwrap();
        assert_eq!(ctx.session_id(), 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_deleted_topic_is_forgotten_by_its_id() {
        let mut cache = FetchSessionCache::new(10, 7);
        let gone = Uuid::from_u128(42);
        let mut g0 = part("gone", 0, 0);
        g0.topic_id = gone;
        let mut g1 = part("gone", 1, 0);
        g1.topic_id = gone;
        cache
            .begin(0, 0, vec![part("kept", 0, 0), g0, g1], &[])
            .unwrap();
        // The topic is deleted: its id no longer names it, only the session knows.
        let ctx = cache.begin(7, 1, vec![], &[Forget::Id(gone, 1)]).unwrap();
        let held: Vec<String> = ctx.partitions.iter().map(|p| p.tp.to_string()).collect();
        assert_eq!(held, ["kept-0", "gone-0"]);
        let ctx = cache.begin(7, 2, vec![], &[Forget::Id(gone, 0)]).unwrap();
        assert_eq!(ctx.partitions.len(), 1);
        assert_eq!(ctx.partitions[0].tp, TopicPartition::new("kept", 0));
    }

    #[test]
    fn a_session_changed_between_begin_and_complete_is_matched_by_name() {
        let mut cache = FetchSessionCache::new(10, 7);
        let ctx = cache
            .begin(0, 0, vec![part("a", 0, 0), part("a", 1, 0)], &[])
            .unwrap();
        cache.complete(&ctx, &[outcome(5, false), outcome(5, false)]);
        let stale = cache.begin(7, 1, vec![], &[]).unwrap();
        // A next request (same session) forgets a-0 and moves a-1 before `stale` is
        // answered: its positions and pointers no longer match the session's.
        cache
            .begin(
                7,
                2,
                vec![part("a", 1, 3)],
                &[Forget::Name(TopicPartition::new("a", 0))],
            )
            .unwrap();
        assert_eq!(
            cache.complete(&stale, &[outcome(5, false), outcome(6, false)]),
            vec![true, true],
            "a-0 left the session (answered), a-1 has news"
        );
        // a-1's last answer (6) was recorded under its name.
        let ctx = cache.begin(7, 3, vec![], &[]).unwrap();
        assert_eq!(cache.complete(&ctx, &[outcome(6, false)]), vec![false]);
    }

    #[test]
    fn cache_is_bounded_lru() {
        let mut cache = FetchSessionCache::new(2, 1);
        let a = cache.begin(0, 0, vec![], &[]).unwrap().session_id();
        let b = cache.begin(0, 0, vec![], &[]).unwrap().session_id();
        cache.begin(a, 1, vec![], &[]).unwrap();
        let c = cache.begin(0, 0, vec![], &[]).unwrap().session_id();
        assert_eq!(cache.len(), 2);
        assert!(
            cache.begin(b, 1, vec![], &[]).is_err(),
            "b was least recently used"
        );
        assert!(cache.begin(a, 2, vec![], &[]).is_ok());
        assert!(cache.begin(c, 1, vec![], &[]).is_ok());
        assert_eq!(
            FetchSessionCache::new(0, 1)
                .begin(0, 0, vec![], &[])
                .unwrap()
                .kind,
            SessionKind::Sessionless
        );
    }
}
