//! [`QuorumNode`]: one controller's membership in the metadata quorum. Starts raft on
//! the durable stores, serves peers on the controller listener, bootstraps the voter
//! set on first start, and offers propose / leader / image-follow / shutdown.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, RaftMetrics, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::log_file::{read_atomic, write_atomic};
use super::network::{Connection, NetworkFactory};
use super::transport::ControllerTransport;
use super::wire::{ProposeRejection, Request, Response};
use super::{ListenerState, LogStore, StateMachine, TypeConfig, server};
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// Settings of one quorum member (`node.id`, `controller.quorum.voters`, `log.dirs`).
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// `cluster.id`: recorded in the data dir on first start and checked on every
    /// start and on every request between controllers.
    pub cluster_id: String,
    pub node_id: u64,
    /// Every voter's controller listener address (`host:port`), this node included.
    /// Host names are resolved at each connect, never at start: a voter whose name
    /// does not resolve (its pod deleted) is unreachable like a down node, and one
    /// that comes back with a new IP is found (Kafka resolves them the same way).
    pub voters: BTreeMap<u64, String>,
    pub data_dir: PathBuf,
    /// `controller.quorum.election.timeout.ms` is the lower bound of the randomized range.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Take a snapshot after this many entries since the last one.
    pub snapshot_after_entries: u64,
    /// Entries kept behind the snapshot, so slightly lagging followers avoid a snapshot.
    pub logs_to_keep_after_snapshot: u64,
    /// How long `propose` waits for the commit (`controller.quorum.request.timeout.ms`).
    pub propose_timeout: Duration,
    /// This node is not in `voters`: it joins an existing quorum (KIP-853's
    /// `--no-initial-controllers`), so it never initializes a membership and waits,
    /// uninitialized, until the leader adds it with AddRaftVoter.
    pub join_existing: bool,
    /// How the controller listener and connections to other controllers are secured
    /// (plaintext unless the controller listener is SSL).
    pub transport: ControllerTransport,
}

impl QuorumConfig {
    /// KRaft-like defaults: 1-2 s election timeout, 2 s request timeout.
    pub fn new(
        cluster_id: impl Into<String>,
        node_id: u64,
        voters: BTreeMap<u64, impl ToString>,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            node_id,
            voters: voter_addresses(voters),
            data_dir,
            election_timeout_min_ms: 1_000,
            election_timeout_max_ms: 2_000,
            heartbeat_interval_ms: 200,
            snapshot_after_entries: 10_000,
            logs_to_keep_after_snapshot: 1_000,
            propose_timeout: Duration::from_secs(2),
            join_existing: false,
            transport: ControllerTransport::default(),
        }
    }
}

/// Infrastructure failures of the quorum (protocol refusals are `ControllerError`s).
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("invalid quorum config: {0}")]
    Config(String),
    #[error("metadata quorum storage or listener failed: {0}")]
    Io(#[from] io::Error),
    #[error("data dir or peer belongs to cluster {found}, not {expected}")]
    InconsistentClusterId { expected: String, found: String },
    #[error("not the quorum leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("proposal not committed within {0:?} (no quorum?)")]
    Timeout(Duration),
    #[error("raft failed: {0}")]
    Raft(String),
}

impl QuorumError {
    /// Kafka error code for a client of the controller.
    pub fn error_code(&self) -> i16 {
        match self {
            Self::NotLeader { .. } => 41, // NOT_CONTROLLER
            Self::Timeout(_) => 7,        // REQUEST_TIMED_OUT
            Self::InconsistentClusterId { .. } => 104,
            _ => -1, // UNKNOWN_SERVER_ERROR
        }
    }
}

/// A running member of the metadata quorum.
pub struct QuorumNode {
    node_id: u64,
    voters: BTreeMap<u64, String>,
    cluster_id: Arc<str>,
    pub(super) raft: Raft<TypeConfig>,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// The controller listener task; aborted on shutdown and on drop. Behind a mutex
    /// so a controller sharing the node can stop it.
    server: Mutex<Option<JoinHandle<()>>>,
    /// What the listener serves besides raft (controller calls, metadata fetches).
    listener: Arc<ListenerState>,
    propose_timeout: Duration,
    /// How proposals are forwarded to the leader (TLS or not).
    transport: ControllerTransport,
    /// Held while a voter change runs: KIP-853 allows one at a time.
    pub(super) membership_change: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for QuorumNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumNode")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl QuorumNode {
    /// Binds this node's voter address and starts (a joining node uses
    /// [`Self::start_with_listener`]: it has no voter address yet).
    pub async fn start(config: QuorumConfig) -> Result<Self, QuorumError> {
        let addr = config.voters.get(&config.node_id).ok_or_else(|| {
            QuorumError::Config(format!("node {} is not in the voter set", config.node_id))
        })?;
        let listener = TcpListener::bind(addr.as_str()).await?;
        Self::start_with_listener(config, listener).await
    }

