//! Kafka's record and group tools against a one-node KRaft Tidewater cluster:
//! kafka-producer-perf-test and kafka-consumer-perf-test (classic group protocol,
//! range and cooperative-sticky assignors),
//! then kafka-consumer-groups reset-offsets/delete on the group the consumer test
//! committed, kafka-delete-records, kafka-log-dirs and kafka-leader-election; last,
//! DumpLogSegments' `--offsets-decoder` reads those commits and the group's
//! deletion back from Tidewater's `__consumer_offsets` segments.

use std::path::Path;

use super::common::Output;
use super::common::cluster::Cluster;
use super::jvm::{KafkaTools, assert_clean};

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const GET_OFFSETS: &str = "org.apache.kafka.tools.GetOffsetShell";
const PRODUCER_PERF: &str = "org.apache.kafka.tools.ProducerPerformance";
const CONSUMER_PERF: &str = "org.apache.kafka.tools.ConsumerPerformance";
const DELETE_RECORDS: &str = "org.apache.kafka.tools.DeleteRecordsCommand";
const LOG_DIRS: &str = "org.apache.kafka.tools.LogDirsCommand";
const LEADER_ELECTION: &str = "org.apache.kafka.tools.LeaderElectionCommand";
const DUMP_LOG: &str = "org.apache.kafka.tools.DumpLogSegments";

/// Records the perf tests write and read.
const N: usize = 5000;

/// The rows (whitespace-split) of a kafka-consumer-groups table for `group`.
pub(super) fn group_rows<'a>(out: &'a Output, group: &str) -> Vec<Vec<&'a str>> {
    out.stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.first() == Some(&group))
        .collect()
}

