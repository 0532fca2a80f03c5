//! Inbound raft RPCs: accepts controller connections on the controller listener and
//! hands each request to the local raft node. Dropping the serve future (the node's
//! shutdown aborts its task) closes the listener and every connection with it.

use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::TypeConfig;
use super::wire::{ProposeRejection, Request, Response, read_frame, write_frame};

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, raft: Raft<TypeConfig>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "controller connection accepted");
                    connections.spawn(serve_connection(stream, raft.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accepting a controller connection failed"),
            },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: TcpStream, raft: Raft<TypeConfig>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    loop {
        let request = match read_frame::<_, Request>(&mut stream).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "dropping controller connection");
                return;
            }
        };
        let response = match request {
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
