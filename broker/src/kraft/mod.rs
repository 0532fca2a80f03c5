//! This node's KRaft role and lifecycle (Kafka's `KafkaRaftServer` with its
//! `ControllerServer` and `BrokerLifecycleManager`): the metadata quorum it runs
//! (controller role), the metadata log it follows, its registration with the active
//! controller (broker role), and the controller calls that change the cluster
//! (`admin`, Kafka's forwarding of admin requests to the controller).
//!
//! Owns the node's view of the cluster (the image, applied in log order) and the only
//! path to change it (controller calls). An IO shell: the decisions are
//! `tidewater-quorum`'s sans-IO controller. Replicas live in [`crate::replica_manager`];
//! the handlers read through [`crate::metadata::image_store::ImageMetadataStore`] and
//! the views here.

pub mod admin;
mod lifecycle;
pub use lifecycle::RegistrationError;
pub mod adopt_kafka;
pub mod adopt_kafka_configs;
pub mod migrate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tidewater_quorum::controller::{ControllerConfig, MINIMUM_METADATA_VERSION};
use tidewater_quorum::controller_client::{ControllerClient, MetadataFollower};
use tidewater_quorum::image::{METADATA_VERSION, MetadataImage};
use tidewater_quorum::raft::{QuorumConfig, QuorumNode};
use tidewater_quorum::records::NO_LEADER;
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure, ControllerReply};
use tidewater_quorum::service::{QuorumController, TickerConfig};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{BrokerConfig, KraftConfig};

/// The `metadata.version` range this build understands (our inter-broker protocol
/// level): Kafka 4's lowest (3.3-IV3) up to the newest level the quorum crate knows.
pub fn supported_metadata_version() -> (u16, u16) {
    (
        MINIMUM_METADATA_VERSION,
        ControllerConfig::default().bootstrap_metadata_version,
    )
}

/// What this node declares: the build's range, capped by `inter.broker.protocol.version`.
pub fn declared_metadata_version(kraft: &KraftConfig) -> (u16, u16) {
    let (min, max) = supported_metadata_version();
    match kraft.metadata_version_pin {
        Some(pin) => (min, max.min(pin).max(min)),
        None => (min, max),
    }
}

/// Where the metadata quorum keeps its log and snapshots (in the first log dir; a name
/// the log manager never takes for a partition directory).
const QUORUM_DIR: &str = "__cluster_metadata";

/// Why this node's KRaft role could not start.
#[derive(Debug, thiserror::Error)]
pub enum KraftStartError {
    #[error("metadata quorum: {0}")]
    Quorum(#[from] tidewater_quorum::raft::QuorumError),
    /// The controller listener's TLS settings cannot be read.
    #[error("controller listener security: {0}")]
    Security(#[from] crate::config::ConfigError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
}

pub struct Cluster {
    pub node_id: i32,
    pub config: KraftConfig,
    pub client: ControllerClient,
    image: watch::Receiver<Arc<MetadataImage>>,
    controller: tokio::sync::Mutex<Option<QuorumController>>,
    follower: tokio::sync::Mutex<Option<MetadataFollower>>,
    /// This broker's registration epoch; -1 until registered.
    broker_epoch: AtomicI64,
    incarnation_id: u128,
    /// Stops the heartbeat task.
    heartbeat_stop: std::sync::Mutex<Option<watch::Sender<bool>>>,
    /// Set while this broker is creating `__consumer_offsets` (one attempt at a time).
    pub(crate) offsets_topic_creating: std::sync::atomic::AtomicBool,
    /// Controllers: the quorum leader as this member's raft sees it.
    raft_leader: Option<Box<dyn Fn() -> Option<u64> + Send + Sync>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts the broker's heartbeats to the active controller (stopped by
    /// [`Cluster::stop_heartbeats`]).
    pub fn start_heartbeats(self: &Arc<Self>, config: BrokerConfig) {
        let (tx, rx) = watch::channel(false);
        *self
            .heartbeat_stop
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tx);
        tokio::spawn(self.clone().run_heartbeats(config, rx));
    }

    /// Stops the heartbeat task, if running.
    pub fn stop_heartbeats(&self) {
        if let Some(tx) = self
            .heartbeat_stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(true);
        }
    }

