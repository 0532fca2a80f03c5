//! The controller listener: accepts connections from controllers and brokers (through
//! the TLS handshake when the listener is SSL, see `transport`) and hands
//! each request to the local raft node (raft RPCs, forwarded proposals), to the
//! controller running on this node (broker calls), or to the applied metadata
//! (metadata fetches). When a connection that carried a broker's heartbeats or the
//! raft leader's AppendEntries closes, the controller and raft hear of it (see
//! `service::sessions` and `leader_loss`). Dropping the serve future (the node's shutdown aborts its task)
//! closes the listener and every connection with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::AppendEntriesResponse;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::sasl::{AuthOutcome, ServerAuth};
use super::serving::ListenerState;
use super::transport::{BoxedStream, ControllerTransport};
use super::wire::{
    IncomingEnvelope, ProposeRejection, Request, Response, read_frame, read_frame_max, write_frame,
};
use crate::controller::BrokerHeartbeat;
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply};

/// Kafka's `sasl.server.max.receive.size`: the largest frame before authentication.
const MAX_AUTH_FRAME: usize = 524_288;

/// Kafka's `connection.failed.authentication.delay.ms` default.
const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<ListenerState>,
    transport: ControllerTransport,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "controller connection accepted");
                    connections.spawn(serve_connection(stream, state.clone(), transport.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accepting a controller connection failed"),
            },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Numbers listener connections, so the controller can tell which one closed.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// What a connection carried that makes its close a signal (a killed process closes
/// its sockets at once).
#[derive(Debug, Default)]
struct Carried {
    /// A broker's heartbeats: the controller fences the broker when it closes.
    heartbeats: bool,
    /// AppendEntries of this raft leader: a follower may elect when it closes.
    appends_of: Option<u64>,
}

async fn serve_connection(
    tcp: TcpStream,
    state: Arc<ListenerState>,
    transport: ControllerTransport,
) {
    // In the connection's own task: a slow or failed handshake holds up no other.
    let mut stream = match transport.accept(tcp).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "controller connection refused: TLS handshake failed");
            return;
        }
    };
    let connection = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let mut carried = Carried::default();
    let mut auth = transport.sasl_server().map(ServerAuth::new);
    serve_requests(&mut stream, &state, connection, &mut carried, &mut auth).await;
    drop(stream);
    if let Some(leader) = carried.appends_of {
        super::leader_loss::leader_connection_closed(&state, leader);
    }
    if carried.heartbeats
        && let Some(controller) = state.controller.get().and_then(Weak::upgrade)
    {
        controller.connection_closed(connection).await;
    }
}

async fn serve_requests(
    stream: &mut BoxedStream,
    state: &Arc<ListenerState>,
    connection: u64,
    carried: &mut Carried,
    auth: &mut Option<ServerAuth>,
) {
    let (raft, cluster_id) = (&state.raft, &state.cluster_id);
    loop {
        let frame = if auth.is_some() {
            read_frame_max::<_, IncomingEnvelope>(stream, MAX_AUTH_FRAME).await
        } else {
            read_frame::<_, IncomingEnvelope>(stream).await
        };
        let envelope = match frame {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "dropping controller connection");
                return;
            }
        };
        if *envelope.cluster_id != **cluster_id {
            if auth.is_some() {
                // Before SASL nothing is answered, not even this cluster's id.
                tracing::warn!(
                    "closing a controller connection: another cluster's request before SASL authentication"
                );
                return;
            }
            tracing::warn!(
                expected = %cluster_id,
                got = %envelope.cluster_id,
                "refusing a request for another cluster"
            );
            let refusal = Response::InconsistentClusterId {
                expected: cluster_id.to_string(),
            };
            if write_frame(stream, &refusal).await.is_err() {
                return;
            }
            continue;
        }
        if let Some(pending) = auth.as_mut() {
            let Request::SaslAuthenticate { mechanism, token } = envelope.request else {
                tracing::warn!(
                    "closing a controller connection: a request before SASL authentication"
                );
                return;
            };
            let response = match pending.step(&mechanism, &token) {
                AuthOutcome::Continue(response) => response,
                AuthOutcome::Done(response, principal) => {
                    tracing::debug!(principal, "controller connection authenticated");
                    *auth = None;
                    response
                }
                AuthOutcome::Failed(response, reason) => {
                    tracing::info!(reason, "controller connection failed SASL authentication");
                    // Kafka's connection.failed.authentication.delay.ms: slows guessing.
                    tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                    let _ = write_frame(stream, &response).await;
                    return;
                }
            };
            if write_frame(stream, &response).await.is_err() {
                return;
            }
            continue;
        }
        let response = match envelope.request {
            Request::SaslAuthenticate { .. } => Response::SaslAuthenticate(Err(
                "the connection is authenticated, or the listener does not use SASL".into(),
            )),
            Request::AppendEntries(rpc) => {
                let leader = rpc.vote.leader_id().voted_for();
                let response = raft.append_entries(rpc).await;
                if matches!(&response, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_)))
                {
                    carried.appends_of = leader;
                    state.leader_seen.heard_from(leader);
                }
                Response::AppendEntries(response)
            }
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
            Request::Controller(ControllerCall::Heartbeat(hb)) => {
                carried.heartbeats = true;
                Response::Controller(handle_heartbeat(state, hb, connection).await)
            }
            Request::Controller(call) => Response::Controller(handle_call(state, call).await),
            Request::FetchMetadata {
                after,
                max_wait_ms,
                observer_id,
            } => {
                let wait = Duration::from_millis(max_wait_ms);
                Response::Metadata(state.fetch_metadata(after, wait, observer_id).await)
            }
        };
        if let Err(e) = write_frame(stream, &response).await {
            tracing::debug!(error = %e, "writing a raft response failed");
            return;
        }
    }
}

/// A broker's heartbeat on listener connection `connection` (see [`handle_call`]).
async fn handle_heartbeat(
    state: &ListenerState,
    hb: BrokerHeartbeat,
    connection: u64,
) -> Result<ControllerReply, ControllerFailure> {
    match state.controller.get().and_then(Weak::upgrade) {
        Some(controller) => controller.heartbeat_on_connection(hb, connection).await,
        None => handle_call(state, ControllerCall::Heartbeat(hb)).await,
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
