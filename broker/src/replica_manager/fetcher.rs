//! Follower fetchers (Kafka's `ReplicaFetcherThread`): one task per leader broker
//! fetches every partition this broker follows from it over the Kafka protocol, through
//! one KIP-227 fetch session ([`super::fetch_session`]). This module plans each round
//! and runs the loop; the round trip and the appends or truncations the follower state
//! machine decides are in [`super::fetch_round`], the throttle in
//! [`super::follower_throttle`], OffsetForLeaderEpoch and out-of-range resets in
//! [`super::truncation`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use tidewater_client::{ClientConfig, Connection};
use tidewater_quorum::image::MetadataImage;
use tidewater_replication::FollowerRequest;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::fetch_round::fetch;
use super::fetch_session::FollowerSession;
use super::follower_throttle::unthrottled;
use super::truncation::{offsets_for_epochs, reset_out_of_range};
use super::{Partition, PartitionInner, Role};
use crate::broker_server::Broker;

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

impl Broker {
    /// Starts fetchers for leaders we now follow, wakes them, stops unused ones.
    pub(crate) fn sync_fetchers(self: &Arc<Self>, _image: &MetadataImage) {
        let leaders: HashSet<i32> = self
            .replicas()
            .all()
            .iter()
            .filter_map(|p| match &p.lock().role {
                Role::Follower(f) => Some(f.leader_id()),
                _ => None,
            })
            .collect();
        let mut fetchers = self
            .replicas()
            .fetchers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
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

/// What the fetcher for one leader should do next.
struct Plan {
    /// The partitions following `leader` that are not backing off, with their request.
    work: Vec<(Arc<Partition>, FollowerRequest)>,
    /// Whether any partition follows this leader at all.
    any: bool,
    /// The earliest time a backing-off partition becomes ready again.
    next_ready: Option<Instant>,
}

/// The partitions following `leader`, with what each needs next.
fn plan(broker: &Broker, leader: i32) -> Plan {
    let mut plan = Plan {
        work: Vec::new(),
        any: false,
        next_ready: None,
    };
    let now = Instant::now();
    for p in broker.replicas().all() {
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
        let request = state.next_request(&p.epochs(), log.log_start_offset(), log.log_end_offset());
        if let FollowerRequest::TruncateToHighWatermark { offset } = request {
            match log.truncate_to(offset) {
                Ok(()) => state.on_truncated_to_high_watermark(),
                Err(e) => warn!(tp = %p.tp, error = %e, "truncation failed"),
            }
            let request =
                state.next_request(&p.epochs(), log.log_start_offset(), log.log_end_offset());
            drop(inner);
            plan.work.push((p, request));
            continue;
        }
        drop(inner);
        plan.work.push((p, request));
    }
    plan
}

/// Leaves a replica out of fetches for `backoff` (it failed or made no progress).
pub(super) fn delay(inner: &mut PartitionInner, backoff: Duration) {
    inner.fetch_delayed_until = Some(Instant::now() + backoff);
}

/// How soon a follower asks again after a leader refused it because that leader has
/// not applied the metadata the follower already has (a leader change or a new topic
/// reaches the brokers a few ms apart). Waiting `replica.fetch.backoff.ms` (1 s) there
/// kept a new leader's high watermark still for a second after every controlled
/// shutdown, so acks=all produce stalled for that long.
const METADATA_LAG_BACKOFF: Duration = Duration::from_millis(20);

/// The backoff for a partition the leader answered with `error`.
pub(super) fn error_backoff(broker: &Broker, error: ResponseError) -> Duration {
    match error {
        ResponseError::UnknownLeaderEpoch
        | ResponseError::NotLeaderOrFollower
        | ResponseError::UnknownTopicOrPartition => METADATA_LAG_BACKOFF,
        _ => Duration::from_millis(broker.config().replica.fetch_backoff_ms.max(50)),
    }
}

async fn connect(broker: &Broker, leader: i32) -> Option<Connection> {
    let image = broker.cluster().image();
    let reg = image.brokers.get(&leader)?;
    let listener = reg
        .listeners
        .iter()
        .find(|l| l.name == broker.config().inter_broker_listener_name)
        .or_else(|| reg.listeners.first())?;
    let addr = format!("{}:{}", listener.host, listener.port);
    let config = ClientConfig {
        client_id: format!("tidewater-replica-fetcher-{}", broker.config().node_id),
        ..ClientConfig::default()
    };
    match Connection::connect_with(&addr, config).await {
        Ok(c) => Some(c),
        Err(e) => {
            debug!(leader, %addr, error = %e, "cannot reach leader");
            None
        }
    }
}

async fn run(broker: Arc<Broker>, leader: i32, wake: Arc<Notify>) {
    let backoff = Duration::from_millis(broker.config().replica.fetch_backoff_ms.max(50));
    let mut conn: Option<Connection> = None;
    // The fetch session with this leader; a new connection keeps it (the leader's
    // session cache is per broker, not per connection).
    let mut session = FollowerSession::default();
    loop {
        let Plan {
            work,
            any,
            next_ready,
        } = plan(&broker, leader);
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
            conn = connect(&broker, leader).await;
            if conn.is_none() {
                let _ = tokio::time::timeout(backoff, wake.notified()).await;
                continue;
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let (fetches, grant) = unthrottled(&broker, fetches);
        if fetches.is_empty() && resets == 0 {
            // Every partition is throttled right now: let the quota window move on.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let ok = if !epoch_queries.is_empty() {
            offsets_for_epochs(&broker, c, &epoch_queries).await
        } else if !out_of_range.is_empty() {
            reset_out_of_range(&broker, c, &out_of_range).await
        } else {
            fetch(&broker, leader, c, &fetches, &grant, &mut session).await
        };
        // The answer's throttled bytes are recorded by now (on_response).
        drop(grant);
        match ok {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(backoff).await,
            Err(e) => {
                debug!(leader, error = %e, "fetch from leader failed; reconnecting");
                conn = None;
                let _ = tokio::time::timeout(backoff, wake.notified()).await;
            }
        }
    }
}
