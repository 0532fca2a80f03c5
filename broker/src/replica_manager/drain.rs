//! The first half of a controlled shutdown (issue 11 item 4): before the controller
//! moves this broker's leaderships, every partition it leads stops taking appends not
//! made with acks=all (NOT_LEADER_OR_FOLLOWER, which clients retry after a metadata
//! refresh) and the broker waits until every in-sync follower has fetched up to the
//! end of the last of them (the high watermark reaches `PartitionInner::handover_end`).
//! The controller then elects one of those followers, which holds every record this
//! broker acknowledged — acks=1 included.
//!
//! acks=all appends go on being taken until the leadership moves, as Kafka takes every
//! write during a controlled shutdown: each is acknowledged only once the in-sync
//! followers hold it, so the new leader has every one that was acknowledged, and one
//! it lacks (the old leader truncates it when it follows) was never acknowledged and
//! is retried there by its producer. A partition thus has no time without a leader
//! taking acks=all writes beyond the switch itself.
//!
//! The wait is bounded (`tidewater.controlled.shutdown.drain.timeout.ms`): a follower
//! that never fetches leaves the ISR as usual (the leader shrinks it after
//! `replica.lag.time.max.ms`, the controller fences a silent broker after
//! `broker.session.timeout.ms`), and a drain that still has not finished is logged and
//! the shutdown goes on. This module never moves leaderships itself.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tidewater_storage::TopicPartition;
use tracing::{info, warn};

use super::{ReplicaManager, Role};

/// How often the drain looks at the led partitions again.
const POLL: Duration = Duration::from_millis(10);

/// A led partition whose in-sync followers do not hold every record acknowledged on
/// the leader's word alone yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    pub tp: TopicPartition,
    pub high_watermark: i64,
    /// `PartitionInner::handover_end`: the end the high watermark must reach.
    pub handover_end: i64,
    pub isr: Vec<i32>,
}

/// How a drain ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every in-sync follower holds every record of every led partition acknowledged
    /// on the leader's word alone.
    CaughtUp { leaders: usize, waited: Duration },
    /// The timeout passed with these partitions still behind.
    TimedOut { behind: Vec<Behind> },
}

impl ReplicaManager {
    /// Refuses appends not made with acks=all on every local replica from now on (also
    /// on replicas created later). Each flag is set under the partition lock, so once
    /// this returns no such append can still be on its way into a log.
    pub fn refuse_appends(&self) {
        self.draining.store(true, Ordering::Release);
        for p in self.all() {
            p.lock().refuse_appends = true;
        }
    }

    /// Led partitions whose high watermark is below their handover end, and how many
    /// partitions this broker leads.
    pub fn leaders_behind(&self) -> (usize, Vec<Behind>) {
        let mut leaders = 0;
        let mut behind = Vec::new();
        for p in self.all() {
            let inner = p.lock();
            let Role::Leader(state) = &inner.role else {
                continue;
            };
            leaders += 1;
            if state.high_watermark() < inner.handover_end {
                behind.push(Behind {
                    tp: p.tp.clone(),
                    high_watermark: state.high_watermark(),
                    handover_end: inner.handover_end,
                    isr: state.isr().iter().copied().collect(),
                });
            }
        }
        (leaders, behind)
    }
}

