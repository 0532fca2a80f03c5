//! A data dir written by the single-node mode without KRaft (0.2; topics and configs
//! in `tidewater-metadata.json`, no `__cluster_metadata`) still works: the broker, now
//! a one-voter KRaft node, migrates that metadata into its metadata log on start, and
//! records, topic ids, configs and committed group offsets are all there, before and
//! after another restart.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const T: Duration = Duration::from_secs(120);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

fn check(b: &Broker, phase: &str) {
    python_client(
        "migrated_single_node.py",
        &[b.bootstrap(), phase.to_string()],
        T,
    )
    .ok();
}

#[test]
fn an_old_single_node_data_dir_is_migrated_on_start() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(BrokerOpts {
        // The fixture's group metadata topic has one partition.
        config: vec![("offsets.topic.num.partitions".into(), "1".into())],
        ..BrokerOpts::default()
    });
    assert!(b.sigterm().success());
    let data = b.log_dir();
    std::fs::remove_dir_all(&data).expect("remove fresh data dir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single-node-file-metadata/data");
    copy_dir(&fixture, &data);

    b.start_process();
    assert!(b.log().contains("migrated topic"), "{}", b.log());
    let file = std::fs::read_to_string(data.join("tidewater-metadata.json")).expect("node file");
    let file: serde_json::Value = serde_json::from_str(&file).expect("json");
    assert_eq!(
        file["topics"],
        serde_json::json!({}),
        "migrated topics are cleared"
    );
    assert_eq!(
        file["next_producer_id"], 1000,
        "the producer-id counter stays"
    );
    assert!(data.join("__cluster_metadata").is_dir());
    check(&b, "first");

    // Restarted: the metadata comes from the metadata log now; nothing is migrated twice.
    assert!(b.sigterm().success());
    b.start_process();
    let log = b.log();
    let runs = log.matches("migrating the single-node").count();
    assert_eq!(runs, 1, "migration ran exactly once:\n{log}");
    check(&b, "again");
    assert!(b.sigterm().success());
}
