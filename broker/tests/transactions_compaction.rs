//! Log compaction of a transactional topic through a real client (issue 16 item 3):
//! confluent-kafka's transactional producer commits and aborts over the same keys of a
//! `cleanup.policy=compact` topic; once the cleaner removed the aborted records
//! (`clients/txn_compaction.py` waits for that through a read_uncommitted consumer), a
//! read_committed consumer gets each key's latest committed value at its original
//! offset, once, and nothing aborted.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

#[test]
fn compaction_removes_aborted_records_and_keeps_the_latest_committed_value() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(BrokerOpts::default());
    let args: Vec<String> = ["--bootstrap", &b.bootstrap(), "--topic", "txn-compact"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = python_client("txn_compaction.py", &args, Duration::from_secs(240)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
    println!("{}", out.stdout.trim());
}
