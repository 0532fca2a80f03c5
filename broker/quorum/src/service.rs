//! The controller shell: runs the sans-IO [`Controller`] on the quorum leader.
//!
//! Decisions are serialized (one at a time, like KRaft's controller event queue) and
//! each one starts from a read barrier, so it sees every committed record, including
//! those of earlier leaders and of the previous decision. A new raft term resets the
//! controller's in-memory state (heartbeat times), as a KRaft controller failover does.
//! A background ticker fences brokers whose session expired (and, from the moment this
//! node becomes the leader, probes brokers it has no heartbeat connection from, see
//! `sessions`), elects leaders for
//! offline partitions once a config change allows it, and, when enabled, moves
//! leadership back to preferred replicas. Followers refuse with NOT_CONTROLLER.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::controller::{Controller, ControllerConfig, ControllerError, Decision};
use crate::image::MetadataImage;
use crate::raft::{QuorumError, QuorumNode};
use crate::records::MetadataRecord;
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply};

mod calls;
mod sessions;

/// A refused request or a quorum failure.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Refused(#[from] ControllerError),
    #[error(transparent)]
    Quorum(#[from] QuorumError),
}

impl ServiceError {
    pub fn error_code(&self) -> i16 {
        match self {
            Self::Refused(e) => e.error_code(),
            Self::Quorum(e) => e.error_code(),
        }
    }
}

/// How often the ticker runs its periodic decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickerConfig {
    /// Session-expiry check period (well below `broker.session.timeout.ms`).
    pub tick_interval: Duration,
    /// `leader.imbalance.check.interval.seconds`.
    pub rebalance_interval: Duration,
}

impl Default for TickerConfig {
    fn default() -> Self {
        Self {
            tick_interval: Duration::from_millis(500),
            rebalance_interval: Duration::from_secs(300),
        }
    }
}

struct State {
    controller: Controller,
    /// Term the controller state belongs to.
    term: u64,
}

/// The controller's state, shared with the listener (which holds it weakly).
pub(crate) struct ControllerShared {
    node: QuorumNode,
    config: ControllerConfig,
    state: Mutex<State>,
    /// Monotonic clock for heartbeat times.
    clock: Instant,
    /// Heartbeat connections that closed while their broker's listener still accepted
    /// (not fenced: see `sessions`).
    closes_of_live_brokers: AtomicU64,
}

/// A quorum member that makes controller decisions while it leads.
pub struct QuorumController {
    inner: Arc<ControllerShared>,
    ticker: AbortOnDrop,
}

/// Stops the ticker task when the controller is dropped without `shutdown`.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for QuorumController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumController")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl QuorumController {
    /// Wraps a started node and starts the ticker.
    pub fn new(node: QuorumNode, config: ControllerConfig, ticker: TickerConfig) -> Self {
        let inner = Arc::new(ControllerShared {
            node,
            state: Mutex::new(State {
                controller: Controller::new(config.clone()),
                term: 0,
            }),
            config,
            clock: Instant::now(),
            closes_of_live_brokers: AtomicU64::new(0),
        });
        // Brokers' calls reach this controller through the node's listener.
        let slot = &inner.node.listener_state().controller;
        if slot.set(Arc::downgrade(&inner)).is_err() {
            tracing::warn!("a controller was already attached to this quorum node");
        }
        let task = tokio::spawn(run_ticker(inner.clone(), ticker));
        Self {
            inner,
            ticker: AbortOnDrop(task),
        }
    }

    pub fn node(&self) -> &QuorumNode {
        &self.inner.node
    }

    /// How many heartbeat connections closed while their broker's listener still
    /// accepted connections, so the broker was not fenced (a live broker's timed-out
    /// heartbeat, or an older release's pooled connection).
    pub fn closes_of_live_brokers(&self) -> u64 {
        self.inner.closes_of_live_brokers.load(Ordering::Relaxed)
    }

    /// Runs one decision on the leader, writes its records and waits until they are
    /// applied; returns the decision's reply.
    pub async fn decide<R>(
        &self,
        decide: impl FnOnce(
            &mut Controller,
            &MetadataImage,
            u64,
        ) -> Result<Decision<R>, ControllerError>,
    ) -> Result<R, ServiceError> {
        self.inner.decide(decide).await
    }

    /// [`Self::decide`] for decisions that only produce records.
    pub async fn decide_records(
        &self,
        decide: impl FnOnce(
            &mut Controller,
            &MetadataImage,
            u64,
        ) -> Result<Vec<MetadataRecord>, ControllerError>,
    ) -> Result<(), ServiceError> {
        self.inner.decide(records_only(decide)).await
    }

    /// Runs one broker call as one decision (see [`crate::rpc::ControllerCall`]).
    pub async fn handle(&self, call: ControllerCall) -> Result<ControllerReply, ControllerFailure> {
        self.inner.handle(call).await
    }

    /// Stops the ticker, then the quorum node (raft and the listener). Calls still in
    /// flight on other tasks fail as the node stops.
    pub async fn shutdown(self) -> Result<(), QuorumError> {
        let Self { inner, mut ticker } = self;
        ticker.0.abort();
        let _cancelled = (&mut ticker.0).await;
        inner.node.stop().await
    }
}

