//! Fetch from a follower broker (`replica_id` / `ReplicaState` set), through the
//! follower's KIP-227 fetch session when it asks for one (an idle follower's fetch
//! then lists no partition and its answer carries only those with news): every
//! partition of the session is checked against the leader state (leader epoch, broker epoch, diverging epoch
//! per KIP-320), the follower's position is recorded (moving the high watermark and
//! growing the ISR), and records are served up to the log end, not the high
//! watermark. Long-polls like a consumer fetch until `min_bytes` or `max_wait_ms`.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_response::{EpochEndOffset, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tidewater_replication::{FetchKind, FollowerFetch};
use tokio::time::Instant;
use uuid::Uuid;

use super::response::push_partition;
use crate::broker_server::Broker;
use crate::broker_server::fetch_sessions::PartitionOutcome;
use crate::replica_manager::fetch_session::{
    FetchPosition, ReplicaFetchPartition, SessionKey, session_key,
};

/// The partitions a follower's request lists, keyed as its session keys them;
/// unknown topic ids are answered with UNKNOWN_TOPIC_ID without entering the session.
struct Resolved {
    requested: Vec<ReplicaFetchPartition>,
    forgotten: Vec<SessionKey>,
    unknown_ids: Vec<(Uuid, i32)>,
}

fn resolve(broker: &Broker, req: &FetchRequest, version: i16) -> Resolved {
    let mut resolved = Resolved {
        requested: Vec::new(),
        forgotten: Vec::new(),
        unknown_ids: Vec::new(),
    };
    for t in &req.topics {
        let (name, id) = if version >= 13 {
            match broker.metadata().topic_by_id(t.topic_id) {
                Some(m) => (m.name, m.id),
                None => {
                    let unknown = t.partitions.iter().map(|p| (t.topic_id, p.partition));
                    resolved.unknown_ids.extend(unknown);
                    continue;
                }
            }
        } else {
            (t.topic.0.to_string(), Uuid::nil())
        };
        for p in &t.partitions {
            resolved.requested.push(ReplicaFetchPartition {
                key: session_key(version, &name, id, p.partition),
                topic: name.clone(),
                topic_id: id,
                partition: p.partition,
                position: FetchPosition {
                    current_leader_epoch: p.current_leader_epoch,
                    fetch_offset: p.fetch_offset,
                    last_fetched_epoch: p.last_fetched_epoch,
                    log_start_offset: p.log_start_offset,
                    partition_max_bytes: p.partition_max_bytes,
                },
            });
        }
    }
    if version >= 7 {
        for f in &req.forgotten_topics_data {
            let name = f.topic.0.to_string();
            let forgotten = f
                .partitions
                .iter()
                .map(|p| session_key(version, &name, f.topic_id, *p));
            resolved.forgotten.extend(forgotten);
        }
    }
    resolved
}

/// The follower's fetch of one partition, as the leader state machine takes it.
fn follower_fetch(p: &ReplicaFetchPartition, replica_id: i32, broker_epoch: i64) -> FollowerFetch {
    let position = &p.position;
    FollowerFetch {
        replica_id,
        broker_epoch,
        current_leader_epoch: (position.current_leader_epoch >= 0)
            .then_some(position.current_leader_epoch),
        fetch_offset: position.fetch_offset,
        last_fetched_epoch: (position.last_fetched_epoch >= 0)
            .then_some(position.last_fetched_epoch),
        log_start_offset: position.log_start_offset,
    }
}

pub(super) async fn handle(
    broker: &Broker,
    req: FetchRequest,
    version: i16,
    replica_id: i32,
) -> FetchResponse {
    let broker_epoch = if version >= 15 {
        req.replica_state.replica_epoch
    } else {
        -1
    };
    let mut resp = FetchResponse::default();
    let Resolved {
        requested,
        forgotten,
        unknown_ids,
    } = resolve(broker, &req, version);
    let (session_id, session_epoch) = if version >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, -1)
    };
    let begun = broker
        .replicas()
        .replica_fetch_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .begin(session_id, session_epoch, requested, &forgotten);
    let ctx = match begun {
        Ok(ctx) => ctx,
        Err(code) => {
            resp.error_code = code;
            return resp;
        }
    };
    let wanted = &ctx.partitions;
    let max_bytes = usize::try_from(req.max_bytes.max(0)).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let generation = broker.replicas().leader_generation();
    let mut deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    // A set, not a scan of `wanted` per led partition: that was O(partitions²) per
    // fetch, most of an idle broker's CPU at 10,000 partitions.
    let fetched: HashSet<(&str, i32)> = wanted
        .iter()
        .map(|w| (w.topic.as_str(), w.partition))
        .collect();
    if broker
        .replicas()
        .isr_partition_not_fetched(replica_id, |tp| {
            fetched.contains(&(tp.topic.as_str(), tp.partition))
        })
    {
        // The follower has not caught up with a leader change yet: answer soon so
        // its next fetch includes the partitions it now follows here.
        deadline = deadline.min(Instant::now() + MISSING_PARTITION_WAIT);
    }
    let answers = loop {
        let notified = broker.replicas().notifier().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (answers, total, any_error, throttled) =
            read_all(broker, wanted, replica_id, broker_epoch, max_bytes);
        if total >= min_bytes
            || any_error
            || Instant::now() >= deadline
            || broker.is_closing()
            || broker.replicas().leader_generation() != generation
        {
            break answers;
        }
        // A partition held back by the throttle may be served again as soon as the
        // measured rate falls under the quota: look again soon rather than idling for
        // the whole max_wait (which would keep the copy far below the throttle).
        let wake = if throttled {
            deadline.min(Instant::now() + THROTTLE_RECHECK)
        } else {
            deadline
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    };
    let outcomes: Vec<PartitionOutcome> = answers
        .iter()
        .map(|pd| PartitionOutcome {
            error_code: pd.error_code,
            high_watermark: pd.high_watermark,
            log_start_offset: pd.log_start_offset,
            // A diverging epoch is news the follower must act on.
            has_records: pd.records.as_ref().is_some_and(|r| !r.is_empty())
                || pd.diverging_epoch.epoch >= 0,
        })
        .collect();
    // Only partitions with news go back in an incremental answer (all in a full one).
    let include = broker
        .replicas()
        .replica_fetch_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .complete(&ctx, &outcomes);
    resp.session_id = ctx.session_id();
    for ((w, pd), include) in wanted.iter().zip(answers).zip(include) {
        if include {
            let topic = if version >= 13 { "" } else { w.topic.as_str() };
            push_partition(&mut resp, topic, w.topic_id, pd);
        }
    }
    for (id, partition) in unknown_ids {
        push_partition(
            &mut resp,
            "",
            id,
            error(partition, E::UnknownTopicId.code()),
        );
    }
    resp
}

