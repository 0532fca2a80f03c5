//! UnregisterBroker (v0, KIP-500/KIP-631): remove a broker's registration from the
//! cluster metadata, as `kafka-cluster unregister` and the operator's scale-in do once
//! the broker is drained and stopped. Forwarded to the active controller, which drops
//! the registration and moves any leadership and ISR membership still on it away.
//!
//! An unknown broker id gives BROKER_ID_NOT_REGISTERED; unreachable controllers give
//! REQUEST_TIMED_OUT, as a forwarding Kafka broker answers.

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};
use tidewater_quorum::rpc::ControllerCall;

use super::describe_quorum::forward_done;
use super::msg;
use crate::broker_server::MetadataView;

pub async fn handle(
    metadata: &MetadataView,
    req: UnregisterBrokerRequest,
    _version: i16,
) -> UnregisterBrokerResponse {
    let mut resp = UnregisterBrokerResponse::default();
    let call = ControllerCall::UnregisterBroker {
        broker_id: req.broker_id.0,
    };
    if let Err(f) = forward_done(metadata.cluster(), call).await {
        resp.error_code = f.error.code();
        resp.error_message = msg(f.error.message);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::error::ResponseError as E;
    use kafka_protocol::messages::{ApiKey, BrokerId, ResponseKind};

    #[tokio::test]
    async fn an_unknown_broker_id_is_not_registered() {
        let tb = broker(&[]);
        let req = UnregisterBrokerRequest::default().with_broker_id(BrokerId(7));
        let r = handle(tb.broker.metadata(), req, 0).await;
        assert_eq!(r.error_code, E::BrokerIdNotRegistered.code(), "{r:?}");
        encodes(
            ApiKey::UnregisterBroker,
            0,
            ResponseKind::UnregisterBroker(r),
        );
    }
}
