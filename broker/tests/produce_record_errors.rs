//! Issue 19 item 3: a Produce batch with invalid records (keyless records to a
//! compacted topic) is refused with INVALID_RECORD, `record_errors` naming each
//! bad record's index with LogValidator's message, and `error_message` (KIP-467),
//! as kafka-python's producer reads them; likewise a CreateTime past
//! `message.timestamp.after.max.ms` (INVALID_TIMESTAMP). The scenario lives in
//! `clients/produce_record_errors.py`.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

#[test]
fn invalid_records_get_per_record_errors() {
    require_python_modules(&["kafka"]);
    let b = Broker::start(BrokerOpts::default());
    let args = vec!["--bootstrap".to_string(), b.bootstrap()];
    let out = python_client("produce_record_errors.py", &args, Duration::from_secs(120)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}

/// The same through a KRaft leader replica (the replicated produce path / the
/// image-backed metadata), on one combined node.
#[test]
fn kraft_leader_answers_with_the_same_record_errors() {
    require_python_modules(&["kafka"]);
    // One node: acks=all (kafka-python's default) needs min.insync.replicas 1,
    // else Kafka's earlier NOT_ENOUGH_REPLICAS check answers first.
    let cluster = Cluster::combined(1, &[("min.insync.replicas", "1")]);
    let args = vec!["--bootstrap".to_string(), cluster.bootstrap()];
    let out = python_client("produce_record_errors.py", &args, Duration::from_secs(120)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}
