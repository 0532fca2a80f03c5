//! Moving a single-node Apache Kafka 4.4.0 onto Tidewater: Kafka writes a topic and a
//! consumer group's committed offsets and stops; a Tidewater broker starts on that
//! very log dir (its partition directories, checkpoints, `partition.metadata`,
//! `meta.properties`, `__consumer_offsets`, and Kafka's `__cluster_metadata-0`, which
//! is not a topic) and serves every record with the same offsets and timestamps, and
//! the group resumes from the offsets it committed on Kafka.

use std::path::Path;
use std::time::Duration;

use super::common::process::{require_python_modules, spawn};
use super::common::{Broker, BrokerOpts};
use super::jvm::{KafkaTools, kafka_tools_file};
use super::kafka_node::{CLUSTER_ID, KafkaNode};

fn adopt_records(mode: &str, bootstrap: String, file: &Path) {
    let script = kafka_tools_file("adopt_records.py").display().to_string();
    let args = vec![
        "-u".into(),
        script,
        mode.into(),
        bootstrap,
        file.display().to_string(),
    ];
    let out = spawn("python3", &args, None).wait(Duration::from_secs(180));
    assert!(out.status.success(), "adopt_records.py {mode}:\n{out}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn tidewater_adopts_a_log_dir_kafka_wrote() {
    let Some(kafka) = KafkaTools::find("tidewater_adopts_a_log_dir_kafka_wrote") else {
        return;
    };
    require_python_modules(&["confluent_kafka"]);
    // The group coordinator picks a group's partition from this count, on both.
    let offsets_partitions = ("offsets.topic.num.partitions", "5");
    let mut node = KafkaNode::start(&kafka, &[offsets_partitions]);
    let expected = node
        .log_dir()
        .parent()
        .expect("node dir")
        .join("records.json");
    adopt_records("write", node.bootstrap(), &expected);
    node.stop();

    // A Tidewater node with node.id 1, as Kafka's; its own fresh data dir is
    // replaced by Kafka's log dir, as an operator points log.dirs at it.
    let mut b = Broker::start(BrokerOpts {
        config: vec![(offsets_partitions.0.into(), offsets_partitions.1.into())],
        ..BrokerOpts::default()
    });
    assert!(b.sigterm().success());
    std::fs::remove_dir_all(b.log_dir()).expect("remove fresh data dir");
    copy_dir(&node.log_dir(), &b.log_dir());
    b.start_process();
    let log = b.log();
    assert!(log.contains("adopted topic from Kafka's log dir"), "{log}");
    assert!(
        !log.contains("__cluster_metadata-0"),
        "Kafka's metadata log taken for a partition:\n{log}"
    );
    adopt_records("read", b.bootstrap(), &expected);
    assert!(
        std::fs::read_to_string(b.log_dir().join("meta.properties"))
            .expect("meta.properties")
            .contains(&format!("cluster.id={CLUSTER_ID}"))
    );

    // Restarted: adopted once, served again.
    assert!(b.sigterm().success());
    b.start_process();
    adopt_records("read", b.bootstrap(), &expected);
    assert!(b.sigterm().success());
}
