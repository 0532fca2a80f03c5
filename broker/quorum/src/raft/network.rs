//! Outbound raft RPCs over TCP (openraft `RaftNetworkFactory` / `RaftNetwork`).
//! One lazily (re)connected stream per target; any IO failure drops the stream so
//! the next call reconnects. Connect failures are `Unreachable` (openraft backs off);
//! a peer's host name is resolved at each connect, so one that does not resolve (a
//! deleted pod) is unreachable too, and one that moved to a new IP is found again.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::TypeConfig;
use super::transport::{BoxedStream, ControllerTransport};
use super::wire::{OutgoingEnvelope, Request, Response, read_frame, write_frame};
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

/// When each peer last acknowledged an AppendEntries from this node (as leader), for
/// DescribeQuorum's `lastFetchTimestamp` of the voters.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerAcks(Arc<Mutex<BTreeMap<u64, Instant>>>);

impl PeerAcks {
    fn record(&self, peer: u64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer, Instant::now());
    }

    /// How long ago `peer` last acknowledged, if it ever did.
    pub(crate) fn since_last_ack(&self, peer: u64) -> Option<Duration> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            .map(Instant::elapsed)
    }
}

/// Creates a [`Connection`] per replication target.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    cluster_id: Arc<str>,
    acks: PeerAcks,
    /// `controller.quorum.voters` (`host:port`): a configured voter is reached at its
    /// configured address rather than the one its membership entry holds, which a
    /// quorum formed by an older build recorded resolved (a pod IP, stale once the pod
    /// comes back elsewhere). Voters added later are reached at their membership entry.
    configured: BTreeMap<u64, String>,
    /// TLS or plaintext, as the controller listener is.
    transport: ControllerTransport,
}

impl NetworkFactory {
    pub fn new(cluster_id: Arc<str>, transport: ControllerTransport) -> Self {
        Self {
            cluster_id,
            acks: PeerAcks::default(),
            configured: BTreeMap::new(),
            transport,
        }
    }

    /// Reaches the voters of `controller.quorum.voters` at these addresses.
    pub(crate) fn with_configured_voters(mut self, voters: BTreeMap<u64, String>) -> Self {
        self.configured = voters;
        self
    }

    /// Where replication to `target` connects: its configured address, else `node`'s.
    fn address_of(&self, target: u64, node: &BasicNode) -> String {
        self.configured.get(&target).unwrap_or(&node.addr).clone()
    }

    /// The acknowledgement times every connection made by this factory records.
    pub(crate) fn peer_acks(&self) -> PeerAcks {
        self.acks.clone()
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        let addr = self.address_of(target, node);
        let mut conn = Connection::new(
            target,
            addr,
            self.cluster_id.clone(),
            self.transport.clone(),
        );
        conn.acks = Some(self.acks.clone());
        conn
    }
}

/// Why a call failed before a response arrived.
#[derive(Debug)]
pub(crate) enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
    /// The peer belongs to another cluster (it named the cluster it expected).
    InconsistentClusterId(String),
}

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<u64, BasicNode, E> {
        match self {
            Self::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            Self::Network(e) => RPCError::Network(NetworkError::new(&e)),
            // Unreachable makes openraft back off from a peer of another cluster.
            Self::InconsistentClusterId(expected) => {
                let e = io::Error::other(format!("peer belongs to cluster {expected}"));
                RPCError::Unreachable(Unreachable::new(&e))
            }
        }
    }
}

/// A client connection to one controller.
#[derive(Debug)]
pub struct Connection {
    target: u64,
    addr: String,
    cluster_id: Arc<str>,
    /// How the stream is opened (TLS or not).
    transport: ControllerTransport,
    stream: Option<BoxedStream>,
    /// Set on replication connections only.
    acks: Option<PeerAcks>,
    /// Caps the connect part of a call (brokers move on from a vanished controller
    /// instead of spending their whole request timeout on one connect).
    connect_timeout: Option<Duration>,
}

impl Connection {
    pub(crate) fn new(
        target: u64,
        addr: String,
        cluster_id: Arc<str>,
        transport: ControllerTransport,
    ) -> Self {
        Self {
            target,
            addr,
            cluster_id,
            transport,
            stream: None,
            acks: None,
            connect_timeout: None,
        }
    }

    pub(crate) fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sends one request and waits for its response, all within `ttl`.
    pub(crate) async fn call(
        &mut self,
        req: &Request,
        ttl: Duration,
    ) -> Result<Response, CallError> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "raft RPC timed out");
        if self.stream.is_none() {
            let connect_ttl = self.connect_timeout.map_or(ttl, |c| c.min(ttl));
            // The TLS handshake and SASL exchange, if any, count as part of the connect.
            let connect = self.transport.connect(&self.addr, &self.cluster_id);
            let stream = tokio::time::timeout(connect_ttl, connect)
                .await
                .map_err(|_| CallError::Unreachable(timed_out()))?
                .map_err(CallError::Unreachable)?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(CallError::Unreachable(io::Error::other("no connection")));
        };
        let exchange = async {
            let envelope = OutgoingEnvelope {
                cluster_id: &self.cluster_id,
                request: req,
            };
            write_frame(stream, &envelope).await?;
            read_frame::<_, Response>(stream).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection")
            })
        };
        let result = match tokio::time::timeout(ttl, exchange).await {
            Ok(r) => r,
            Err(_) => Err(timed_out()),
        };
        if result.is_err() {
            // The stream may hold half a frame now; never reuse it.
            self.stream = None;
        }
        match result {
            Ok(Response::InconsistentClusterId { expected }) => {
                tracing::warn!(
                    node = self.target,
                    expected = %expected,
                    ours = %self.cluster_id,
                    "controller belongs to another cluster"
                );
                Err(CallError::InconsistentClusterId(expected))
            }
            Ok(response) => Ok(response),
            Err(e) => Err(CallError::Network(e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, E> {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected response from node {}", self.target),
        );
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(&Request::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(Response::AppendEntries(r)) => {
                if let Some(acks) = &self.acks {
                    acks.record(self.target);
                }
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(&Request::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(Response::InstallSnapshot(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await {
            Ok(Response::Vote(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_voter_is_reached_at_its_configured_host_name() {
        let network = NetworkFactory::new("c".into(), ControllerTransport::default())
            .with_configured_voters(BTreeMap::from([(1, "controller-1.svc:9093".to_owned())]));
        // A membership entry recorded resolved by an older build.
        let recorded = BasicNode::new("10.0.0.7:9093");
        assert_eq!(network.address_of(1, &recorded), "controller-1.svc:9093");
        // A voter added with AddRaftVoter: its membership entry.
        let added = BasicNode::new("controller-4.svc:9093");
        assert_eq!(network.address_of(4, &added), "controller-4.svc:9093");
    }
}
