//! The controller listener: accepts connections from controllers and brokers and hands
//! each request to the local raft node (raft RPCs, forwarded proposals), to the
//! controller running on this node (broker calls), or to the applied metadata
//! (metadata fetches). Dropping the serve future (the node's shutdown aborts its task)
//! closes the listener and every connection with it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::serving::ListenerState;
use super::wire::{IncomingEnvelope, ProposeRejection, Request, Response, read_frame, write_frame};
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply};

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, state: Arc<ListenerState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "controller connection accepted");
                    connections.spawn(serve_connection(stream, state.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accepting a controller connection failed"),
            },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<ListenerState>) {
    let (raft, cluster_id) = (&state.raft, &state.cluster_id);
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
        if *envelope.cluster_id != **cluster_id {
            tracing::warn!(
                expected = %cluster_id,
                got = %envelope.cluster_id,
                "refusing a request for another cluster"
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
            Request::Controller(call) => Response::Controller(handle_call(&state, call).await),
            Request::FetchMetadata {
                after,
                max_wait_ms,
                observer_id,
            } => {
                let wait = Duration::from_millis(max_wait_ms);
                Response::Metadata(state.fetch_metadata(after, wait, observer_id).await)
            }
        };
        if let Err(e) = write_frame(&mut stream, &response).await {
            tracing::debug!(error = %e, "writing a raft response failed");
            return;
        }
    }
}

/// Runs a broker's call on this node's controller; a node without a running controller
/// refuses with NOT_CONTROLLER, naming the leader it knows of.
async fn handle_call(
    state: &ListenerState,
    call: ControllerCall,
) -> Result<ControllerReply, ControllerFailure> {
    match state.controller.get().and_then(Weak::upgrade) {
        Some(controller) => controller.handle(call).await,
        None => {
            let leader = state.raft.metrics().borrow().current_leader;
            // This node cannot decide, so naming itself would send the client in a loop.
            let hint = leader.filter(|l| *l != state.node_id);
            Err(ControllerFailure::not_controller(state.node_id, hint))
        }
    }
}
