//! InitProducerId for idempotent producers: a fresh producer id at epoch 0
//! (what Kafka does without a transactional id). Transactional ids are refused:
//! transactions are not offered by this broker.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::warn;

use crate::broker_server::Coordinators;

pub fn handle(
    coordinators: &Coordinators,
    req: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        resp.error_code = E::UnsupportedVersion.code();
        return resp;
    }
    match coordinators.producer_ids().next_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            warn!(error = %e, "cannot allocate producer id");
            resp.error_code = E::CoordinatorNotAvailable.code();
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::broker;
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    #[tokio::test]
    async fn fresh_ids_and_no_transactions() {
        let tb = broker(&[]);
        let a = handle(
            tb.broker.coordinators(),
            InitProducerIdRequest::default(),
            4,
        );
        let b = handle(
            tb.broker.coordinators(),
            InitProducerIdRequest::default(),
            4,
        );
        assert_eq!(a.error_code, 0);
        assert_ne!(a.producer_id, b.producer_id);
        assert_eq!(a.producer_epoch, 0);
        let mut tx = InitProducerIdRequest::default();
        tx.transactional_id = Some(TransactionalId(StrBytes::from_static_str("tx")));
        assert_eq!(
            handle(tb.broker.coordinators(), tx, 4).error_code,
            E::UnsupportedVersion.code()
        );
    }
}
