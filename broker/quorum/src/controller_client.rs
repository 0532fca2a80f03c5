//! The broker side of the controller listener: [`ControllerClient`] sends
//! [`ControllerCall`]s to the active controller (KRaft's `NodeToControllerChannelManager`),
//! and [`MetadataFollower`] follows the metadata log as an observer.
//!
//! The client keeps a few idle connections per voter for reuse (and one for heartbeats
//! that is never dropped while it works: its close tells the controller we are gone), goes to the leader it
//! last learned of, follows NOT_CONTROLLER leader hints, and retries what is safe to
//! retry (NOT_CONTROLLER, unreachable controllers, no leader yet) until the request
//! timeout. It decides nothing itself: every refusal comes from the controller.

mod follower;

pub use follower::MetadataFollower;

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::raft::{CallError, Connection, ControllerTransport, Request, Response};
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply, codes};

/// Pause before retrying when no leader is known (Kafka's `retry.backoff.ms`).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Longest a connect to one voter may take before the next voter is tried.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Idle connections kept per voter; more concurrent calls open (and then drop) extra ones.
const MAX_IDLE_PER_VOTER: usize = 4;

struct ClientInner {
    cluster_id: Arc<str>,
    /// TLS or plaintext, as the controller listener is.
    transport: ControllerTransport,
    /// `controller.quorum.voters` as `host:port`, resolved at each connect (a voter
    /// whose name does not resolve is unreachable, like a stopped one).
    voters: BTreeMap<u64, String>,
    request_timeout: Duration,
    /// Reusable connections per voter, so calls do not pay a TCP handshake each.
    idle: BTreeMap<u64, Mutex<Vec<Connection>>>,
    /// One connection per voter kept for heartbeats: the controller fences this broker
    /// when its last heartbeat connection closes, so the pool must never drop it.
    heartbeat: BTreeMap<u64, Mutex<Option<Connection>>>,
    /// The active controller as last learned, -1 unknown.
    leader: AtomicI64,
    /// Which voter to try next when no leader is known.
    rotation: AtomicUsize,
    /// Endpoints of leaders not in `voters` (controllers added with AddRaftVoter), as
    /// NOT_CONTROLLER answers named them. Reached without pooling: rare, and the
    /// configured voters stay the way back when such a leader goes away.
    learned: Mutex<BTreeMap<u64, String>>,
    /// The heartbeat connection to a learned leader, kept as `heartbeat` is.
    learned_heartbeat: Mutex<BTreeMap<u64, Connection>>,
}

/// Sends calls to the active controller. Cheap to clone (shared connections).
#[derive(Clone)]
pub struct ControllerClient {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for ControllerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerClient")
            .field("voters", &self.inner.voters)
            .field("active_controller", &self.active_controller())
            .field("request_timeout", &self.inner.request_timeout)
            .finish_non_exhaustive()
    }
}

/// What one attempt against one voter came to.
enum Attempt {
    Done(Result<ControllerReply, ControllerFailure>),
    /// Retry now at the named leader.
    GoTo(u64, ControllerFailure),
    /// Retry after a pause at another voter.
    Retry(ControllerFailure),
}

impl ControllerClient {
    /// A client for the quorum `voters` (`controller.quorum.voters`) of `cluster_id`;
    /// `request_timeout` bounds each [`Self::call`], retries included.
    pub fn new(
        cluster_id: &str,
        voters: BTreeMap<u64, impl ToString>,
        request_timeout: Duration,
    ) -> Self {
        Self::secured(
            cluster_id,
            voters,
            request_timeout,
            ControllerTransport::default(),
        )
    }

