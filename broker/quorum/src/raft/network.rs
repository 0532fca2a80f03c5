//! Outbound raft RPCs over TCP (openraft `RaftNetworkFactory` / `RaftNetwork`).
//! One lazily (re)connected stream per target; any IO failure drops the stream so
//! the next call reconnects. Connect failures are `Unreachable` (openraft backs off).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::net::TcpStream;

use super::TypeConfig;
use super::wire::{OutgoingEnvelope, Request, Response, read_frame, write_frame};

/// Creates a [`Connection`] per replication target.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    cluster_id: Arc<str>,
}

impl NetworkFactory {
    pub fn new(cluster_id: Arc<str>) -> Self {
        Self { cluster_id }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        Connection::new(target, node.addr.clone(), self.cluster_id.clone())
    }
}

/// Why a call failed before a response arrived.
#[derive(Debug)]
pub(crate) enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
}

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<u64, BasicNode, E> {
        match self {
            Self::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            Self::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }
}

/// A client connection to one controller.
#[derive(Debug)]
pub struct Connection {
    target: u64,
    addr: String,
    cluster_id: Arc<str>,
    stream: Option<TcpStream>,
}

impl Connection {
    pub(crate) fn new(target: u64, addr: String, cluster_id: Arc<str>) -> Self {
        Self {
            target,
            addr,
            cluster_id,
            stream: None,
        }
    }

    /// Sends one request and waits for its response, all within `ttl`.
    pub(crate) async fn call(
        &mut self,
        req: &Request,
        ttl: Duration,
    ) -> Result<Response, CallError> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "raft RPC timed out");
        if self.stream.is_none() {
            let stream = tokio::time::timeout(ttl, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| CallError::Unreachable(timed_out()))?
                .map_err(CallError::Unreachable)?;
            stream.set_nodelay(true).map_err(CallError::Unreachable)?;
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
            // Unreachable makes openraft back off from a peer of another cluster.
            Ok(Response::InconsistentClusterId { expected }) => {
                Err(CallError::Unreachable(io::Error::other(format!(
                    "node {} belongs to cluster {expected}, not {}",
                    self.target, self.cluster_id
                ))))
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
