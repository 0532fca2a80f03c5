//! Transaction version 2 (KIP-890 part 2) with Kafka 4.4.0's Java client: once
//! `kafka-features upgrade --feature transaction.version=2` finalizes it (and
//! `kafka-features describe` shows it), a transactional producer
//! (`TxnV2Client.java`) commits and aborts with EndTxn v5 — the epoch goes up on every
//! end, as kafka-transactions describe shows — adds partitions and the group's offsets
//! through Produce v12 and TxnOffsetCommit v5 only, and a read_committed consumer sees
//! the committed records and offsets and no aborted one. A zombie producer of the same
//! transactional id is fenced. confluent-kafka (librdkafka, a transaction version 1
//! client) keeps committing, aborting and sending offsets on the same cluster.

use std::time::Duration;

use super::common::Output;
use super::common::cluster::Cluster;
use super::common::process::{python_client, require_python_modules};
use super::jvm::{KafkaTools, assert_clean};

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const FEATURES: &str = "org.apache.kafka.tools.FeatureCommand";
const TRANSACTIONS: &str = "org.apache.kafka.tools.TransactionsCommand";
const CLIENT: &str = "TxnV2Client";
/// Transactions the Java producer runs: even ones commit, odd ones abort.
const N: usize = 6;

/// The values a Java client mode printed after `prefix ` (one a line).
fn printed(out: &Output, prefix: &str) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
        .collect()
}

/// `kafka-transactions describe`'s producer id and epoch of `id`: the columns after
/// the coordinator id and the transactional id.
fn described_producer(kafka: &KafkaTools, bs: &str, id: &str) -> (String, i16) {
    let args = [
        "--bootstrap-server",
        bs,
        "describe",
        "--transactional-id",
        id,
    ];
    let out = kafka.ok(TRANSACTIONS, &args);
    let line = out.stdout.lines().find(|l| l.contains(id));
    let fields: Vec<&str> = line
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let at = fields.iter().position(|f| *f == id);
    match at.and_then(|i| Some((fields.get(i + 1)?, fields.get(i + 2)?.parse().ok()?))) {
        Some((pid, epoch)) => (pid.to_string(), epoch),
        None => panic!("no producer of {id} in:\n{out}"),
    }
}

#[test]
fn java_client_transaction_version_2_and_confluent_kafka_on_one_cluster() {
    let test = "java_client_transaction_version_2_and_confluent_kafka_on_one_cluster";
    require_python_modules(&["confluent_kafka"]);
    let Some((kafka, classes)) = KafkaTools::with_compiled(test, "TxnV2Client.java") else {
        return;
    };
    let mut cluster = Cluster::combined(
        1,
        &[
            ("offsets.topic.replication.factor", "1"),
            ("transaction.state.log.replication.factor", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let bs = cluster.node(1).bootstrap();
    // One partition for the Java client's; three for confluent-kafka's scenarios.
    for (topic, partitions) in [
        ("tv2", "1"),
        ("tv2-zombie", "1"),
        ("tv1-commit-abort", "3"),
        ("tv1-fencing", "3"),
        ("tv1-offsets", "3"),
    ] {
        let args = [
            "--bootstrap-server",
            &bs,
            "--create",
            "--topic",
            topic,
            "--partitions",
            partitions,
            "--replication-factor",
            "1",
        ];
        kafka.ok(TOPICS, &args);
    }

    // Not finalized until asked for: a client speaks transaction version 1.
    let describe = || kafka.ok(FEATURES, &["--bootstrap-server", &bs, "describe"]);
    let tv_row = |out: &Output| {
        out.stdout
            .lines()
            .find(|l| l.contains("Feature: transaction.version"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no transaction.version row:\n{out}"))
    };
    let before = describe();
    let row = tv_row(&before);
    assert!(
        row.contains("SupportedMinVersion: 0") && row.contains("SupportedMaxVersion: 2"),
        "{before}"
    );
    assert!(!row.contains("FinalizedVersionLevel: 2"), "{before}");
    let upgrade = [
        "--bootstrap-server",
        &bs,
        "upgrade",
        "--feature",
        "transaction.version=2",
    ];
    let out = kafka.ok(FEATURES, &upgrade);
    assert!(
        out.stdout
            .contains("transaction.version was upgraded to 2."),
        "{out}"
    );
    let after = describe();
    assert!(
        tv_row(&after).contains("FinalizedVersionLevel: 2"),
        "{after}"
    );

    let client = |args: &[&str]| -> Output { kafka.run_compiled(classes.path(), CLIENT, args) };
    let n = N.to_string();
    let out = client(&["transactions", &bs, "tv2", "tv2-app", &n, "tv2-group"]);
    assert_clean(&out);
    assert_eq!(printed(&out, "committed ").len(), N / 2, "{out}");
    assert_eq!(printed(&out, "aborted ").len(), N / 2, "{out}");
    // Every EndTxn v5 bumped the epoch: InitProducerId gave 0, N ends made it N.
    // (A transaction version 1 client keeps epoch 0 through all of them.)
    let (_, epoch) = described_producer(&kafka, &bs, "tv2-app");
    assert_eq!(
        epoch,
        i16::try_from(N).unwrap_or(i16::MAX),
        "one bump per end"
    );

    let out = client(&["read", &bs, "tv2", "tv2-group"]);
    assert_clean(&out);
    let want: Vec<String> = (0..N).step_by(2).map(|i| format!("commit-{i}")).collect();
    assert_eq!(printed(&out, "record "), want, "{out}");
    // The last committed transaction's offset (i = N - 2, offset N - 1) is the group's.
    assert_eq!(
        printed(&out, "group-offset "),
        vec![(N - 1).to_string()],
        "{out}"
    );

    // A zombie: its late commit is refused, and nothing it wrote is committed.
    let out = client(&["zombie", &bs, "tv2-zombie", "tv2-zombie-app"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(printed(&out, "fresh committed").len(), 1, "{out}");
    assert_eq!(
        printed(&out, "fenced ").len(),
        1,
        "the zombie was not fenced:\n{out}"
    );
    let out = client(&["read", &bs, "tv2-zombie", "tv2-zombie-reader"]);
    assert_clean(&out);
    assert_eq!(printed(&out, "record "), vec!["fresh".to_string()], "{out}");

    // librdkafka speaks transaction version 1 on the same cluster.
    for (topic, scenario, want) in [
        (
            "tv1-commit-abort",
            "commit-abort",
            "\"read_uncommitted\": 25",
        ),
        ("tv1-fencing", "fencing", "\"fenced\""),
        ("tv1-offsets", "send-offsets", "\"ended12\": 12"),
    ] {
        let args: Vec<String> = ["--bootstrap", bs.as_str(), "--topic", topic, scenario]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = python_client("transactions.py", &args, Duration::from_secs(180)).ok();
        assert!(out.stdout.contains(want), "{scenario}: {out}");
    }
}
