//! Transactional requests on the wire for the tests that drive a transaction
//! coordinator without a client library.

use std::time::Duration;

use tidewater_client::Connection;
use tidewater_client::kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use tidewater_client::kafka_protocol::messages::{
    FindCoordinatorRequest, InitProducerIdRequest, InitProducerIdResponse, ProducerId, TopicName,
    WriteTxnMarkersRequest,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

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

/// WriteTxnMarkers as a transaction coordinator sends it: one COMMIT marker of
/// producer `pid`/`epoch` from `coordinator_epoch` for `partitions` of `topic`.
pub fn commit_marker(
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    topic: &str,
    partitions: Vec<i32>,
) -> WriteTxnMarkersRequest {
    let mut t = WritableTxnMarkerTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_owned()));
    t.partition_indexes = partitions;
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(pid);
    marker.producer_epoch = epoch;
    marker.transaction_result = true;
    marker.coordinator_epoch = coordinator_epoch;
    marker.topics = vec![t];
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    req
}
