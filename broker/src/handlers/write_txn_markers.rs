//! WriteTxnMarkers (API 27), from a transaction coordinator to this partition leader:
//! each marker is appended as a control batch on the leader replica (acks=all), which
//! ends the producer's transaction in the partition's producer state (and, on
//! `__consumer_offsets`, its pending transactional offsets).

use std::time::Duration;

use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker_server::Broker;
use crate::broker_server::txn::markers::write_markers;

pub async fn handle(
    broker: &Broker,
    req: WriteTxnMarkersRequest,
    _version: i16,
) -> WriteTxnMarkersResponse {
    let replicas = broker.replicas();
    let timeout = Duration::from_millis(
        u64::try_from(broker.config().offsets_commit_timeout_ms).unwrap_or(5000),
    );
    write_markers(
        replicas,
        replicas.notifier(),
        broker.coordinators().groups(),
        broker.config().node_id,
        timeout,
        req,
    )
    .await
}
