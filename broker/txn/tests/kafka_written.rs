//! The `__transaction_state` segment an Apache Kafka 4.4.0 node wrote for one
//! committed and one aborted transaction of id `tw-txn` (a fixture made by
//! `broker/tests/kafka_tools/transaction_log.rs`; Kafka 4 writes the flexible value
//! version 1): every record decodes, and replaying them leaves the coordinator with
//! the aborted transaction complete at Kafka's producer id and epoch.

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use tidewater_txn::records::{decode_key, decode_value};
use tidewater_txn::{TxnConfig, TxnCoordinator, TxnState};

#[test]
fn a_kafka_written_transaction_log_replays_to_the_aborted_transaction() {
    let segment = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/fixtures/kafka-4.4-segments/__transaction_state-0/00000000000000000000.log",
    );
    let mut bytes = Bytes::from(std::fs::read(&segment).expect("fixture"));
    let mut coordinator = TxnCoordinator::new(TxnConfig {
        partitions: 1,
        ..TxnConfig::default()
    });
    coordinator.elected(0, 0);
    let mut states = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut bytes).expect("batches") {
        for r in set.records {
            let id = decode_key(r.key.expect("key")).expect("TransactionLogKey");
            let value = r
                .value
                .map(|v| decode_value(v).expect("TransactionLogValue"));
            if let Some(t) = &value {
                states.push(t.state);
            }
            coordinator.replay(&id, value);
        }
    }
    assert_eq!(states.first(), Some(&TxnState::Empty));
    assert_eq!(states.last(), Some(&TxnState::CompleteAbort));
    assert!(states.contains(&TxnState::CompleteCommit));
    assert!(
        coordinator.loaded(0).is_empty(),
        "no transaction was left ending"
    );
    let m = coordinator.describe("tw-txn").expect("replayed");
    assert_eq!((m.state, m.producer_epoch), (TxnState::CompleteAbort, 0));
    assert!(m.partitions.is_empty());
}
