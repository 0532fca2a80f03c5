//! Follower fetchers (Kafka's `ReplicaFetcherThread`): one task per leader broker
//! fetches every partition this broker follows from it over the Kafka protocol,
//! appends what it gets, and truncates diverging tails as the follower state machine
//! decides (KIP-320 diverging epochs here; OffsetForLeaderEpoch and out-of-range resets
//! in [`super::truncation`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tidewater_client::{ClientConfig, Connection};
use tidewater_quorum::image::MetadataImage;
use tidewater_replication::{FetchPartitionResponse, FollowerAction, FollowerRequest};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::ReplicaManager;
use super::backoff::{delay, error_backoff};
use super::fetch_plan::{Followed, plan};
use super::fetch_round;
use super::follower_session::FollowerSession;
use super::follower_throttle::unthrottled;
use super::truncation::{
    append_as_follower, offsets_for_epochs, reset_out_of_range, restart_log_at,
    truncate_with_progress,
};
use super::{Partition, Role};

/// A running fetcher for one leader.
pub struct FetcherHandle {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl FetcherHandle {
    pub fn stop(self) {
        self.task.abort();
    }
}

impl ReplicaManager {
    /// Starts fetchers for leaders we now follow, wakes them, stops unused ones.
    pub(crate) fn sync_fetchers(self: &Arc<Self>, _image: &MetadataImage) {
        let leaders: HashSet<i32> = self
            .all()
            .iter()
            .filter_map(|p| match &p.lock().role {
                Role::Follower(f) => Some(f.leader_id()),
                _ => None,
            })
            .collect();
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        let stale: Vec<i32> = fetchers
            .keys()
            .filter(|l| !leaders.contains(l))
            .copied()
            .collect();
        for l in stale {
            if let Some(f) = fetchers.remove(&l) {
                f.stop();
            }
        }
        for leader in leaders {
            let handle = fetchers.entry(leader).or_insert_with(|| {
                let wake = Arc::new(Notify::new());
                let task = tokio::spawn(run(self.clone(), leader, wake.clone()));
                info!(leader, "started replica fetcher");
                FetcherHandle { wake, task }
            });
            handle.wake.notify_one();
        }
    }
}

/// A fetch round longer than the leader's longest park (fetch.wait.max.ms, 500 ms by
/// default) plus slack is logged at debug: a follower that stops fetching holds
/// acks=all produces back.
const SLOW_ROUND: Duration = Duration::from_millis(600);

async fn connect(replicas: &ReplicaManager, leader: i32) -> Option<Connection> {
    let client_id = format!("tidewater-replica-fetcher-{}", replicas.node_id);
    connect_to(replicas, leader, client_id).await
}

/// Connects to another broker on the inter-broker listener (followers fetching, the
/// transaction coordinator sending markers); `None` when it cannot be reached now.
pub(crate) async fn connect_to(
    replicas: &ReplicaManager,
    leader: i32,
    client_id: String,
) -> Option<Connection> {
    let image = replicas.cluster.image();
    let reg = image.brokers.get(&leader)?;
    let listener = reg
        .listeners
        .iter()
        .find(|l| l.name == replicas.inter_broker_listener)
        .or_else(|| reg.listeners.first())?;
    let addr = format!("{}:{}", listener.host, listener.port);
    let config = ClientConfig {
        client_id,
        ..ClientConfig::default()
    };
    let connected =
        Connection::connect_secured(&addr, config, &replicas.inter_broker_security).await;
    match connected {
        Ok(c) => Some(c),
        Err(e) => {
            debug!(leader, %addr, error = %e, "cannot reach leader");
            None
        }
    }
}

async fn run(replicas: Arc<ReplicaManager>, leader: i32, wake: Arc<Notify>) {
    let backoff = Duration::from_millis(replicas.settings.fetch_backoff_ms.max(50));
    let mut conn: Option<Connection> = None;
    let mut session = FollowerSession::default();
    let mut followed = Followed::default();
    loop {
        followed.refresh(&replicas, leader);
        // A full pass when the session must be opened (every partition goes in the
        // request) or a throttle grants bytes per round (the grants change).
        let force_full = session.needs_full() || replicas.follower_quota().throttles_any();
        let (picked, full) = followed.round(force_full, Instant::now());
        let plan = plan(&mut followed, &picked, leader);
        let any = if full { plan.any } else { !followed.is_empty() };
        let fetches = plan.fetches();
        let epoch_queries: Vec<_> = plan
            .work
            .iter()
            .filter_map(|(i, r)| match r {
                FollowerRequest::OffsetForLeaderEpoch {
                    current_leader_epoch,
                    leader_epoch,
                    ..
                } => Some((
                    followed.partition(*i).clone(),
                    *current_leader_epoch,
                    *leader_epoch,
                )),
                _ => None,
            })
            .collect();
        let out_of_range: Vec<_> = plan
            .work
            .iter()
            .filter_map(|(i, r)| match r {
                FollowerRequest::ListOffsets {
                    current_leader_epoch,
                    ..
                } => Some((followed.partition(*i).clone(), *current_leader_epoch)),
                _ => None,
            })
            .collect();
        let resets = epoch_queries.len() + out_of_range.len();
        // A partial round with no changes still long-polls for the session's partitions.
        let idle = fetches.is_empty() && (full || !session.holds_any());
        if !any || (idle && resets == 0) {
            let idle = plan.next_ready.map_or(Duration::from_millis(500), |t| {
                t.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(500))
            });
            let _ = tokio::time::timeout(idle, wake.notified()).await;
            continue;
        }
        if conn.is_none() {
            conn = connect(&replicas, leader).await;
            if conn.is_none() {
                let _ = tokio::time::timeout(backoff, wake.notified()).await;
                continue;
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let planned = fetches.len();
        let (fetches, grant) = unthrottled(&replicas, &followed, fetches);
        if planned > 0 && fetches.is_empty() && resets == 0 {
            // Every partition is throttled right now: let the quota window move on.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let started = Instant::now();
        let (kind, ok) = if !epoch_queries.is_empty() {
            let ok = offsets_for_epochs(&replicas, c, &epoch_queries).await;
            ("OffsetForLeaderEpoch", ok)
        } else if !out_of_range.is_empty() {
            (
                "ListOffsets",
                reset_out_of_range(&replicas, c, &out_of_range).await,
            )
        } else {
            // Partitions the throttle sits out this round are not fetched either.
            let mut stopped = plan.stopped;
            if fetches.len() < planned {
                let kept: HashSet<usize> = fetches.iter().map(|(i, _)| *i).collect();
                stopped.extend(
                    plan.work
                        .iter()
                        .filter(|(i, r)| {
                            matches!(r, FollowerRequest::Fetch(_)) && !kept.contains(i)
                        })
                        .map(|(i, _)| *i),
                );
            }
            let round = fetch_round::Round {
                fetches: &fetches,
                stopped: &stopped,
                full,
            };
            (
                "Fetch",
                fetch_round::fetch(&replicas, c, &mut session, &mut followed, round, &grant).await,
            )
        };
        let took = started.elapsed();
        if took > SLOW_ROUND {
            debug!(
                leader,
                kind,
                took_ms = took.as_millis() as u64,
                partitions = fetches.len(),
                "slow replica fetch round"
            );
        }
        // The answer's throttled bytes are recorded by now (on_response).
        drop(grant);
        match ok {
            Ok(true) => {}
            Ok(false) => {
                debug!(
                    leader,
                    kind,
                    backoff_ms = backoff.as_millis() as u64,
                    "replica fetch round failed; backing off"
                );
                tokio::time::sleep(backoff).await
            }
            Err(e) => {
                debug!(leader, error = %e, "fetch from leader failed; reconnecting");
                conn = None;
                let _ = tokio::time::timeout(backoff, wake.notified()).await;
            }
        }
    }
}

/// Applies one partition's fetch answer; false asks for a backoff.
pub(super) fn on_response(
    replicas: &ReplicaManager,
    p: &Partition,
    response: &FetchPartitionResponse,
    records: Bytes,
) -> bool {
    let mut inner = p.lock();
    let Role::Follower(state) = &mut inner.role else {
        return true;
    };
    let log = &p.log;
    let action = p.with_epochs(|e| state.on_fetch_response(response, e, log.log_end_offset()));
    let backoff = Duration::from_millis(replicas.settings.fetch_backoff_ms.max(50));
    let ok = match action {
        FollowerAction::Append {
            leader_high_watermark,
            ..
        } => {
            if !records.is_empty() {
                match append_as_follower(p, &records) {
                    Ok(_) => {
                        let bytes = records.len() as u64;
                        replicas.metrics.replication_bytes_in(&p.tp.topic, bytes);
                        let mut quota = replicas.follower_quota();
                        if quota.is_throttled(&p.tp.topic, p.tp.partition) {
                            quota.record(bytes, crate::clock::mono_ms());
                            replicas.metrics.throttled_bytes(bytes);
                        }
                    }
                    Err(e) => {
                        if inner.stuck_log_due(Instant::now()) {
                            warn!(tp = %p.tp, error = %e, "follower append failed; backing off");
                        }
                        delay(&mut inner, backoff);
                        return true;
                    }
                }
            }
            state.on_appended(
                log.log_start_offset(),
                log.log_end_offset(),
                leader_high_watermark,
            );
            // The leader's log start offset (DeleteRecords, retention) moves ours too,
            // as far as this replica's high watermark allows (Kafka's follower
            // `maybeIncrementLogStartOffset`).
            let leader_start = response.log_start_offset.min(state.high_watermark());
            if leader_start > log.log_start_offset() {
                log.update_high_watermark(state.high_watermark().min(log.log_end_offset()));
                if let Err(e) = log.delete_records_before(leader_start) {
                    debug!(tp = %p.tp, error = %e, "cannot follow the leader's log start offset");
                }
            }
            true
        }
        FollowerAction::Truncate { offset } => match truncate_with_progress(p, offset) {
            Ok(true) => {
                info!(tp = %p.tp, offset, "truncated divergent tail");
                true
            }
            Ok(false) => {
                // The same answer would come back at once: back off, log at a bounded rate.
                if inner.stuck_log_due(Instant::now()) {
                    warn!(tp = %p.tp, offset, epochs = ?log.leader_epoch_entries(), "divergent tail truncation made no progress; backing off");
                }
                delay(&mut inner, backoff);
                true
            }
            Err(e) => {
                warn!(tp = %p.tp, error = %e, "truncation failed");
                delay(&mut inner, backoff);
                true
            }
        },
        FollowerAction::TruncateFullyAndStartAt { offset } => {
            restart_log_at(p, &mut inner, offset, backoff);
            true
        }
        FollowerAction::ListLeaderOffsets => {
            // The next round asks the leader for its offsets (FollowerRequest::ListOffsets).
            info!(tp = %p.tp, fetch_offset = response.request_fetch_offset, "fetch offset out of range on the leader; asking for its log start and end");
            true
        }
        FollowerAction::Backoff { error } => {
            debug!(tp = %p.tp, code = error.code(), "fetch error; backing off");
            delay(&mut inner, error_backoff(replicas, error));
            true
        }
        FollowerAction::AwaitMetadata { error } => {
            debug!(tp = %p.tp, code = error.code(), "fenced; waiting for new metadata");
            true
        }
        FollowerAction::Ignore => true,
    };
    if inner.sync_high_watermark(log) {
        replicas.notifier().notify();
    }
    ok
}
