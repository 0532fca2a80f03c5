//! Transactional requests on the wire for the tests that drive a transaction
//! coordinator without a client library.

use std::time::Duration;

use tidewater_client::Connection;
use tidewater_client::kafka_protocol::messages::{
    FindCoordinatorRequest, InitProducerIdRequest, InitProducerIdResponse,
};

/// InitProducerId (v4) for `init`'s transactional id, after a FindCoordinator
/// (key_type 1) each round: the first creates `__transaction_state`, and the id is
/// served once its partition is led and loaded. Panics after `timeout`.
pub async fn init_producer_id(
    conn: &Connection,
    init: &InitProducerIdRequest,
    timeout: Duration,
) -> InitProducerIdResponse {
    let mut find = FindCoordinatorRequest::default();
    find.key_type = 1;
    find.key = init.transactional_id.clone().unwrap_or_default().0;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        conn.send_at(&find, 3).await.expect("FindCoordinator");
        let r = conn.send_at(init, 4).await.expect("InitProducerId");
        if r.error_code == 0 {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no coordinator: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