#[test]
fn kafka_record_and_group_tools_on_a_kraft_node() {
    let Some(kafka) = KafkaTools::find("kafka_record_and_group_tools_on_a_kraft_node") else {
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
    let node = cluster.node(1);
    let bs = node.bootstrap();
    let log_dir = node.log_dir().display().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    producer_and_consumer_perf_round_trip(&kafka, &bs);
    cooperative_sticky_group_reads_all(&kafka, &bs, dir.path());
    consumer_groups_describe_reset_and_delete(&kafka, &bs);
    delete_records_moves_the_log_start(&kafka, &bs, dir.path());
    log_dirs_name_the_node_log_dir(&kafka, &bs, &log_dir);
    leader_election_is_not_needed(&kafka, &bs);
    dump_log_decodes_the_group_records(&kafka, &mut cluster, &log_dir);
}

/// kafka-producer-perf-test writes N records; kafka-consumer-perf-test reads them all
/// in group perf-group.
fn producer_and_consumer_perf_round_trip(kafka: &KafkaTools, bs: &str) {
    let n = N.to_string();
    kafka.ok_at(
        TOPICS,
        bs,
        &[
            "--create",
            "--topic",
            "perf",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    let props = format!("bootstrap.servers={bs}");
    let out = kafka.ok(
        PRODUCER_PERF,
        &[
            "--topic",
            "perf",
            "--num-records",
            &n,
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--command-property",
            &props,
            "acks=all",
        ],
    );
    assert!(out.stdout.contains(&format!("{N} records sent,")), "{out}");
    consumer_perf_reads_all(kafka, bs, "perf-group", &[]);
}

/// kafka-consumer-perf-test in `group` (with `more` arguments) reads all N records of
/// `perf`.
fn consumer_perf_reads_all(kafka: &KafkaTools, bs: &str, group: &str, more: &[&str]) {
    let n = N.to_string();
    let args = [
        &[
            "--topic",
            "perf",
            "--num-records",
            &n,
            "--group",
            group,
            "--timeout",
            "30000",
        ],
        more,
    ]
    .concat();
    let out = kafka.ok_at(CONSUMER_PERF, bs, &args);
    // The CSV row after the header: data.consumed.in.nMsg is its fifth column.
    let row: Vec<&str> = out
        .lines()
        .last()
        .map(|l| l.split(", ").collect())
        .unwrap_or_default();
    assert_eq!(
        row.get(4).copied(),
        Some(n.as_str()),
        "records consumed by {group}:\n{out}"
    );
}

/// The same read by a group on the cooperative-sticky assignor (classic protocol).
fn cooperative_sticky_group_reads_all(kafka: &KafkaTools, bs: &str, dir: &Path) {
    let coop = dir.join("coop.properties");
    std::fs::write(
        &coop,
        "partition.assignment.strategy=\
         org.apache.kafka.clients.consumer.CooperativeStickyAssignor\n",
    )
    .expect("write coop.properties");
    let config = coop.display().to_string();
    consumer_perf_reads_all(kafka, bs, "coop-group", &["--consumer.config", &config]);
}

/// The consumer test committed its position: the end of the log.
fn consumer_groups_describe_reset_and_delete(kafka: &KafkaTools, bs: &str) {
    let n = N.to_string();
    let out = kafka.ok_at(GROUPS, bs, &["--describe", "--group", "perf-group"]);
    let rows = group_rows(&out, "perf-group");
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0][1..6], ["perf", "0", &n, &n, "0"], "{out}");
    let out = kafka.ok_at(
        GROUPS,
        bs,
        &[
            "--group",
            "perf-group",
            "--reset-offsets",
            "--to-offset",
            "1234",
            "--topic",
            "perf",
            "--execute",
        ],
    );
    assert_eq!(
        group_rows(&out, "perf-group"),
        [["perf-group", "perf", "0", "1234"]],
        "{out}"
    );
    let out = kafka.ok_at(GROUPS, bs, &["--describe", "--group", "perf-group"]);
    let lag = (N - 1234).to_string();
    assert_eq!(
        group_rows(&out, "perf-group")[0][1..6],
        ["perf", "0", "1234", &n, &lag],
        "{out}"
    );
    let out = kafka.ok_at(GROUPS, bs, &["--delete", "--group", "perf-group"]);
    assert!(
        out.stdout
            .contains("Deletion of requested consumer groups ('perf-group') was successful."),
        "{out}"
    );
    let out = kafka.ok_at(GROUPS, bs, &["--list"]);
    assert!(
        !out.lines().contains(&"perf-group"),
        "group not deleted:\n{out}"
    );
}

/// kafka-delete-records moves the log start offset; kafka-get-offsets sees it.
fn delete_records_moves_the_log_start(kafka: &KafkaTools, bs: &str, dir: &Path) {
    let json = dir.join("delete.json");
    std::fs::write(
        &json,
        r#"{"partitions":[{"topic":"perf","partition":0,"offset":100}],"version":1}"#,
    )
    .expect("write delete.json");
    let out = kafka.ok_at(
        DELETE_RECORDS,
        bs,
        &["--offset-json-file", &json.display().to_string()],
    );
    assert!(
        out.stdout.contains("partition: perf-0\tlow_watermark: 100"),
        "{out}"
    );
    let out = kafka.ok_at(GET_OFFSETS, bs, &["--topic", "perf", "--time", "-2"]);
    assert_eq!(out.lines(), ["perf:0:100"], "{out}");
}

/// kafka-log-dirs: the partition lives in the node's log dir and is not empty.
fn log_dirs_name_the_node_log_dir(kafka: &KafkaTools, bs: &str, log_dir: &str) {
    let out = kafka.ok_at(LOG_DIRS, bs, &["--describe", "--topic-list", "perf"]);
    let json = out
        .lines()
        .into_iter()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    assert!(json.contains(r#""partition":"perf-0""#), "{out}");
    assert!(json.contains(&format!(r#""logDir":"{log_dir}""#)), "{out}");
    assert!(
        json.contains(r#""error":null"#) && !json.contains(r#""size":0,"#),
        "{out}"
    );
}

/// kafka-leader-election: the only replica already leads, for either type.
fn leader_election_is_not_needed(kafka: &KafkaTools, bs: &str) {
    for kind in ["preferred", "unclean"] {
        let out = kafka.ok_at(
            LEADER_ELECTION,
            bs,
            &[
                "--election-type",
                kind,
                "--topic",
                "perf",
                "--partition",
                "0",
            ],
        );
        assert!(
            out.stdout
                .contains("Valid replica already elected for partitions perf-0"),
            "{kind}:\n{out}"
        );
    }
}

/// Kafka's own decoder reads the group's records from Tidewater's segments: the
/// consumer test's commit, the reset, and the tombstones of the deletion.
fn dump_log_decodes_the_group_records(kafka: &KafkaTools, cluster: &mut Cluster, log_dir: &str) {
    let status = cluster.node(1).sigterm();
    assert!(status.success(), "node exited {status}");
    let mut segments: Vec<String> = Vec::new();
    for p in 0..5 {
        let dir = std::path::Path::new(&log_dir).join(format!("__consumer_offsets-{p}"));
        for entry in std::fs::read_dir(&dir)
            .expect("read __consumer_offsets dir")
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "log") {
                segments.push(entry.path().display().to_string());
            }
        }
    }
    let files = segments.join(",");
    let out = kafka.run(DUMP_LOG, &["--offsets-decoder", "--files", &files]);
    assert_clean(&out);
    let key =
        r#"key: {"type":"1","data":{"group":"perf-group","topic":"perf","partition":0}} payload: "#;
    let payloads: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(key).map(|(_, p)| p))
        .collect();
    assert!(
        payloads
            .iter()
            .any(|p| p.contains(&format!(r#""offset":{N},"#))),
        "{out}"
    );
    assert!(
        payloads.iter().any(|p| p.contains(r#""offset":1234,"#)),
        "{out}"
    );
    assert_eq!(payloads.last(), Some(&"<DELETE>"), "{out}");
    let group_key = r#"key: {"type":"2","data":{"group":"perf-group"}} payload: <DELETE>"#;
    assert!(out.stdout.contains(group_key), "{out}");
}
