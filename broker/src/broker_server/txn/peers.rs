//! The transaction coordinator's connections to other brokers, one per broker and
//! purpose, kept open between requests as Kafka's `AddPartitionsToTxnManager` (a
//! leader's verifications, per coordinator) and `TransactionMarkerChannelManager`
//! (markers, per partition leader) keep theirs: a transactional Produce then costs no
//! TCP (or TLS and SASL) handshake on the hot path.
//!
//! A connection that fails is dropped and the next request opens a new one; a failed
//! connection is never reused (see `tidewater_client::Connection`). Requests on one
//! connection are serialised, as Kafka answers one connection's requests in order.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::protocol::Request;
use tidewater_client::Connection;
use tokio::sync::Mutex;
use tracing::debug;

use crate::replica_manager::{ReplicaManager, connect_to};

/// Open connections to other brokers, by node id.
pub struct PeerConnections {
    /// The client id these connections announce (`tidewater-<purpose>-<node>`).
    client_id: String,
    conns: Mutex<HashMap<i32, Arc<Connection>>>,
}

/// Why a request to another broker got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("broker {0} cannot be reached")]
    Unreachable(i32),
    #[error("request to broker {node} failed: {reason}")]
    Failed { node: i32, reason: String },
}

impl PeerConnections {
    pub fn new(purpose: &str, node_id: i32) -> Self {
        PeerConnections {
            client_id: format!("tidewater-{purpose}-{node_id}"),
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// The open connection to `node`, or a new one.
    async fn connection(
        &self,
        replicas: &ReplicaManager,
        node: i32,
    ) -> Result<Arc<Connection>, PeerError> {
        if let Some(c) = self.conns.lock().await.get(&node) {
            return Ok(c.clone());
        }
        // Connected without the lock, so an unreachable broker delays no request to
        // another; of two racing connects the first kept wins.
        let c = connect_to(replicas, node, self.client_id.clone())
            .await
            .map(Arc::new)
            .ok_or(PeerError::Unreachable(node))?;
        Ok(self.conns.lock().await.entry(node).or_insert(c).clone())
    }

    /// Sends `req` to `node` (at `version`, else the highest both speak) on its kept
    /// connection; a failure drops that connection.
    pub async fn send<Req: Request>(
        &self,
        replicas: &ReplicaManager,
        node: i32,
        req: Req,
        version: Option<i16>,
    ) -> Result<Req::Response, PeerError> {
        let conn = self.connection(replicas, node).await?;
        let sent = match version {
            Some(v) => conn.send_at(&req, v).await,
            None => conn.send(req).await,
        };
        match sent {
            Ok(resp) => Ok(resp),
            Err(e) => {
                debug!(node, error = %e, "request to another broker failed; reconnecting next time");
                let mut conns = self.conns.lock().await;
                // Only this connection goes: another task may have replaced it already.
                if conns.get(&node).is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    conns.remove(&node);
                }
                Err(PeerError::Failed {
                    node,
                    reason: e.to_string(),
                })
            }
        }
    }
}
