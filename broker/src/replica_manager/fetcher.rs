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

/// What the fetcher for one leader should do next.
struct Plan {
    /// The partitions following `leader` that are not backing off, with their request.
    work: Vec<(Arc<Partition>, FollowerRequest)>,
    /// Whether any partition follows this leader at all.
    any: bool,
    /// The earliest time a backing-off partition becomes ready again.
    next_ready: Option<Instant>,
}

/// The partitions that followed one leader when last looked at, and the
/// [`ReplicaManager::follower_generation`] they were looked at under: a fetch round
/// goes over these instead of every partition on the broker (a third of them with
/// three leaders), until a partition starts following someone.
#[derive(Default)]
struct Followed {
    generation: Option<u64>,
    partitions: Vec<Arc<Partition>>,
}

impl Followed {
    fn refresh(&mut self, replicas: &ReplicaManager, leader: i32) -> &[Arc<Partition>] {
        // Read before the scan: a partition that starts following during it bumps
        // the generation past this one, and the next round looks again.
        let generation = replicas.follower_generation();
        if self.generation != Some(generation) {
            self.partitions = replicas
                .all()
                .into_iter()
                .filter(|p| matches!(&p.lock().role, Role::Follower(f) if f.leader_id() == leader))
                .collect();
            self.generation = Some(generation);
        }
        &self.partitions
    }
}

/// The partitions following `leader`, with what each needs next.
fn plan(followed: &[Arc<Partition>], leader: i32) -> Plan {
    let mut plan = Plan {
        work: Vec::new(),
        any: false,
        next_ready: None,
    };
    let now = Instant::now();
    for p in followed {
        let mut inner = p.lock();
        let delayed = inner.fetch_delayed_until.filter(|t| *t > now);
        let Role::Follower(state) = &mut inner.role else {
            continue;
        };
        if state.leader_id() != leader {
            continue;
        }
        plan.any = true;
        if let Some(t) = delayed {
            plan.next_ready = Some(plan.next_ready.map_or(t, |n| n.min(t)));
            continue;
        }
        let log = &p.log;
        let request =
            p.with_epochs(|e| state.next_request(e, log.log_start_offset(), log.log_end_offset()));
        if let FollowerRequest::TruncateToHighWatermark { offset } = request {
            match log.truncate_to(offset) {
                Ok(()) => state.on_truncated_to_high_watermark(),
                Err(e) => warn!(tp = %p.tp, error = %e, "truncation failed"),
            }
            let request = p.with_epochs(|e| {
                state.next_request(e, log.log_start_offset(), log.log_end_offset())
            });
            drop(inner);
            plan.work.push((p.clone(), request));
            continue;
        }
        drop(inner);
        plan.work.push((p.clone(), request));
    }
    plan
}

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
        let Plan {
            work,
            any,
            next_ready,
        } = plan(followed.refresh(&replicas, leader), leader);
        let fetches: Vec<_> = work
            .iter()
            .filter_map(|(p, r)| match r {
                FollowerRequest::Fetch(f) => Some((p.clone(), *f)),
                _ => None,
            })
            .collect();
        let epoch_queries: Vec<_> = work
            .iter()
            .filter_map(|(p, r)| match r {
                FollowerRequest::OffsetForLeaderEpoch {
                    current_leader_epoch,
                    leader_epoch,
                    ..
                } => Some((p.clone(), *current_leader_epoch, *leader_epoch)),
                _ => None,
            })
            .collect();
        let out_of_range: Vec<_> = work
            .iter()
            .filter_map(|(p, r)| match r {
                FollowerRequest::ListOffsets {
                    current_leader_epoch,
                    ..
                } => Some((p.clone(), *current_leader_epoch)),
                _ => None,
            })
            .collect();
        let resets = epoch_queries.len() + out_of_range.len();
        if !any || (fetches.is_empty() && resets == 0) {
            let idle = next_ready.map_or(Duration::from_millis(500), |t| {
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
        let (fetches, grant) = unthrottled(&replicas, fetches);
        if fetches.is_empty() && resets == 0 {
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
            (
                "Fetch",
                fetch_round::fetch(&replicas, c, &mut session, &fetches, &grant).await,
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
