//! Kafka's Java client (kafka-clients) against a one-node
//! KRaft Tidewater cluster, through `JavaClient.java` compiled at test time: an
//! idempotent producer (acks=all, five batches in flight) whose records are all read
//! back once and in order, in batches Kafka's DumpLogSegments shows carrying one
//! producer id and gapless sequences; and a group of two members on the range
//! assignor that split the partitions and together read every record once, with the
//! classic protocol and with KIP-848's (`group.protocol=consumer`, the broker's range
//! assignor), whose group kafka-consumer-groups then describes and lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common::Output;
use super::common::cluster::Cluster;
use super::jvm::{KafkaTools, assert_clean};

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const DUMP_LOG: &str = "org.apache.kafka.tools.DumpLogSegments";
const CLIENT: &str = "JavaClient";

/// Records each case writes and reads.
const N: usize = 4000;
/// Partitions of the range group's topic.
const PARTITIONS: i32 = 4;

#[test]
fn java_client_idempotent_producer_and_range_group() {
    let test = "java_client_idempotent_producer_and_range_group";
    let Some((kafka, classes)) = KafkaTools::with_compiled(test, "JavaClient.java") else {
        return;
    };
    let mut cluster = Cluster::combined(
        1,
        &[
            ("offsets.topic.replication.factor", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let node = cluster.node(1);
    let bs = node.bootstrap();
    for (topic, partitions) in [
        ("idempotent", 1),
        ("ranged", PARTITIONS),
        ("ranged848", PARTITIONS),
    ] {
        let partitions = partitions.to_string();
        let args = [
            "--bootstrap-server",
            &bs,
            "--create",
            "--topic",
            topic,
            "--partitions",
            &partitions,
            "--replication-factor",
            "1",
        ];
        kafka.ok(TOPICS, &args);
    }
    let client = |args: &[&str]| -> Output {
        let out = kafka.run_compiled(classes.path(), CLIENT, args);
        assert_clean(&out);
        out
    };
    idempotent_records_read_back_once_in_order(&client, &bs);
    idempotent_batches_carry_gapless_sequences(&kafka, &node.log_dir().join("idempotent-0"));
    range_group_splits_the_partitions(&client, &bs, "range-group", "ranged");
    range_group_splits_the_partitions(&client, &bs, "consumer-group", "ranged848");
    consumer_groups_describes_the_consumer_protocol_group(&kafka, &bs);
    let status = cluster.node(1).sigterm();
    assert!(status.success(), "node exited {status}");
    dump_log_decodes_the_consumer_group_records(&kafka, &cluster.node(1).log_dir());
}

/// Kafka's DumpLogSegments --offsets-decoder reads the KIP-848 records Tidewater
/// wrote to `__consumer_offsets` (member metadata, current assignments) as its own.
fn dump_log_decodes_the_consumer_group_records(kafka: &KafkaTools, log_dir: &Path) {
    let segments: Vec<String> = std::fs::read_dir(log_dir)
        .expect("read log dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("__consumer_offsets-")
        })
        .flat_map(|e| segment_files(&e.path()))
        .collect();
    let out = kafka.run(
        DUMP_LOG,
        &["--offsets-decoder", "--files", &segments.join(",")],
    );
    assert_clean(&out);
    for expected in [
        r#""subscribedTopicNames":["ranged848"]"#,
        r#"{"type":"8","data":{"groupId":"java-consumer-group""#,
        r#""assignedPartitions":[{"topicId":"#,
    ] {
        assert!(out.stdout.contains(expected), "{expected} in:\n{out}");
    }
}

/// kafka-consumer-groups --describe on the KIP-848 group (ConsumerGroupDescribe and
/// OffsetFetch): every partition's committed offset is its end, no lag.
fn consumer_groups_describes_the_consumer_protocol_group(kafka: &KafkaTools, bs: &str) {
    let group = "java-consumer-group";
    let out = kafka.ok_at(GROUPS, bs, &["--describe", "--group", group]);
    let rows = super::records::group_rows(&out, group);
    let per_partition = (N / PARTITIONS as usize).to_string();
    let offsets: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|cols| cols.len() >= 6)
        .map(|cols| (cols[2], cols[3], cols[5]))
        .collect();
    let want: Vec<(&str, &str, &str)> = ["0", "1", "2", "3"]
        .into_iter()
        .map(|p| (p, per_partition.as_str(), "0"))
        .collect();
    assert_eq!(offsets, want, "partition, committed offset, lag:\n{out}");
    let out = kafka.ok_at(GROUPS, bs, &["--list", "--type", "consumer"]);
    let listed = super::records::group_rows(&out, group);
    assert!(
        listed.iter().any(|cols| cols
            .get(1)
            .is_some_and(|t| t.eq_ignore_ascii_case("consumer"))),
        "{out}"
    );
}

/// Every record the idempotent producer sent, once, in the order sent.
fn idempotent_records_read_back_once_in_order(client: &dyn Fn(&[&str]) -> Output, bs: &str) {
    let n = N.to_string();
    let out = client(&["produce-idempotent", bs, "idempotent", &n]);
    assert!(out.stdout.contains(&format!("sent {N}")), "{out}");
    let out = client(&["read", bs, "idempotent", &n]);
    let lines = out.lines();
    assert_eq!(lines.first().copied(), Some(format!("end {N}").as_str()));
    let want: Vec<String> = (0..N).map(|i| format!("record {i} v{i}")).collect();
    assert_eq!(lines[1..], want, "records read back");
}

/// The `.log` segment files of a partition directory, in offset order.
fn segment_files(dir: &Path) -> Vec<String> {
    let mut logs: Vec<String> = std::fs::read_dir(dir)
        .expect("read partition dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| p.display().to_string())
        .collect();
    logs.sort();
    logs
}

/// Kafka reads the partition's batches as one producer's (an id and epoch, not -1),
/// each batch's base sequence following the previous batch's last: no retry wrote a
/// record twice.
fn idempotent_batches_carry_gapless_sequences(kafka: &KafkaTools, dir: &Path) {
    let logs = segment_files(dir);
    let out = kafka.run(DUMP_LOG, &["--files", &logs.join(",")]);
    assert_clean(&out);
    let field = |line: &str, name: &str| -> i64 {
        line.split_once(&format!("{name}: "))
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    let batches: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert!(batches.len() > 1, "one producer, several batches:\n{out}");
    let producer = field(batches[0], "producerId");
    assert!(producer >= 0, "{}", batches[0]);
    let mut next = 0;
    for batch in &batches {
        assert_eq!(field(batch, "producerId"), producer, "{batch}");
        assert!(field(batch, "producerEpoch") >= 0, "{batch}");
        assert_eq!(field(batch, "baseSequence"), next, "{batch}");
        assert_eq!(field(batch, "baseOffset"), next, "{batch}");
        next = field(batch, "lastSequence") + 1;
    }
    assert_eq!(next, N as i64, "records in the batches");
}

/// Two members on the range assignor: each holds a contiguous half of the
/// partitions, reads only those, and together they read every record once.
fn range_group_splits_the_partitions(
    client: &dyn Fn(&[&str]) -> Output,
    bs: &str,
    mode: &str,
    topic: &str,
) {
    let out = client(&[mode, bs, topic, &N.to_string()]);
    let mut assigned: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    let mut read: BTreeMap<&str, BTreeMap<i32, usize>> = BTreeMap::new();
    let mut values = BTreeSet::new();
    let mut records = 0;
    for line in out.lines() {
        let cols: Vec<&str> = line.split(' ').collect();
        match cols[..] {
            ["sent", sent] => assert_eq!(sent, N.to_string(), "{out}"),
            ["assigned", member, partitions] => {
                let parts = partitions.split(',').filter_map(|p| p.parse().ok());
                assigned.insert(member, parts.collect());
            }
            ["record", member, partition, value] => {
                let partition: i32 = partition.parse().expect("partition");
                *read
                    .entry(member)
                    .or_default()
                    .entry(partition)
                    .or_default() += 1;
                values.insert(value.to_string());
                records += 1;
            }
            _ => panic!("unexpected line {line:?}:\n{out}"),
        }
    }
    let halves: BTreeSet<Vec<i32>> = assigned.values().cloned().collect();
    assert_eq!(
        halves,
        BTreeSet::from([vec![0, 1], vec![2, 3]]),
        "range shares:\n{out}"
    );
    for (member, partitions) in &assigned {
        let got: Vec<i32> = read
            .get(member)
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        assert_eq!(&got, partitions, "member {member} read:\n{out}");
        for p in partitions {
            assert_eq!(read[member][p], N / PARTITIONS as usize, "{member} p{p}");
        }
    }
    assert_eq!(records, N, "records read (no duplicates)");
    assert_eq!(values.len(), N, "distinct records read");
}
