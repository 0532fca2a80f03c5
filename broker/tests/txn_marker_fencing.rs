//! WriteTxnMarkers on the wire against a real broker, as a transaction coordinator
//! sends it: the partition leader refuses a marker from an older coordinator epoch
//! than the producer's last marker with TRANSACTION_COORDINATOR_FENCED (Kafka's
//! `ProducerAppendInfo.checkCoordinatorEpoch`), per partition, and keeps that epoch
//! across a kill -9 and restart.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Broker, BrokerOpts};
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::WriteTxnMarkersRequest;
use tidewater_client::{AdminClient, Connection};

const TOPIC: &str = "marker-fencing";
const PRODUCER_ID: i64 = 4242;

/// One COMMIT marker of producer 4242 (epoch 0) for `TOPIC`'s partitions 0 and 1,
/// from `coordinator_epoch`.
fn commit(coordinator_epoch: i32) -> WriteTxnMarkersRequest {
    common::txn::commit_marker(PRODUCER_ID, 0, coordinator_epoch, TOPIC, vec![0, 1])
}

/// Each partition's error code in the answer to `req` (WriteTxnMarkers v1).
async fn send(conn: &Connection, req: &WriteTxnMarkersRequest) -> BTreeMap<i32, i16> {
    let resp = conn.send_at(req, 1).await.expect("WriteTxnMarkers");
    resp.markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.error_code))
        .collect()
}

/// Both partitions answered `code`.
fn both(code: i16) -> BTreeMap<i32, i16> {
    BTreeMap::from([(0, code), (1, code)])
}

/// Both partitions answered `NONE` (written).
fn ok() -> BTreeMap<i32, i16> {
    both(0)
}

async fn connect(b: &Broker) -> Connection {
    Connection::connect(&b.bootstrap(), "txn-marker-test")
        .await
        .expect("connect")
}

#[test]
fn a_marker_from_an_older_coordinator_epoch_gets_transaction_coordinator_fenced() {
    let mut b = Broker::start(BrokerOpts::default());
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let admin = AdminClient::connect(&b.bootstrap()).await.expect("admin");
        admin
            .create_topic(TOPIC, 2, 1, &BTreeMap::new())
            .await
            .expect("create topic");
        let conn = connect(&b).await;
        // The topic's partitions get their leader shortly after creation.
        let deadline = Instant::now() + Duration::from_secs(30);
        while send(&conn, &commit(5)).await != ok() {
            assert!(Instant::now() < deadline, "markers never written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A zombie coordinator (epoch 4) is fenced on every partition; the current
        // one's retry (5) and a newer coordinator (6) are written.
        let fenced = both(E::TransactionCoordinatorFenced.code());
        assert_eq!(send(&conn, &commit(4)).await, fenced);
        assert_eq!(send(&conn, &commit(5)).await, ok());
        assert_eq!(send(&conn, &commit(6)).await, ok());
        assert_eq!(send(&conn, &commit(5)).await, fenced);
    });
    // After kill -9 (no clean-shutdown snapshot: the epoch is rebuilt from the markers
    // in the log) epoch 5 is still the zombie.
    let status = b.kill9();
    assert!(!status.success(), "kill -9 is no clean exit: {status}");
    b.start_process();
    runtime.block_on(async {
        let conn = connect(&b).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let fenced = E::TransactionCoordinatorFenced.code();
        loop {
            let answer = send(&conn, &commit(5)).await;
            if answer.values().all(|c| *c == fenced) {
                break;
            }
            assert!(
                answer.values().all(|c| *c != 0),
                "a zombie's marker was written after the restart: {answer:?}"
            );
            assert!(
                Instant::now() < deadline,
                "partitions never led: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(send(&conn, &commit(6)).await, ok());
    });
}
