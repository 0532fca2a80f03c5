//! InitProducerId: without a transactional id, a fresh producer id at epoch 0 (an
//! idempotent producer); with one, the transaction coordinator's epoch bump (or new
//! producer id), fencing older producers of that id.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker_server::Coordinators;

pub async fn handle(
    coordinators: &Coordinators,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    // KIP-360: a producer recovering from an error names its current id and epoch;
    // both or neither.
    let expected = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => None,
        (pid, epoch) if pid >= 0 && epoch >= 0 => Some((pid, epoch)),
        _ => {
            resp.error_code = E::InvalidRequest.code();
            return resp;
        }
    };
    let transactional_id = req.transactional_id.as_ref().map(|t| t.0.as_str());
    match coordinators
        .txns()
        .init_producer_id(
            coordinators.producer_ids(),
            transactional_id,
            req.transaction_timeout_ms,
            expected,
        )
        .await
    {
        Ok((id, epoch)) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = epoch;
        }
        Err(e) => resp.error_code = super::txn::fenced_code(e, version, 4),
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
    async fn fresh_ids_and_a_transactional_id_needs_its_coordinator() {
        let tb = broker(&[]);
        let c = tb.broker.coordinators();
        let mut idempotent = InitProducerIdRequest::default();
        idempotent.transactional_id = None;
        let a = handle(c, idempotent.clone(), 4).await;
        let b = handle(c, idempotent, 4).await;
        assert_eq!(a.error_code, 0);
        assert_ne!(a.producer_id, b.producer_id);
        assert_eq!(a.producer_epoch, 0);
        // An empty transactional id is refused, as by Kafka (null means idempotent).
        assert_eq!(
            handle(c, InitProducerIdRequest::default(), 4)
                .await
                .error_code,
            E::InvalidRequest.code()
        );
        let mut tx = InitProducerIdRequest::default();
        tx.transactional_id = Some(TransactionalId(StrBytes::from_static_str("tx")));
        tx.transaction_timeout_ms = 60_000;
        // No __transaction_state partition is led here (the topic does not exist yet).
        assert_eq!(
            handle(c, tx.clone(), 4).await.error_code,
            E::NotCoordinator.code()
        );
        tx.producer_id = ProducerId(5);
        assert_eq!(
            handle(c, tx, 4).await.error_code,
            E::InvalidRequest.code(),
            "an id without an epoch"
        );
    }
}
