//! The aborted-transaction index across a crash (issue 16 item 2): confluent-kafka's
//! transactional producer commits and aborts, the broker is killed -9, every
//! `.txnindex` file is deleted (as an index that lost unsynced entries), and after a
//! restart a read_committed consumer still gets no aborted record — log recovery
//! rebuilt the index from the batches, as Kafka's `LogSegment.recover`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const TOPIC: &str = "txn-crash";

fn scenario(b: &Broker, cmd: &str) -> String {
    let args: Vec<String> = ["--bootstrap", &b.bootstrap(), "--topic", TOPIC, cmd]
        .iter()
        .map(|s| s.to_string())
        .collect();
    python_client("txn_index_recovery.py", &args, Duration::from_secs(120))
        .ok()
        .stdout
}

fn txn_index_files(b: &Broker) -> Vec<PathBuf> {
    let dir = b.log_dir().join(format!("{TOPIC}-0"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .collect();
    out.sort();
    out
}

#[test]
fn kill9_and_lost_txnindex_files_hide_no_aborted_record_from_read_committed() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(BrokerOpts::default());
    let out = scenario(&b, "write");
    assert!(out.contains("\"ok\": true"), "{out}");
    let status = b.kill9();
    assert!(!status.success(), "kill -9 exited {status}");
    let indexes = txn_index_files(&b);
    // Two aborted transactions: two 34-byte entries.
    let bytes: u64 = indexes
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    assert_eq!(bytes, 68, "{indexes:?}");
    for p in &indexes {
        std::fs::remove_file(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    b.start_process();
    let out = scenario(&b, "verify");
    assert!(out.contains("\"ok\": true"), "{out}");
    println!("{}", out.trim());
    assert_eq!(txn_index_files(&b), indexes, "the rebuilt .txnindex files");
    let status = b.sigterm();
    assert!(status.success(), "SIGTERM exited {status}");
}