    /// As [`Self::new`], connecting through `transport` (a TLS controller listener).
    pub fn secured(
        cluster_id: &str,
        voters: BTreeMap<u64, impl ToString>,
        request_timeout: Duration,
        transport: ControllerTransport,
    ) -> Self {
        let voters = crate::raft::voter_addresses(voters);
        let idle = voters
            .keys()
            .map(|id| (*id, Mutex::new(Vec::new())))
            .collect();
        let heartbeat = voters.keys().map(|id| (*id, Mutex::new(None))).collect();
        Self {
            inner: Arc::new(ClientInner {
                cluster_id: cluster_id.into(),
                transport,
                voters,
                request_timeout,
                idle,
                heartbeat,
                leader: AtomicI64::new(-1),
                rotation: AtomicUsize::new(0),
                learned: Mutex::new(BTreeMap::new()),
                learned_heartbeat: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Sends to the known leader (or tries voters in turn), follows NOT_CONTROLLER leader
    /// hints, reconnects on IO errors, retries retriable failures (NOT_CONTROLLER, IO,
    /// no leader yet) until request_timeout; then ControllerFailure{41 or 7}.
    pub async fn call(&self, call: ControllerCall) -> Result<ControllerReply, ControllerFailure> {
        let deadline = Instant::now() + self.inner.request_timeout;
        let request = Request::Controller(call);
        let mut last = ControllerFailure::new(
            codes::NOT_CONTROLLER,
            "no controller answered within the request timeout",
        );
        let mut target = self.pick_voter();
        // Hints followed without a pause; bounded so two nodes naming each other during
        // an election cannot spin.
        let mut hops = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(voter) = target else {
                return Err(ControllerFailure::new(
                    codes::NOT_CONTROLLER,
                    "no controller.quorum.voters configured",
                ));
            };
            if remaining.is_zero() {
                return Err(last);
            }
            match self.attempt(voter, &request, remaining).await {
                Attempt::Done(result) => return result,
                Attempt::GoTo(leader, failure) if hops < self.inner.voters.len() => {
                    hops += 1;
                    last = failure;
                    target = Some(leader);
                    continue;
                }
                Attempt::GoTo(_, failure) | Attempt::Retry(failure) => {
                    hops = 0;
                    last = failure;
                    self.inner.leader.store(-1, Ordering::Relaxed);
                    target = self.next_voter_after(voter);
                }
            }
            let pause = RETRY_BACKOFF.min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(&self, voter: u64, request: &Request, ttl: Duration) -> Attempt {
        match self.exchange(voter, request, ttl).await {
            Ok(Response::Controller(Ok(reply))) => {
                self.learn_leader(Some(voter));
                Attempt::Done(Ok(reply))
            }
            Ok(Response::Controller(Err(failure))) if failure.is_retriable() => {
                let hint = failure
                    .leader_hint()
                    .and_then(|l| u64::try_from(l).ok())
                    .filter(|l| *l != voter && self.reachable(*l, failure.leader_endpoint()));
                self.learn_leader(hint);
                match hint {
                    Some(leader) => Attempt::GoTo(leader, failure),
                    None => Attempt::Retry(failure),
                }
            }
            Ok(Response::Controller(Err(failure))) => Attempt::Done(Err(failure)),
            Ok(_) => Attempt::Retry(ControllerFailure::new(
                codes::NOT_CONTROLLER,
                format!("controller {voter} sent an unexpected response"),
            )),
            Err(CallError::InconsistentClusterId(expected)) => {
                Attempt::Done(Err(ControllerFailure::new(
                    codes::INCONSISTENT_CLUSTER_ID,
                    format!(
                        "controller {voter} belongs to cluster {expected}, not {}",
                        self.inner.cluster_id
                    ),
                )))
            }
            Err(CallError::Network(e)) if e.kind() == io::ErrorKind::TimedOut => {
                Attempt::Retry(ControllerFailure::new(
                    codes::REQUEST_TIMED_OUT,
                    format!("controller {voter} did not answer in time"),
                ))
            }
            Err(CallError::Unreachable(e) | CallError::Network(e)) => {
                Attempt::Retry(ControllerFailure::new(
                    codes::NOT_CONTROLLER,
                    format!("controller {voter} unreachable: {e}"),
                ))
            }
        }
    }

    /// A new (not yet connected) connection to controller `voter` at `addr`.
    pub(crate) fn connection(&self, voter: u64, addr: String) -> Connection {
        Connection::new(
            voter,
            addr,
            self.inner.cluster_id.clone(),
            self.inner.transport.clone(),
        )
        .with_connect_timeout(CONNECT_TIMEOUT)
    }

    /// One request/response on a pooled connection to `voter`; a failed connection is
    /// dropped (the next call reconnects).
    async fn exchange(
        &self,
        voter: u64,
        request: &Request,
        ttl: Duration,
    ) -> Result<Response, CallError> {
        let is_heartbeat = matches!(request, Request::Controller(ControllerCall::Heartbeat(_)));
        let (Some(pool), Some(heartbeat), Some(addr)) = (
            self.inner.idle.get(&voter),
            self.inner.heartbeat.get(&voter),
            self.inner.voters.get(&voter),
        ) else {
            let Some(addr) = self.learned_endpoint(voter) else {
                return Err(CallError::Unreachable(io::Error::other(format!(
                    "{voter} is not a voter"
                ))));
            };
            // Not pooled, but heartbeats keep their connection here too: the controller
            // fences this broker when its heartbeat connection closes.
            let kept = if is_heartbeat {
                self.learned_heartbeat().remove(&voter)
            } else {
                None
            };
            let mut conn = kept.unwrap_or_else(|| self.connection(voter, addr));
            let result = conn.call(request, ttl).await;
            if is_heartbeat && result.is_ok() {
                self.learned_heartbeat().entry(voter).or_insert(conn);
            }
            return result;
        };
        let kept = if is_heartbeat {
            heartbeat
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        } else {
            None
        };
        let pooled = kept.or_else(|| pool.lock().unwrap_or_else(PoisonError::into_inner).pop());
        let mut conn = pooled.unwrap_or_else(|| self.connection(voter, addr.clone()));
        let result = conn.call(request, ttl).await;
        if result.is_ok() {
            let conn = if is_heartbeat {
                let mut slot = heartbeat.lock().unwrap_or_else(PoisonError::into_inner);
                match slot.as_ref() {
                    None => slot.replace(conn),
                    Some(_) => Some(conn),
                }
            } else {
                Some(conn)
            };
            let mut idle = pool.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(conn) = conn
                && idle.len() < MAX_IDLE_PER_VOTER
            {
                idle.push(conn);
            }
        }
        result
    }

    /// The active controller id as last learned (None until known).
    pub fn active_controller(&self) -> Option<i32> {
        let id = self.inner.leader.load(Ordering::Relaxed);
        i32::try_from(id).ok().filter(|id| *id >= 0)
    }

    fn learn_leader(&self, leader: Option<u64>) {
        let id = leader.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
        self.inner.leader.store(id, Ordering::Relaxed);
    }

    /// The known leader, else the voter whose turn it is.
    fn pick_voter(&self) -> Option<u64> {
        let leader = self.inner.leader.load(Ordering::Relaxed);
        if let Ok(leader) = u64::try_from(leader)
            && (self.inner.voters.contains_key(&leader) || self.learned_endpoint(leader).is_some())
        {
            return Some(leader);
        }
        let turn = self.inner.rotation.load(Ordering::Relaxed);
        self.inner
            .voters
            .keys()
            .nth(turn % self.inner.voters.len().max(1))
            .copied()
    }

    /// Whether `leader` can be reached: a configured voter, or one whose `endpoint` a
    /// NOT_CONTROLLER answer named (remembered for later calls).
    fn reachable(&self, leader: u64, endpoint: Option<&str>) -> bool {
        if self.inner.voters.contains_key(&leader) {
            return true;
        }
        let mut learned = self
            .inner
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = endpoint {
            learned.insert(leader, endpoint.to_string());
        }
        learned.contains_key(&leader)
    }

    fn learned_heartbeat(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Connection>> {
        self.inner
            .learned_heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn learned_endpoint(&self, id: u64) -> Option<String> {
        let learned = self
            .inner
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        learned.get(&id).cloned()
    }

    /// The voter after `voter` in id order (wrapping), remembered for the next call.
    fn next_voter_after(&self, voter: u64) -> Option<u64> {
        let ids: Vec<u64> = self.inner.voters.keys().copied().collect();
        let at = ids.iter().position(|id| *id == voter).map_or(0, |i| i + 1);
        let turn = at % ids.len().max(1);
        self.inner.rotation.store(turn, Ordering::Relaxed);
        ids.get(turn).copied()
    }

    pub(crate) fn voters(&self) -> &BTreeMap<u64, String> {
        &self.inner.voters
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }
}
