//! The `__transaction_state` record format against Apache Kafka 4.4.0: a Kafka node
//! runs a committed and an aborted transaction (`txn_records.py`), and every record
//! its transaction coordinator wrote decodes with `tidewater_txn::records`, telling
//! the transaction's states in Kafka's order with the partitions it added.
//!
//! `TIDEWATER_WRITE_FIXTURE=1` copies Kafka's segment to
//! `broker/tests/fixtures/kafka-4.4-segments/__transaction_state-0/`, which
//! `broker/txn/tests/kafka_written.rs` reads without Java.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use tidewater_txn::TxnState;
use tidewater_txn::records::{decode_key, decode_value};

use super::common::process::{require_python_modules, spawn};
use super::jvm::{KafkaTools, kafka_tools_file};
use super::kafka_node::KafkaNode;

/// Every (transactional id, value) record of a `__transaction_state` segment, in order
/// (None: a tombstone).
fn transaction_records(segment: &Path) -> Vec<(String, Option<tidewater_txn::Transit>)> {
    let mut bytes = Bytes::from(std::fs::read(segment).expect("read segment"));
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut bytes).expect("Kafka's batches decode") {
        for r in set.records {
            let id = decode_key(r.key.expect("a key")).expect("TransactionLogKey");
            let value = r
                .value
                .map(|v| decode_value(v).expect("TransactionLogValue"));
            out.push((id, value));
        }
    }
    out
}

#[test]
fn every_transaction_record_kafka_wrote_decodes_in_kafkas_order() {
    let Some(kafka) =
        KafkaTools::find("every_transaction_record_kafka_wrote_decodes_in_kafkas_order")
    else {
        return;
    };
    require_python_modules(&["confluent_kafka"]);
    let mut node = KafkaNode::start(&kafka, &[("transaction.state.log.num.partitions", "1")]);
    let script = kafka_tools_file("txn_records.py").display().to_string();
    let out = spawn("python3", &["-u".into(), script, node.bootstrap()], None)
        .wait(Duration::from_secs(180));
    assert!(out.status.success(), "txn_records.py:\n{out}");
    node.stop();

    let dir = node.log_dir().join("__transaction_state-0");
    let segment = dir.join("00000000000000000000.log");
    let records = transaction_records(&segment);
    let states: Vec<(TxnState, usize)> = records
        .iter()
        .filter(|(id, _)| id == "tw-txn")
        .filter_map(|(_, v)| v.as_ref().map(|t| (t.state, t.partitions.len())))
        .collect();
    // InitProducerId, AddPartitions (once or twice), the commit, then the abort.
    let mut expected_order = vec![TxnState::Empty];
    for s in states.iter().map(|(s, _)| *s).skip(1) {
        if expected_order.last() != Some(&s) {
            expected_order.push(s);
        }
    }
    assert_eq!(
        expected_order,
        [
            TxnState::Empty,
            TxnState::Ongoing,
            TxnState::PrepareCommit,
            TxnState::CompleteCommit,
            TxnState::Ongoing,
            TxnState::PrepareAbort,
            TxnState::CompleteAbort,
        ],
        "states {states:?}"
    );
    let commit = records
        .iter()
        .filter_map(|(_, v)| v.as_ref())
        .find(|t| t.state == TxnState::PrepareCommit)
        .expect("a PrepareCommit record");
    assert_eq!(
        commit.partitions,
        BTreeSet::from([("txn".to_string(), 0), ("txn".to_string(), 1)])
    );
    let first = records[0].1.as_ref().expect("a value");
    assert_eq!((first.producer_epoch, first.timeout_ms), (0, 60_000));

    if std::env::var_os("TIDEWATER_WRITE_FIXTURE").is_some() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kafka-4.4-segments/__transaction_state-0");
        std::fs::create_dir_all(&fixture).expect("fixture dir");
        std::fs::copy(&segment, fixture.join("00000000000000000000.log")).expect("copy");
    }
}