impl ReplicaManager {
    /// Stops appends not made with acks=all and waits (at most `timeout`) until the
    /// in-sync followers of every partition this broker leads have reached its
    /// handover end.
    pub async fn drain_leaderships(&self, timeout: Duration) -> DrainOutcome {
        let started = tokio::time::Instant::now();
        self.refuse_appends();
        loop {
            let (leaders, behind) = self.leaders_behind();
            if behind.is_empty() {
                let waited = started.elapsed();
                info!(
                    leaders,
                    waited_ms = waited.as_millis() as u64,
                    "drained: every in-sync follower holds every record acknowledged without them"
                );
                return DrainOutcome::CaughtUp { leaders, waited };
            }
            if started.elapsed() >= timeout {
                warn!(
                    partitions = behind.len(),
                    first = ?behind.iter().take(5).collect::<Vec<_>>(),
                    "drain timed out: in-sync followers have not reached the handover end; \
                     moving leaderships anyway (acks=1 records above the high watermark may be lost)"
                );
                return DrainOutcome::TimedOut { behind };
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker_server::now_ms;
    use crate::broker_server::offsets_backend::encode_batch;
    use crate::handlers::produce::handle;
    use crate::handlers::produce::tests::produce_request;
    use crate::handlers::test_support::{broker, ctx};
    use bytes::Bytes;
    use kafka_protocol::error::ResponseError as E;

    fn batch() -> Bytes {
        encode_batch(
            &[(Bytes::from_static(b"k"), Some(Bytes::from_static(b"v")))],
            now_ms(),
        )
        .unwrap()
    }

    /// A one-replica leader is drained at once (its ISR is itself), and from then on
    /// every produce not made with acks=all gets the retriable NOT_LEADER_OR_FOLLOWER
    /// and leaves the log end where the drain saw it, while acks=all produces are
    /// still taken (and acknowledged once replicated).
    #[tokio::test]
    async fn a_drained_leader_refuses_produce_without_acks_all() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let code = |r: kafka_protocol::messages::ProduceResponse| {
            r.responses[0].partition_responses[0].error_code
        };
        assert_eq!(
            code(handle(b, &ctx(), produce_request("t", 0, Some(batch()), 1), 9).await),
            0
        );
        let outcome = b.replicas().drain_leaderships(Duration::from_secs(5)).await;
        assert!(
            matches!(outcome, DrainOutcome::CaughtUp { leaders, .. } if leaders >= 1),
            "{outcome:?}"
        );
        let end = b.log("t", 0).unwrap().log_end_offset();
        for acks in [1, 0] {
            let r = handle(b, &ctx(), produce_request("t", 0, Some(batch()), acks), 9).await;
            if acks != 0 {
                assert_eq!(code(r), E::NotLeaderOrFollower.code(), "acks={acks}");
            }
        }
        assert_eq!(b.log("t", 0).unwrap().log_end_offset(), end);
        let r = handle(b, &ctx(), produce_request("t", 0, Some(batch()), -1), 9).await;
        assert_eq!(code(r), 0, "acks=all");
        assert_eq!(b.log("t", 0).unwrap().log_end_offset(), end + 1);
        // The drain's condition still holds: nothing acknowledged without the ISR.
        assert!(b.replicas().leaders_behind().1.is_empty());
    }

    /// From Produce v10 (KIP-951 leader hints) a draining leader's refusal waits for the
    /// image to name the next leader, so the answer can name it; the wait is bounded by
    /// half the request's timeout. One node has no next leader: answered bare after the
    /// bound, not at once — and at once for a v9 client, which cannot read a hint.
    #[tokio::test]
    async fn a_draining_leaders_refusal_waits_for_the_next_leader_at_most_half_the_timeout() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let outcome = b.replicas().drain_leaderships(Duration::from_secs(5)).await;
        assert!(
            matches!(outcome, DrainOutcome::CaughtUp { .. }),
            "{outcome:?}"
        );
        let produce = |version: i16| async move {
            let mut req = produce_request("t", 0, Some(batch()), 1);
            req.timeout_ms = 400;
            let start = std::time::Instant::now();
            let r = handle(b, &ctx(), req, version).await;
            let code = r.responses[0].partition_responses[0].error_code;
            assert_eq!(code, E::NotLeaderOrFollower.code(), "v{version}");
            start.elapsed()
        };
        let held = produce(10).await;
        assert!(
            held >= Duration::from_millis(200) && held < Duration::from_millis(1000),
            "held {held:?}"
        );
        let bare = produce(9).await;
        assert!(
            bare < Duration::from_millis(200),
            "v9 answered after {bare:?}"
        );
    }
}