/// How soon a fetch held back by the replication throttle looks at the quota again.
const THROTTLE_RECHECK: Duration = Duration::from_millis(20);

/// The longest a fetch parks when it leaves out a partition this broker leads with the
/// follower in its ISR (the follower is a few ms behind a leader change): short, since
/// acks=all on that partition waits for the follower's next fetch.
const MISSING_PARTITION_WAIT: Duration = Duration::from_millis(20);

/// The answers, bytes read, whether any partition failed, and whether any partition
/// was held back by the leader's replication throttle.
fn read_all(
    broker: &Broker,
    wanted: &[ReplicaFetchPartition],
    replica_id: i32,
    broker_epoch: i64,
    max_bytes: usize,
) -> (Vec<PartitionData>, usize, bool, bool) {
    let mut total = 0usize;
    let mut any_error = false;
    let mut held_back = false;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let replica = match broker.replicas().get_by_name(&w.topic, w.partition) {
            Some(r) => r,
            None => {
                any_error = true;
                out.push(error(w.partition, E::NotLeaderOrFollower.code()));
                continue;
            }
        };
        if !w.topic_id.is_nil() && replica.topic_id != 0 && replica.topic_id != w.topic_id.as_u128()
        {
            // The session's topic was deleted and one of the same name created since.
            any_error = true;
            out.push(error(w.partition, E::UnknownTopicId.code()));
            continue;
        }
        let fetch = follower_fetch(w, replica_id, broker_epoch);
        let answer = match broker.on_follower_fetch(&replica, &fetch) {
            Ok(a) => a,
            Err(e) => {
                any_error = true;
                out.push(error(w.partition, e.code()));
                continue;
            }
        };
        let mut pd = PartitionData::default();
        pd.partition_index = w.partition;
        pd.high_watermark = answer.high_watermark;
        pd.last_stable_offset = answer.high_watermark;
        pd.log_start_offset = answer.log_start_offset;
        pd.records = Some(Bytes::new());
        match answer.kind {
            FetchKind::Diverging(end) => {
                let mut d = EpochEndOffset::default();
                d.epoch = end.epoch;
                d.end_offset = end.end_offset;
                pd.diverging_epoch = d;
                any_error = true;
            }
            FetchKind::Records { fetch_offset } if fetch_offset >= answer.log_end_offset => {
                // Caught up: nothing to read or throttle (no quota lookups for the
                // thousands of idle partitions of a session).
            }
            FetchKind::Records { fetch_offset } => {
                let leo = answer.log_end_offset;
                let in_sync = replica.lock().role.isr_contains(replica_id);
                let now = crate::broker_server::mono_ms();
                let throttled = broker
                    .replicas()
                    .leader_quota()
                    .is_throttled(&w.topic, w.partition)
                    && !in_sync;
                // Kafka's shouldLeaderThrottle: out-of-sync throttled replicas get nothing
                // while the leader's throttled traffic is above the quota.
                if throttled && broker.replicas().leader_quota().is_quota_exceeded(now) {
                    held_back = true;
                    out.push(pd);
                    continue;
                }
                let partition_max = usize::try_from(w.position.partition_max_bytes.max(0));
                let mut limit = partition_max
                    .unwrap_or(0)
                    .min(max_bytes.saturating_sub(total));
                if throttled {
                    // Never more than the quota has room for: a whole fetch past it
                    // would overshoot every quota window (what Kafka's check alone allows).
                    let room = broker.replicas().leader_quota().allowance(now);
                    if room == 0 {
                        held_back = true;
                        out.push(pd);
                        continue;
                    }
                    limit = limit.min(usize::try_from(room).unwrap_or(usize::MAX));
                }
                if fetch_offset < leo && (limit > 0 || total == 0) {
                    match replica.log.read(fetch_offset, limit, leo, total == 0) {
                        Ok(r) => {
                            total += r.records.len();
                            if throttled {
                                broker
                                    .replicas()
                                    .leader_quota()
                                    .record(r.records.len() as u64, now);
                                broker.metrics().throttled_bytes(r.records.len() as u64);
                            }
                            broker
                                .metrics()
                                .replication_bytes_out(&w.topic, r.records.len() as u64);
                            pd.records = Some(r.records);
                        }
                        Err(e) => {
                            any_error = true;
                            pd.error_code = e.error_code();
                        }
                    }
                }
            }
        }
        out.push(pd);
    }
    (out, total, any_error, held_back)
}

fn error(partition: i32, code: i16) -> PartitionData {
    let mut pd = PartitionData::default();
    pd.partition_index = partition;
    pd.error_code = code;
    pd.high_watermark = -1;
    pd.records = Some(Bytes::new());
    pd
}
