//! AddRaftVoter (80) and RemoveRaftVoter (81), KIP-853: change the controller quorum
//! one voter at a time. The request is checked here (cluster id, the new voter's
//! controller endpoint) and forwarded to the active controller, whose raft makes the
//! change; its refusals (DUPLICATE_VOTER, VOTER_NOT_FOUND, REQUEST_TIMED_OUT while
//! another change is in flight) come back unchanged.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_raft_voter_request::Listener;
use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::raft::endpoint;
use tidewater_quorum::rpc::ControllerCall;

use super::describe_quorum::forward_done;
use super::msg;
use crate::broker_server::MetadataView;
use crate::kafka_error::KafkaError;

/// A refusal, before anything is forwarded or by the controller.
type Refusal = KafkaError;

fn check_cluster_id(metadata: &MetadataView, requested: Option<&StrBytes>) -> Result<(), Refusal> {
    match requested {
        // Null (or empty, the codec's default) asks for no check, as in Kafka.
        Some(id) if !id.is_empty() && id.as_str() != metadata.cluster_id() => Err(KafkaError::new(
            E::InconsistentClusterId,
            format!(
                "the request is for cluster {id}, this is cluster {}",
                metadata.cluster_id()
            ),
        )),
        _ => Ok(()),
    }
}

/// The new voter's controller endpoint: the listener named in
/// `controller.listener.names` if the request lists it, else the only one given.
fn voter_endpoint(listeners: &[Listener], names: &[String]) -> Result<String, Refusal> {
    let chosen = listeners
        .iter()
        .find(|l| {
            names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(l.name.as_str()))
        })
        .or(match listeners {
            [only] => Some(only),
            _ => None,
        });
    match chosen {
        Some(l) if !l.host.is_empty() && l.port != 0 => Ok(endpoint(l.host.as_str(), l.port)),
        Some(l) => Err(KafkaError::new(
            E::InvalidRequest,
            format!("listener {} has no host and port", l.name.as_str()),
        )),
        None => Err(KafkaError::new(
            E::InvalidRequest,
            format!(
                "the new voter must list its controller listener ({})",
                names.join(",")
            ),
        )),
    }
}

async fn forward(metadata: &MetadataView, call: ControllerCall) -> Result<(), Refusal> {
    forward_done(metadata.cluster(), call)
        .await
        .map_err(|f| f.error)
}

pub async fn add(metadata: &MetadataView, req: AddRaftVoterRequest) -> AddRaftVoterResponse {
    let result = async {
        check_cluster_id(metadata, req.cluster_id.as_ref())?;
        let names = &metadata.cluster().config.controller_listener_names;
        let endpoint = voter_endpoint(&req.listeners, names)?;
        let call = ControllerCall::AddVoter {
            voter_id: req.voter_id,
            endpoint,
        };
        forward(metadata, call).await
    }
    .await;
    let mut resp = AddRaftVoterResponse::default();
    if let Err(e) = result {
        resp.error_code = e.code();
        resp.error_message = msg(e.message);
    }
    resp
}

pub async fn remove(
    metadata: &MetadataView,
    req: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let result = async {
        check_cluster_id(metadata, req.cluster_id.as_ref())?;
        let call = ControllerCall::RemoveVoter {
            voter_id: req.voter_id,
        };
        forward(metadata, call).await
    }
    .await;
    let mut resp = RemoveRaftVoterResponse::default();
    if let Err(e) = result {
        resp.error_code = e.code();
        resp.error_message = msg(e.message);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::broker;

    fn listener(name: &str, host: &str, port: u16) -> Listener {
        let mut l = Listener::default();
        l.name = StrBytes::from_string(name.into());
        l.host = StrBytes::from_string(host.into());
        l.port = port;
        l
    }

    #[test]
    fn the_controller_listener_is_the_voters_endpoint() {
        let names = vec!["CONTROLLER".to_string()];
        let both = [
            listener("PLAINTEXT", "h", 9092),
            listener("controller", "h", 9093),
        ];
        assert_eq!(voter_endpoint(&both, &names).unwrap(), "h:9093");
        let only = [listener("OTHER", "::1", 9093)];
        assert_eq!(voter_endpoint(&only, &names).unwrap(), "[::1]:9093");
        let e = voter_endpoint(&[], &names).unwrap_err();
        assert_eq!(e.error, E::InvalidRequest);
        assert!(e.message.contains("CONTROLLER"), "{}", e.message);
        let two = [listener("A", "h", 1), listener("B", "h", 2)];
        assert!(voter_endpoint(&two, &names).is_err());
        let no_port = [listener("CONTROLLER", "h", 0)];
        assert_eq!(
            voter_endpoint(&no_port, &names).unwrap_err().error,
            E::InvalidRequest
        );
    }

    #[tokio::test]
    async fn a_foreign_cluster_id_is_refused_and_the_only_voter_stays() {
        let tb = broker(&[]);
        let mut req = RemoveRaftVoterRequest::default();
        req.cluster_id = Some(StrBytes::from_static_str("another-cluster"));
        req.voter_id = 1;
        let r = remove(tb.broker.metadata(), req).await;
        assert_eq!(r.error_code, E::InconsistentClusterId.code());
        let mut req = RemoveRaftVoterRequest::default();
        req.voter_id = 1;
        let r = remove(tb.broker.metadata(), req).await;
        assert_eq!(
            r.error_code,
            E::InvalidRequest.code(),
            "{:?}",
            r.error_message
        );
        let mut req = RemoveRaftVoterRequest::default();
        req.voter_id = 7;
        let r = remove(tb.broker.metadata(), req).await;
        assert_eq!(
            r.error_code,
            E::VoterNotFound.code(),
            "{:?}",
            r.error_message
        );
        let mut req = AddRaftVoterRequest::default();
        req.voter_id = 1;
        req.listeners = vec![listener("CONTROLLER", "127.0.0.1", 9093)];
        let r = add(tb.broker.metadata(), req).await;
        assert_eq!(
            r.error_code,
            E::DuplicateVoter.code(),
            "{:?}",
            r.error_message
        );
    }
}