    /// Starts on an already bound controller listener (lets tests use port 0).
    pub async fn start_with_listener(
        config: QuorumConfig,
        listener: TcpListener,
    ) -> Result<Self, QuorumError> {
        if config.voters.contains_key(&config.node_id) == config.join_existing {
            return Err(QuorumError::Config(if config.join_existing {
                format!(
                    "node {} joins the quorum but is already a voter",
                    config.node_id
                )
            } else {
                format!("node {} is not in the voter set", config.node_id)
            }));
        }
        let raft_config = openraft::Config {
            cluster_name: "tidewater-metadata".into(),
            election_timeout_min: config.election_timeout_min_ms,
            election_timeout_max: config.election_timeout_max_ms,
            heartbeat_interval: config.heartbeat_interval_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_after_entries),
            max_in_snapshot_log_to_keep: config.logs_to_keep_after_snapshot,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))?;
        if config.cluster_id.is_empty() {
            return Err(QuorumError::Config("cluster.id must not be empty".into()));
        }
        check_cluster_id(&config)?;
        let log_store = LogStore::open(&config.data_dir)?;
        let (state_machine, image) = StateMachine::open(&config.data_dir)?;
        let recent = state_machine.recent_entries();
        let cluster_id: Arc<str> = config.cluster_id.clone().into();
        let network = NetworkFactory::new(cluster_id.clone(), config.transport.clone())
            .with_configured_voters(config.voters.clone());
        let acks = network.peer_acks();
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let state = Arc::new(ListenerState::new(
            config.node_id,
            raft.clone(),
            cluster_id.clone(),
            recent,
            image.clone(),
            acks,
        ));
        let server = tokio::spawn(server::serve(
            listener,
            state.clone(),
            config.transport.clone(),
        ));
        let node = Self {
            node_id: config.node_id,
            voters: config.voters.clone(),
            cluster_id,
            raft,
            image,
            server: Mutex::new(Some(server)),
            listener: state,
            propose_timeout: config.propose_timeout,
            transport: config.transport.clone(),
            membership_change: tokio::sync::Mutex::new(()),
        };
        if config.join_existing {
            tracing::info!(
                node = config.node_id,
                "joining the quorum: waiting for AddRaftVoter"
            );
        } else {
            node.bootstrap().await?;
        }
        Ok(node)
    }

    /// On first start, every voter initializes the same membership (openraft accepts
    /// identical initialization on all members); restarts find their vote/log and skip it.
    async fn bootstrap(&self) -> Result<(), QuorumError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if initialized {
            return Ok(());
        }
        let members: BTreeMap<u64, BasicNode> = self
            .voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                tracing::debug!(error = %e, "quorum already initialized by a peer");
                Ok(())
            }
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The address `controller.quorum.voters` gave voter `id`.
    pub(super) fn configured_voter(&self, id: u64) -> Option<&str> {
        self.voters.get(&id).map(String::as_str)
    }

    /// How long a controller write may take (`controller.quorum.request.timeout.ms`).
    pub fn request_timeout(&self) -> Duration {
        self.propose_timeout
    }

    /// Appends `records` as one log entry and waits for it to commit; returns its log
    /// index. A follower forwards to the leader; without a leader, or without a quorum
    /// within the propose timeout, this fails cleanly.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        match tokio::time::timeout(self.propose_timeout, self.propose_inner(records)).await {
            Ok(result) => result,
            Err(_) => Err(QuorumError::Timeout(self.propose_timeout)),
        }
    }

    async fn propose_inner(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        let leader = match self.raft.client_write(records.clone()).await {
            Ok(r) => return Ok(r.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f.leader_id,
            Err(e) => return Err(QuorumError::Raft(e.to_string())),
        };
        let Some((leader, addr)) = leader
            .filter(|l| *l != self.node_id)
            .and_then(|l| self.peer_addr(l).map(|a| (l, a)))
        else {
            return Err(QuorumError::NotLeader { leader });
        };
        let mut conn = Connection::new(
            leader,
            addr,
            self.cluster_id.clone(),
            self.transport.clone(),
        );
        match conn
            .call(&Request::Propose(records), self.propose_timeout)
            .await
        {
            Ok(Response::Propose(Ok(index))) => Ok(index),
            Ok(Response::Propose(Err(ProposeRejection::NotLeader { leader }))) => {
                Err(QuorumError::NotLeader { leader })
            }
            Ok(Response::Propose(Err(ProposeRejection::Failed(e)))) => Err(QuorumError::Raft(e)),
            Ok(_) => Err(QuorumError::Raft(format!(
                "unexpected response from leader {leader}"
            ))),
            Err(_) => Err(QuorumError::NotLeader {
                leader: Some(leader),
            }),
        }
    }

    /// Appends `records` only if this node is the leader (no forwarding): controller
    /// decisions are made against the leader's image and must be written by it.
    pub async fn propose_on_leader(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<u64, QuorumError> {
        let write = self.raft.client_write(records);
        match tokio::time::timeout(self.propose_timeout, write).await {
            Ok(Ok(r)) => Ok(r.log_id.index),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(e)) => Err(QuorumError::Raft(e.to_string())),
            Err(_) => Err(QuorumError::Timeout(self.propose_timeout)),
        }
    }

    /// Confirms this node still leads a quorum and returns an image holding every
    /// entry committed so far (openraft's linearizable read barrier).
    pub async fn read_barrier(&self) -> Result<Arc<MetadataImage>, QuorumError> {
        let barrier = self.raft.ensure_linearizable();
        let read_index = match tokio::time::timeout(self.propose_timeout, barrier).await {
            Ok(Ok(log_id)) => log_id.map_or(0, |l| l.index),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Err(QuorumError::NotLeader {
                    leader: f.leader_id,
                });
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                tracing::debug!(error = %e, "leadership not confirmed by a quorum");
                return Err(QuorumError::NotLeader { leader: None });
            }
            Ok(Err(e)) => return Err(QuorumError::Raft(e.to_string())),
            Err(_) => return Err(QuorumError::Timeout(self.propose_timeout)),
        };
        self.wait_for_offset(read_index, self.propose_timeout).await
    }

    /// The raft term this node is in; a new term means a new leadership.
    pub fn current_term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// The current leader as this node knows it.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// The metadata image after each applied batch, in log order.
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Waits until the image reflects log index `offset` (e.g. one returned by `propose`).
    pub async fn wait_for_offset(
        &self,
        offset: u64,
        timeout: Duration,
    ) -> Result<Arc<MetadataImage>, QuorumError> {
        let mut rx = self.image.clone();
        let wait = rx.wait_for(|image| image.offset >= offset);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(image)) => Ok(image.clone()),
            // The image's sender lives in the state machine, which openraft drops when
            // its core stops: say why (a fatal storage error, a panic) rather than only that.
            Ok(Err(_)) => Err(QuorumError::Raft(
                match &self.raft.metrics().borrow().running_state {
                    Err(fatal) => format!("the state machine stopped: raft core stopped: {fatal}"),
                    Ok(()) => "the state machine stopped".into(),
                },
            )),
            Err(_) => Err(QuorumError::Timeout(timeout)),
        }
    }

    /// Raft metrics (state, term, leader, applied/purged/snapshot log ids).
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics<u64, BasicNode>> {
        self.raft.metrics()
    }

    /// The listener's shared state (controller slot, observers, metadata fetches).
    pub(crate) fn listener_state(&self) -> &Arc<ListenerState> {
        &self.listener
    }

    /// Stops raft (flushing nothing further) and closes the controller listener.
    /// Returns once the listener is closed, so the address can be bound again.
    pub async fn shutdown(self) -> Result<(), QuorumError> {
        self.stop().await
    }

    /// [`Self::shutdown`] through a shared reference, for the controller that owns the
    /// node while connection tasks may still hold it.
    pub(crate) async fn stop(&self) -> Result<(), QuorumError> {
        let result = self
            .raft
            .shutdown()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()));
        if let Some(server) = self.take_server() {
            server.abort();
            // The task ends as cancelled; its listener is dropped by then.
            let _cancelled = server.await;
        }
        result
    }

    fn take_server(&self) -> Option<JoinHandle<()>> {
        // Only ever take()n, so a poisoned lock still holds a consistent value.
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        server.take()
    }
}

/// Voter addresses as `host:port` strings (a `SocketAddr` or a host name and port),
/// kept unresolved: [`super::network::Connection`] resolves them at each connect.
pub(crate) fn voter_addresses(voters: BTreeMap<u64, impl ToString>) -> BTreeMap<u64, String> {
    voters
        .into_iter()
        .map(|(id, addr)| (id, addr.to_string()))
        .collect()
}

/// Records `cluster.id` in a fresh data dir, or checks the recorded one.
fn check_cluster_id(config: &QuorumConfig) -> Result<(), QuorumError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("cluster.id");
    match read_atomic(&path)? {
        Some(found) if found != config.cluster_id.as_bytes() => {
            Err(QuorumError::InconsistentClusterId {
                expected: config.cluster_id.clone(),
                found: String::from_utf8_lossy(&found).into_owned(),
            })
        }
        Some(_) => Ok(()),
        None => Ok(write_atomic(&path, config.cluster_id.as_bytes())?),
    }
}

impl Drop for QuorumNode {
    fn drop(&mut self) {
        if let Some(server) = self.take_server() {
            server.abort();
        }
    }
}
