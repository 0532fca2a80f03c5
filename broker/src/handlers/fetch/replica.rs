//! Fetch from a follower broker (`replica_id` / `ReplicaState` set): every partition
//! is checked against the leader state (leader epoch, broker epoch, diverging epoch
//! per KIP-320), the follower's position is recorded (moving the high watermark and
//! growing the ISR), and records are served up to the log end, not the high
//! watermark. Long-polls like a consumer fetch until `min_bytes` or `max_wait_ms`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_response::{EpochEndOffset, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tidewater_replication::{FetchKind, FollowerFetch};
use tokio::time::Instant;

use super::response::push_partition;
use crate::broker_server::Broker;
use crate::handlers::{RequestContext, authz};
use crate::replica_manager::Partition;
use crate::replica_manager::fetch_sessions::{FetchPartition, Hint, PartitionOutcome};

struct Wanted {
    /// As the session holds it (shared, not copied per fetch).
    part: Arc<FetchPartition>,
    fetch: FollowerFetch,
    max_bytes: usize,
    /// Looked up once per request, not on every wake of a parked fetch.
    replica: Option<Arc<Partition>>,
}

pub(super) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    version: i16,
    replica_id: i32,
) -> FetchResponse {
    if !authz::cluster_action(broker, ctx) {
        return denied(&req, version);
    }
    let broker_epoch = if version >= 15 {
        req.replica_state.replica_epoch
    } else {
        -1
    };
    let mut resp = FetchResponse::default();
    let (parts, forgotten, unknown_ids) = super::consumer::resolve(broker, &req, version);
    for (topic_id, partition) in unknown_ids {
        push_partition(
            &mut resp,
            "",
            topic_id,
            error(partition, E::UnknownTopicId.code()),
        );
    }
    // A follower's KIP-227 session: an idle incremental fetch names no partition and
    // is answered with none, instead of thousands each way every fetch.wait.max.ms.
    let session_id = if version >= 7 { req.session_id } else { 0 };
    let session_epoch = if version >= 7 { req.session_epoch } else { -1 };
    let begun =
        broker
            .replicas()
            .fetch_sessions()
            .begin(session_id, session_epoch, parts, &forgotten);
    let ctx = match begun {
        Ok(ctx) => ctx,
        Err(e) => {
            resp.error_code = e.code();
            return resp;
        }
    };
    let mut wanted: Vec<Wanted> = ctx
        .partitions
        .iter()
        .map(|p| Wanted {
            part: Arc::clone(p),
            replica: None,
            max_bytes: usize::try_from(p.partition_max_bytes.max(0)).unwrap_or(0),
            fetch: FollowerFetch {
                replica_id,
                broker_epoch,
                current_leader_epoch: (p.current_leader_epoch >= 0)
                    .then_some(p.current_leader_epoch),
                fetch_offset: p.fetch_offset,
                last_fetched_epoch: (p.last_fetched_epoch >= 0).then_some(p.last_fetched_epoch),
                log_start_offset: p.log_start_offset,
            },
        })
        .collect();
    let max_bytes = usize::try_from(req.max_bytes.max(0)).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let generation = broker.replicas().leader_generation();
    let mut deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    let replicas = broker
        .replicas()
        .resolve_all(wanted.iter().map(|w| w.part.as_ref()));
    for (w, r) in wanted.iter_mut().zip(replicas) {
        w.replica = r;
    }
    // A set, not a scan of `wanted` per led partition: that was O(partitions²) per
    // fetch, most of an idle broker's CPU at 10,000 partitions.
    let fetched = std::cell::OnceCell::new();
    if broker
        .replicas()
        .isr_partition_not_fetched(replica_id, wanted.len(), |tp| {
            fetched
                .get_or_init(|| wanted.iter().map(|w| &w.part.tp).collect::<HashSet<_>>())
                .contains(tp)
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
        let Read {
            answers,
            read,
            total,
            any_error,
            throttled,
        } = read_all(broker, &wanted, &ctx.hints, generation, max_bytes);
        if total >= min_bytes
            || any_error
            || Instant::now() >= deadline
            || broker.is_closing()
            || broker.replicas().leader_generation() != generation
        {
            break (answers, read);
        }
        // A partition held back by the throttle may be served again as soon as the
        // measured rate falls under the quota: look again soon rather than idling for
        // the whole max_wait (which would keep the copy far below the throttle).
        let wake = if throttled {
            deadline.min(Instant::now() + THROTTLE_RECHECK)
        } else {
            deadline
        };
        let woken = tokio::select! {
            _ = &mut notified => true,
            _ = tokio::time::sleep_until(wake) => false,
        };
        // Nothing was appended, acknowledged or moved since `answers` were read (each
        // of those notifies): they are still the answers, without reading every
        // partition of the session again — half an idle leader's work per fetch.
        if !woken && !throttled && Instant::now() >= deadline {
            break (answers, read);
        }
    };
    let (answers, read) = answers;
    let now = crate::broker_server::mono_ms();
    let outcomes: Vec<PartitionOutcome> = answers
        .iter()
        .zip(&read)
        .map(|(pd, &read)| PartitionOutcome {
            error_code: pd.error_code,
            high_watermark: pd.high_watermark,
            log_start_offset: pd.log_start_offset,
            // A diverging epoch must reach the follower like records do.
            has_records: pd.records.as_ref().is_some_and(|r| !r.is_empty())
                || pd.diverging_epoch.epoch >= 0,
            // Read but not to be skipped next time: a generation no session has.
            evaluated: read
                .map(|skippable| (now, if skippable { generation } else { NOT_SKIPPABLE })),
        })
        .collect();
    let include = broker.replicas().fetch_sessions().complete(&ctx, &outcomes);
    resp.session_id = ctx.session_id();
    for ((w, pd), include) in wanted.iter().zip(answers).zip(include) {
        if !include {
            continue;
        }
        let topic = if version >= 13 {
            ""
        } else {
            w.part.tp.topic.as_str()
        };
        push_partition(&mut resp, topic, w.part.topic_id, pd);
    }
    resp
}

/// How soon a fetch held back by the replication throttle looks at the quota again.
const THROTTLE_RECHECK: Duration = Duration::from_millis(20);

/// The longest a fetch parks when it leaves out a partition this broker leads with the
/// follower in its ISR (the follower is a few ms behind a leader change): short, since
/// acks=all on that partition waits for the follower's next fetch.
const MISSING_PARTITION_WAIT: Duration = Duration::from_millis(20);

/// One pass over a fetch's partitions.
struct Read {
    answers: Vec<PartitionData>,
    /// Per partition: `None` when skipped as quiet (its answer the last one sent),
    /// else read, and whether it may be skipped as quiet next time: only while the
    /// follower is in its ISR. An out-of-sync follower's partition is read on every
    /// fetch, so it rejoins the ISR as soon as it reaches the high watermark, not up
    /// to `quiet_ms` later (which held every restarted broker of a roll out of the
    /// ISR for seconds).
    read: Vec<Option<bool>>,
    /// Bytes read.
    total: usize,
    /// Whether any partition failed.
    any_error: bool,
    /// Whether any partition was held back by the leader's replication throttle.
    throttled: bool,
}

/// Whether a follower's partition may be answered without reading it: not named in
/// this incremental fetch, read for this session within `quiet_ms` under the same
/// leadership, the follower at the log end and told the current high watermark and
/// log start. Reading it would change nothing but the follower's caught-up time,
/// which a read every `quiet_ms` (a quarter of `replica.lag.time.max.ms` at most)
/// keeps far inside the lag bound.
/// The generation recorded for a partition read while its follower was out of sync:
/// never the session's, so [`quiet`] reads it again on the next fetch.
const NOT_SKIPPABLE: u64 = u64::MAX;

fn quiet(
    hint: &Hint,
    replica: &Partition,
    fetch_offset: i64,
    now: u64,
    generation: u64,
    quiet_ms: u64,
) -> bool {
    let log = &replica.log;
    !hint.fresh
        && hint
            .evaluated
            .is_some_and(|(at, g)| g == generation && now.saturating_sub(at) < quiet_ms)
        && log.log_end_offset() == fetch_offset
        && hint.last_sent == Some((log.high_watermark(), log.log_start_offset()))
}

fn read_all(
    broker: &Broker,
    wanted: &[Wanted],
    hints: &[Hint],
    generation: u64,
    max_bytes: usize,
) -> Read {
    let mut total = 0usize;
    let mut any_error = false;
    let mut held_back = false;
    let mut out = Vec::with_capacity(wanted.len());
    let mut read = Vec::with_capacity(wanted.len());
    let now = crate::broker_server::mono_ms();
    let quiet_ms = broker.replicas().quiet_follower_read_ms();
    for (i, w) in wanted.iter().enumerate() {
        let partition = w.part.tp.partition;
        let Some(replica) = &w.replica else {
            any_error = true;
            out.push(error(partition, E::NotLeaderOrFollower.code()));
            read.push(Some(true));
            continue;
        };
        if let Some(hint) = hints.get(i)
            && let Some((hw, log_start)) = hint.last_sent
            && quiet(
                hint,
                replica,
                w.fetch.fetch_offset,
                now,
                generation,
                quiet_ms,
            )
        {
            let mut pd = PartitionData::default();
            pd.partition_index = partition;
            pd.high_watermark = hw;
            pd.last_stable_offset = hw;
            pd.log_start_offset = log_start;
            pd.records = Some(Bytes::new());
            out.push(pd);
            read.push(None);
            continue;
        }
        read.push(Some(false));
        let (answer, in_sync) = match broker.replicas().on_follower_fetch(replica, &w.fetch, now) {
            Ok(a) => {
                if let Some(last) = read.last_mut() {
                    *last = Some(a.1);
                }
                a
            }
            Err(e) => {
                any_error = true;
                out.push(error(partition, e.code()));
                continue;
            }
        };
        let mut pd = PartitionData::default();
        pd.partition_index = partition;
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
            FetchKind::Records { fetch_offset } => {
                let leo = answer.log_end_offset;
                let throttled = !in_sync
                    && broker
                        .replicas()
                        .leader_quota()
                        .is_throttled(&w.part.tp.topic, partition);
                // Kafka's shouldLeaderThrottle: out-of-sync throttled replicas get nothing
                // while the leader's throttled traffic is above the quota.
                if throttled && broker.replicas().leader_quota().is_quota_exceeded(now) {
                    held_back = true;
                    out.push(pd);
                    continue;
                }
                let mut limit = w.max_bytes.min(max_bytes.saturating_sub(total));
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
                                .replication_bytes_out(&w.part.tp.topic, r.records.len() as u64);
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
    Read {
        answers: out,
        read,
        total,
        any_error,
        throttled: held_back,
    }
}

/// A follower fetch from a principal without ClusterAction: every partition it names
/// is answered TOPIC_AUTHORIZATION_FAILED, outside any session (Kafka's answer).
fn denied(req: &FetchRequest, version: i16) -> FetchResponse {
    let mut resp = FetchResponse::default();
    for t in &req.topics {
        let topic = if version >= 13 { "" } else { t.topic.as_str() };
        for p in &t.partitions {
            let pd = error(p.partition, E::TopicAuthorizationFailed.code());
            push_partition(&mut resp, topic, t.topic_id, pd);
        }
    }
    resp
}

fn error(partition: i32, code: i16) -> PartitionData {
    let mut pd = PartitionData::default();
    pd.partition_index = partition;
    pd.error_code = code;
    pd.high_watermark = -1;
    pd.records = Some(Bytes::new());
    pd
}
