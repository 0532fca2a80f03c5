//! Kafka's admin command-line tools against a one-node KRaft Tidewater cluster,
//! each checked on what it prints: kafka-topics, kafka-configs (topic, broker,
//! cluster default), kafka-get-offsets, kafka-consumer-groups (list, describe,
//! reset-offsets, delete), kafka-delete-records, kafka-log-dirs,
//! kafka-leader-election, kafka-metadata-quorum, and the producer/consumer perf tests.

use std::collections::BTreeMap;
use std::time::Duration;

use super::common::cluster::Cluster;
use super::common::{Output, kcat, wait_until};
use super::jvm::KafkaTools;

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const CONFIGS: &str = "org.apache.kafka.tools.ConfigCommand";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const GET_OFFSETS: &str = "org.apache.kafka.tools.GetOffsetShell";
const QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";
const STORAGE: &str = "kafka.tools.StorageTool";

const T: Duration = Duration::from_secs(60);

/// Fails unless `out`'s stdout has a line containing every one of `parts`.
fn assert_line(out: &Output, parts: &[&str]) {
    assert!(
        out.stdout
            .lines()
            .any(|l| parts.iter().all(|p| l.contains(p))),
        "no line with {parts:?}:\n{out}"
    );
}

#[test]
fn kafka_admin_tools_manage_a_kraft_node() {
    let Some(kafka) = KafkaTools::find("kafka_admin_tools_manage_a_kraft_node") else {
        return;
    };
    let mut cluster = Cluster::combined(
        1,
        &[
            ("default.replication.factor", "1"),
            ("offsets.topic.replication.factor", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let bs = cluster.node(1).bootstrap();
    topics_create_alter_and_describe(&kafka, &bs);
    topic_configs_add_describe_and_delete(&kafka, &bs);
    broker_configs_per_broker_and_default(&kafka, &bs);
    records_consumed_by_a_group(&bs);
    let ends = get_offsets_of_every_partition(&kafka, &bs);
    consumer_groups_list_and_describe(&kafka, &bs, &ends);
    metadata_quorum_describes_one_voter(&kafka, &bs);
    storage_info_reads_meta_properties(&kafka, &mut cluster);
    topics_delete(&kafka, &bs);
}

/// `--bootstrap-server BS` followed by `args`.
/// kafka-topics: create, alter (more partitions), describe.
fn topics_create_alter_and_describe(kafka: &KafkaTools, bs: &str) {
    let out = kafka.ok_at(
        TOPICS,
        bs,
        &[
            "--create",
            "--topic",
            "tools",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=3600000",
        ],
    );
    assert!(out.stdout.contains("Created topic tools."), "{out}");
    kafka.ok_at(
        TOPICS,
        bs,
        &["--alter", "--topic", "tools", "--partitions", "5"],
    );
    let out = kafka.ok_at(TOPICS, bs, &["--describe", "--topic", "tools"]);
    assert_line(
        &out,
        &[
            "Topic: tools",
            "PartitionCount: 5",
            "ReplicationFactor: 1",
            "retention.ms=3600000",
        ],
    );
    for p in 0..5 {
        let partition = format!("Partition: {p}\t");
        assert_line(&out, &[&partition, "Leader: 1", "Replicas: 1", "Isr: 1"]);
    }
}

const TOPIC_TOOLS: &[&str] = &["--entity-type", "topics", "--entity-name", "tools"];
const BROKER_1: &[&str] = &["--entity-type", "brokers", "--entity-name", "1"];
const BROKER_DEFAULT: &[&str] = &["--entity-type", "brokers", "--entity-default"];

/// kafka-configs `action` (--alter, --describe) on `entity`, then `args`.
fn configs(kafka: &KafkaTools, bs: &str, action: &str, entity: &[&str], args: &[&str]) -> Output {
    let all: Vec<&str> = [&[action], entity, args].concat();
    kafka.ok_at(CONFIGS, bs, &all)
}

/// kafka-configs on the topic: add (a list value), describe, delete.
fn topic_configs_add_describe_and_delete(kafka: &KafkaTools, bs: &str) {
    configs(
        kafka,
        bs,
        "--alter",
        TOPIC_TOOLS,
        &[
            "--add-config",
            "cleanup.policy=[compact,delete],max.message.bytes=200000",
        ],
    );
    configs(
        kafka,
        bs,
        "--alter",
        TOPIC_TOOLS,
        &["--delete-config", "retention.ms"],
    );
    let out = configs(kafka, bs, "--describe", TOPIC_TOOLS, &[]);
    assert_line(
        &out,
        &[
            "cleanup.policy=compact,delete",
            "DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete",
        ],
    );
    assert_line(&out, &["max.message.bytes=200000"]);
    assert!(
        !out.stdout.contains("retention.ms"),
        "retention.ms not deleted:\n{out}"
    );
}

/// kafka-configs on brokers: a dynamic per-broker key and a cluster-wide default.
fn broker_configs_per_broker_and_default(kafka: &KafkaTools, bs: &str) {
    configs(
        kafka,
        bs,
        "--alter",
        BROKER_1,
        &["--add-config", "log.cleaner.threads=2"],
    );
    let out = configs(kafka, bs, "--describe", BROKER_1, &[]);
    assert_line(
        &out,
        &[
            "log.cleaner.threads=2",
            "DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2",
        ],
    );
    configs(
        kafka,
        bs,
        "--alter",
        BROKER_DEFAULT,
        &["--add-config", "log.retention.ms=86400000"],
    );
    let out = configs(kafka, bs, "--describe", BROKER_DEFAULT, &[]);
    assert_line(
        &out,
        &[
            "log.retention.ms=86400000",
            "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=86400000",
        ],
    );
}

/// Records and a group that committed all of them, through librdkafka.
fn records_consumed_by_a_group(bs: &str) {
    let input: String = (0..100).map(|i| format!("k{i}:v{i}\n")).collect();
    kcat(
        &["-b", bs, "-P", "-t", "tools", "-K:", "-X", "acks=all"],
        Some(input.as_bytes()),
        T,
    )
    .ok();
    let read = kcat(
        &[
            "-b",
            bs,
            "-G",
            "tools-group",
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "tools",
        ],
        None,
        T,
    )
    .ok();
    assert_eq!(read.lines().len(), 100, "{read}");
}

/// kafka-get-offsets: the end offsets of the five partitions add up to 100.
fn get_offsets_of_every_partition(kafka: &KafkaTools, bs: &str) -> BTreeMap<i32, i64> {
    let out = kafka.ok_at(GET_OFFSETS, bs, &["--topic", "tools"]);
    let ends: BTreeMap<i32, i64> = out
        .lines()
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            assert_eq!(f.len(), 3, "line {l:?}\n{out}");
            assert_eq!(f[0], "tools", "{out}");
            (
                f[1].parse().expect("partition"),
                f[2].parse().expect("offset"),
            )
        })
        .collect();
    assert_eq!(
        ends.keys().copied().collect::<Vec<_>>(),
        (0..5).collect::<Vec<_>>(),
        "{out}"
    );
    assert_eq!(ends.values().sum::<i64>(), 100, "{out}");
    let out = kafka.ok_at(GET_OFFSETS, bs, &["--topic", "tools", "--time", "-2"]);
    assert!(
        out.lines().iter().all(|l| l.ends_with(":0")),
        "earliest offsets:\n{out}"
    );
    ends
}

/// kafka-consumer-groups: list, and per-partition offsets equal the end offsets.
fn consumer_groups_list_and_describe(kafka: &KafkaTools, bs: &str, ends: &BTreeMap<i32, i64>) {
    let out = kafka.ok_at(GROUPS, bs, &["--list"]);
    assert!(out.lines().contains(&"tools-group"), "{out}");
    let out = kafka.ok_at(GROUPS, bs, &["--describe", "--group", "tools-group"]);
    for (p, end) in ends {
        let end = format!(" {end} ");
        let row: Vec<&str> = out
            .lines()
            .into_iter()
            .filter(|l| {
                l.split_whitespace()
                    .take(3)
                    .eq(["tools-group", "tools", &p.to_string()])
            })
            .collect();
        assert_eq!(row.len(), 1, "partition {p}:\n{out}");
        let cols: Vec<&str> = row[0].split_whitespace().collect();
        assert_eq!(
            (cols[3], cols[4], cols[5]),
            (end.trim(), end.trim(), "0"),
            "partition {p}:\n{out}"
        );
    }
    let out = kafka.ok_at(
        GROUPS,
        bs,
        &["--describe", "--group", "tools-group", "--state"],
    );
    assert_line(&out, &["tools-group", "(1)", "Empty", "0"]);
}

/// kafka-metadata-quorum: this node leads a quorum of one voter.
fn metadata_quorum_describes_one_voter(kafka: &KafkaTools, bs: &str) {
    let out = kafka.ok_at(QUORUM, bs, &["describe", "--status"]);
    assert_line(&out, &["LeaderId:", "1"]);
    assert_line(&out, &["CurrentVoters:", "\"id\": 1"]);
    let out = kafka.ok_at(QUORUM, bs, &["describe", "--replication"]);
    assert_line(&out, &["1", "Leader"]);
}

/// kafka-storage info reads the node's meta.properties (directory.id in Kafka's
/// Uuid form: Tidewater once wrote hex, which the tool refuses).
fn storage_info_reads_meta_properties(kafka: &KafkaTools, cluster: &mut Cluster) {
    let config = cluster.node(1).config_path().display().to_string();
    let out = kafka.ok(STORAGE, &["info", "--config", &config]);
    assert_line(&out, &["Found metadata:", "directory.id=", "node.id=1"]);
}

/// kafka-topics: delete; the topic leaves the metadata.
fn topics_delete(kafka: &KafkaTools, bs: &str) {
    kafka.ok_at(TOPICS, bs, &["--delete", "--topic", "tools"]);
    wait_until("topic 'tools' gone from metadata", T, || {
        let out = kcat(&["-b", bs, "-L"], None, T).ok();
        if out.stdout.contains("topic \"tools\"") {
            Err(out.stdout)
        } else {
            Ok(())
        }
    });
}
