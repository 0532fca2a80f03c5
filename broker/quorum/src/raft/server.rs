//! Inbound raft RPCs: accepts controller connections on the controller listener and
//! hands each request to the local raft node. Dropping the serve future (the node's
//! shutdown aborts its task) closes the listener and every connection with it.

use std::sync::Arc;

use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::TypeConfig;
use super::wire::{IncomingEnvelope, ProposeRejection, Request, Response, read_frame, write_frame};

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, raft: Raft<TypeConfig>, cluster_id: Arc<str>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "controller connection accepted");
                    connections.spawn(serve_connection(stream, raft.clone(), cluster_id.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accepting a controller connection failed"),
            },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: TcpStream, raft: Raft<TypeConfig>, cluster_id: Arc<str>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    loop {
        let envelope = match read_frame::<_, IncomingEnvelope>(&mut stream).await {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "dropping controller connection");
                return;
            }
        };
        if *envelope.cluster_id != *cluster_id {
            tracing::warn!(
                expected = %cluster_id,
                got = %envelope.cluster_id,
                "refusing a raft request for another cluster"
            );
            let refusal = Response::InconsistentClusterId {
                expected: cluster_id.to_string(),
            };
            if write_frame(&mut stream, &refusal).await.is_err() {
                return;
            }
            continue;
        }
        let response = match envelope.request {
            Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => {
                Response::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            Request::Propose(records) => {
                Response::Propose(match raft.client_write(records).await {
                    Ok(r) => Ok(r.log_id.index),
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        Err(ProposeRejection::NotLeader {
                            leader: f.leader_id,
                        })
                    }
                    Err(e) => Err(ProposeRejection::Failed(e.to_string())),
                })
            }
        };
        if let Err(e) = write_frame(&mut stream, &response).await {
            tracing::debug!(error = %e, "writing a raft response failed");
            return;
        }
    }
}