    /// Starts the quorum member (controllers) or the metadata follower (broker-only
    /// nodes). Registration is [`Cluster::register`], once logs are open.
    pub async fn start(
        config: &BrokerConfig,
        cluster_id: &str,
    ) -> Result<Arc<Cluster>, KraftStartError> {
        let kraft = config.kraft.clone();
        // A controller binds first: a single node's own voter address may be the port
        // the kernel picked (`listeners` without a CONTROLLER entry).
        let bound = match &kraft.controller_listener {
            Some(listener) if kraft.roles.controller => Some(bind_controller(listener).await?),
            _ => None,
        };
        let voters = voter_addresses(&kraft, config.node_id, bound.as_ref().map(|(_, a)| *a));
        let request_timeout = Duration::from_millis(kraft.request_timeout_ms);
        let transport = crate::security::controller_listener::controller_transport(config)?;
        let client = ControllerClient::secured(
            cluster_id,
            voters.clone(),
            request_timeout,
            transport.clone(),
        );
        let mut raft_leader: Option<Box<dyn Fn() -> Option<u64> + Send + Sync>> = None;
        let (controller, follower, image) = if let Some((bound, addr)) = bound {
            let node_id = node_id_u64(config.node_id);
            let mut qc = QuorumConfig::new(
                cluster_id,
                node_id,
                voters,
                config.log_dirs[0].join(QUORUM_DIR),
            );
            // openraft's leader lease is its `election_timeout_max`: voters refuse
            // votes that long after last hearing from the leader, and a silent leader
            // is replaced after lease + random(min, max), 1.5-2x the election timeout
            // (2 s by default, Kafka's `controller.quorum.fetch.timeout.ms`). A leader
            // whose connection closes is replaced once the lease ends (raft::leader_loss).
            qc.election_timeout_max_ms = kraft.election_timeout_ms.max(20);
            qc.election_timeout_min_ms = qc.election_timeout_max_ms / 2;
            qc.heartbeat_interval_ms = (kraft.election_timeout_ms / 5).max(5);
            qc.propose_timeout = request_timeout;
            // Not an initial voter (allowed with controller.quorum.bootstrap.servers):
            // it waits, uninitialized, until AddRaftVoter adds it.
            qc.join_existing = !qc.voters.contains_key(&node_id);
            qc.transport = transport;
            let node = QuorumNode::start_with_listener(qc, bound).await?;
            info!(node = config.node_id, %addr, "metadata quorum member started");
            let image = node.image();
            let metrics = node.metrics();
            raft_leader = Some(Box::new(move || metrics.borrow().current_leader));
            let controller = QuorumController::new(
                node,
                controller_config(config),
                TickerConfig {
                    tick_interval: Duration::from_millis(
                        (kraft.broker_session_timeout_ms / 6).clamp(50, 500),
                    ),
                    rebalance_interval: Duration::from_secs(
                        config.replica.leader_imbalance_check_interval_seconds,
                    ),
                },
            );
            (Some(controller), None, image)
        } else {
            let follower = MetadataFollower::start(client.clone(), config.node_id);
            let image = follower.image();
            (None, Some(follower), image)
        };
        Ok(Arc::new(Cluster {
            node_id: config.node_id,
            config: kraft,
            client,
            image,
            controller: tokio::sync::Mutex::new(controller),
            follower: tokio::sync::Mutex::new(follower),
            broker_epoch: AtomicI64::new(-1),
            incarnation_id: uuid::Uuid::new_v4().as_u128(),
            heartbeat_stop: std::sync::Mutex::new(None),
            raft_leader,
            offsets_topic_creating: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    pub fn is_broker(&self) -> bool {
        self.config.roles.broker
    }

    /// The latest applied metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// A receiver of every new image, in log order.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::Acquire)
    }

    /// Runs one controller call (routed to the active controller).
    pub async fn call(&self, call: ControllerCall) -> Result<ControllerReply, ControllerFailure> {
        self.client.call(call).await
    }

    /// Waits until the local image satisfies `ready`; false after `timeout`.
    pub async fn wait_for_image(
        &self,
        timeout: Duration,
        ready: impl Fn(&MetadataImage) -> bool,
    ) -> bool {
        let mut rx = self.image.clone();
        let wait = rx.wait_for(|image| ready(image));
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// The active controller: a controller's own raft view, else as last learned from
    /// controller replies (-1 when unknown).
    pub fn active_controller(&self) -> i32 {
        if let Some(leader) = &self.raft_leader {
            return leader()
                .and_then(|l| i32::try_from(l).ok())
                .unwrap_or(NO_LEADER);
        }
        self.client.active_controller().unwrap_or(NO_LEADER)
    }

    /// Whether this node is the active controller.
    pub fn is_active_controller(&self) -> bool {
        self.raft_leader.is_some() && self.active_controller() == self.node_id
    }

    /// Stops the metadata follower and the quorum member.
    pub async fn shutdown(&self) {
        if let Some(f) = self.follower.lock().await.take() {
            f.shutdown().await;
        }
        if let Some(c) = self.controller.lock().await.take()
            && let Err(e) = c.shutdown().await
        {
            warn!(error = %e, "metadata quorum did not shut down cleanly");
        }
    }
}

fn node_id_u64(id: i32) -> u64 {
    u64::try_from(id).unwrap_or(0)
}

/// The controller's settings from this node's server.properties.
fn controller_config(config: &BrokerConfig) -> ControllerConfig {
    let kraft = &config.kraft;
    ControllerConfig {
        node_id: config.node_id,
        broker_session_timeout_ms: kraft.broker_session_timeout_ms,
        unclean_leader_election_enable: config.replica.unclean_leader_election_enable,
        auto_leader_rebalance_enable: config.replica.auto_leader_rebalance_enable,
        num_partitions: config.num_partitions,
        default_replication_factor: config.default_replication_factor,
        supported_features: std::iter::once((
            METADATA_VERSION.to_string(),
            declared_metadata_version(kraft),
        ))
        .chain(crate::handlers::update_features::supported_features())
        .collect(),
        bootstrap_metadata_version: declared_metadata_version(kraft).1,
        bootstrap_features: formatted_features(config),
    }
}

/// The levels `format --feature` recorded; a file this node cannot read or take
/// starts the cluster without them (logged), as if none were given.
fn formatted_features(config: &BrokerConfig) -> BTreeMap<String, u16> {
    let supported = crate::handlers::update_features::supported_features().into();
    crate::metadata::bootstrap_features::read(&config.log_dirs, &supported).unwrap_or_else(|e| {
        warn!(error = %e, "ignoring the formatted feature levels");
        BTreeMap::new()
    })
}

/// Binds the controller listener (all interfaces when its host is empty).
async fn bind_controller(
    listener: &crate::config::Listener,
) -> Result<(tokio::net::TcpListener, SocketAddr), KraftStartError> {
    let host = if listener.host.is_empty() {
        "0.0.0.0"
    } else {
        listener.host.as_str()
    };
    let addr = format!("{host}:{}", listener.port);
    let bind_error = |source| KraftStartError::Bind {
        what: "controller listener",
        addr: addr.clone(),
        source,
    };
    let bound = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(bind_error)?;
    let local = bound.local_addr().map_err(bind_error)?;
    Ok((bound, local))
}

/// `controller.quorum.voters` as `host:port`, left unresolved: the quorum and the
/// controller client resolve a voter's host name at each connect (as Kafka does), so a
/// node starts while some voter's name does not resolve — a deleted pod is unreachable,
/// like a stopped node, instead of failing every start. This node's own entry takes the
/// port its controller listener got when it asked for port 0.
fn voter_addresses(
    kraft: &KraftConfig,
    node_id: i32,
    bound: Option<SocketAddr>,
) -> BTreeMap<u64, String> {
    kraft
        .voters
        .iter()
        .map(|v| {
            let port = match bound {
                Some(local) if v.id == node_id && v.port == 0 => local.port(),
                _ => v.port,
            };
            (node_id_u64(v.id), format!("{}:{port}", v.host))
        })
        .collect()
}
