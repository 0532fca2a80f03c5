//! Issue 19 item 2: records without a timestamp (librdkafka with timestamp -1 writes
//! every record's timestamp as -1 and the batch's max timestamp as 0) must survive
//! time-based retention. Kafka's LogValidator computes the max timestamp from the
//! records, and a segment with no valid timestamp is aged by its file's mtime.
//! The steps live in `clients/timestamp_retention.py`.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const SCRIPT: &str = "timestamp_retention.py";
const T: Duration = Duration::from_secs(120);

fn step(b: &Broker, name: &str) -> String {
    let args = vec![name.to_string(), "--bootstrap".to_string(), b.bootstrap()];
    python_client(SCRIPT, &args, T).ok().stdout
}

#[test]
fn records_without_timestamps_survive_several_retention_checks() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(BrokerOpts {
        config: vec![("log.retention.check.interval.ms".into(), "200".into())],
        ..Default::default()
    });
    step(&b, "setup");
    step(&b, "produce");
    // Each control round ends only after a retention pass deleted a fresh record of
    // the short-retention topic: three rounds are at least three passes over NO_TS.
    for _ in 0..3 {
        let out = step(&b, "control");
        assert!(out.contains("control_deleted_up_to"), "{out}");
    }
    let out = step(&b, "check");
    assert!(out.contains("\"survived\": 50"), "{out}");
    // The stored batch says what its records say: no timestamp.
    let files: Vec<_> = b
        .segment_files()
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("/no-ts-0/"))
        .collect();
    let dump = b.dump_log(&files).ok().stdout;
    assert!(dump.contains("CreateTime: -1 firstTimestamp: -1"), "{dump}");
    assert!(!dump.contains("CreateTime: 0 "), "{dump}");
    assert!(
        !dump.contains("isvalid: false"),
        "the rewritten header's CRC: {dump}"
    );
}