pub(crate) fn records_only(
    decide: impl FnOnce(
        &mut Controller,
        &MetadataImage,
        u64,
    ) -> Result<Vec<MetadataRecord>, ControllerError>,
) -> impl FnOnce(&mut Controller, &MetadataImage, u64) -> Result<Decision<()>, ControllerError> {
    move |c, image, now| decide(c, image, now).map(|records| Decision { records, reply: () })
}

impl ControllerShared {
    pub(crate) async fn decide<R>(
        &self,
        decide: impl FnOnce(
            &mut Controller,
            &MetadataImage,
            u64,
        ) -> Result<Decision<R>, ControllerError>,
    ) -> Result<R, ServiceError> {
        let mut state = self.state.lock().await;
        let mut image = match self.node.read_barrier().await {
            Ok(image) => image,
            // Leadership not confirmed by a quorum in time: nothing was decided, so this
            // is NOT_CONTROLLER (KRaft's leader resigns likewise) and the client may retry.
            Err(QuorumError::Timeout(_)) => {
                return Err(QuorumError::NotLeader { leader: None }.into());
            }
            Err(e) => return Err(e.into()),
        };
        let term = self.node.current_term();
        if state.term != term {
            tracing::info!(
                term,
                node = self.node.node_id(),
                "controller activated for a new term"
            );
            state.controller = Controller::new(self.config.clone());
            state.term = term;
            let bootstrap = state.controller.bootstrap_features(&image)?;
            if !bootstrap.is_empty() {
                let index = self.node.propose_on_leader(bootstrap).await?;
                image = self
                    .node
                    .wait_for_offset(index, Duration::from_secs(30))
                    .await?;
            }
        }
        let now_ms = self.clock.elapsed().as_millis() as u64;
        let decision = decide(&mut state.controller, &image, now_ms)?;
        if !decision.records.is_empty() {
            let index = self.node.propose_on_leader(decision.records).await?;
            self.node
                .wait_for_offset(index, Duration::from_secs(30))
                .await?;
        }
        Ok(decision.reply)
    }
}

async fn run_ticker(inner: Arc<ControllerShared>, config: TickerConfig) {
    let mut tick = tokio::time::interval(config.tick_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rebalance = Instant::now();
    let mut metrics = inner.node.metrics();
    let me = Some(inner.node.node_id());
    let mut was_leader = false;
    loop {
        // A new leader ticks at once: a broker that died with the old controller is
        // found by the probe below, not a tick interval later.
        tokio::select! {
            _ = tick.tick() => {}
            changed = metrics.changed() => {
                if changed.is_err() {
                    return;
                }
                let leads = metrics.borrow_and_update().current_leader == me;
                let became = leads && !was_leader;
                was_leader = leads;
                if !became {
                    continue;
                }
            }
        }
        was_leader = inner.node.leader() == me;
        if !was_leader {
            continue;
        }
        let fence = records_only(|c, image, now| Ok(c.tick(image, now)));
        if let Err(e) = inner.decide(fence).await {
            tracing::debug!(error = %e, "controller tick skipped");
        }
        inner.probe_brokers_without_session().await;
        // Offline partitions whose topic now allows unclean election (a dynamic config
        // change) get a leader; a separate decision, so it sees the fencing above.
        let offline = records_only(|c, image, _| Ok(c.elect_offline_leaders(image)));
        if let Err(e) = inner.decide(offline).await {
            tracing::debug!(error = %e, "offline leader election skipped");
        }
        if inner.config.auto_leader_rebalance_enable
            && last_rebalance.elapsed() >= config.rebalance_interval
        {
            last_rebalance = Instant::now();
            let rebalance = records_only(|c, image, _| Ok(c.rebalance_leaders(image)));
            if let Err(e) = inner.decide(rebalance).await {
                tracing::debug!(error = %e, "leader rebalance skipped");
            }
        }
    }
}
