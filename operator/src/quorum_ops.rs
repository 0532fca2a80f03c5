//! quorum_ops: the KIP-853 requests [`crate::quorum`] asks for, through
//! `tidewater-client`: AddRaftVoter and RemoveRaftVoter, sent to any broker (which
//! forwards them to the active controller). IO only; when to send them is the
//! planner's decision.

use tidewater_client::AdminClient;
use tidewater_client::kafka_protocol::messages::add_raft_voter_request::Listener;
use tidewater_client::kafka_protocol::messages::{AddRaftVoterRequest, RemoveRaftVoterRequest};
use tidewater_client::kafka_protocol::protocol::StrBytes;

use crate::kafka_ops::{answered, sent};
use crate::observed::AdminError;

/// The listener name every node's `controller.listener.names` has
/// ([`crate::build::config::server_properties`]).
const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// AddRaftVoter of `id` listening on `host:port`. The active controller answers once
/// the new voter has caught up and the change is committed (or with
/// REQUEST_TIMED_OUT; the next reconcile asks again).
pub async fn add_raft_voter(
    client: &AdminClient,
    id: i32,
    endpoint: Option<&(String, u16)>,
) -> Result<(), AdminError> {
    let Some((host, port)) = endpoint else {
        return Err(AdminError::Request {
            request: "AddRaftVoter",
            message: format!("no controller listener is known for node {id}"),
        });
    };
    let listener = Listener::default()
        .with_name(StrBytes::from_static_str(CONTROLLER_LISTENER))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(*port);
    let req = AddRaftVoterRequest::default()
        .with_voter_id(id)
        .with_timeout_ms(TIMEOUT_MS)
        .with_listeners(vec![listener]);
    let resp = client.send(req).await.map_err(sent("AddRaftVoter"))?;
    answered(
        &format!("AddRaftVoter {id}"),
        resp.error_code,
        resp.error_message.as_deref(),
    )
}

/// RemoveRaftVoter of `id`.
pub async fn remove_raft_voter(client: &AdminClient, id: i32) -> Result<(), AdminError> {
    let req = RemoveRaftVoterRequest::default().with_voter_id(id);
    let resp = client.send(req).await.map_err(sent("RemoveRaftVoter"))?;
    answered(
        &format!("RemoveRaftVoter {id}"),
        resp.error_code,
        resp.error_message.as_deref(),
    )
}

/// How long the controller may take to promote a caught-up voter (milliseconds).
const TIMEOUT_MS: i32 = 10_000;
