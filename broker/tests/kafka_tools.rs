//! Apache Kafka's own tools (the jars of a pinned 4.x release, fetched with Maven)
//! against real Tidewater processes:
//! - the on-disk format oracle: `DumpLogSegments --deep-iteration
//!   --index-sanity-check` and `--verify-index-only` read every segment and index a
//!   Tidewater broker wrote (plain, gzip, snappy, lz4, zstd, idempotent, compacted),
//!   and Tidewater's `dump-log` reads what a Kafka node wrote as Kafka's tool does
//!   (`kafka_written.rs`, on a Kafka node from `kafka_node.rs`), and a Tidewater
//!   broker started on a Kafka node's log dir serves its records and committed group
//!   offsets (`adopt.rs`);
//! - the command-line tools against a KRaft node, checking what they print
//!   (`admin.rs`: topics, configs, groups, offsets, quorum; `records.rs`: perf
//!   tests, group offset resets and deletion, delete-records, log-dirs, leader
//!   election; `reassign.rs`: reassign-partitions with a throttle and preferred
//!   leader election on three nodes; `features.rs`: kafka-features describe and
//!   upgrade through a staged `inter.broker.protocol.version` upgrade;
//!   `election.rs`: unclean kafka-leader-election of a partition that lost its
//!   whole ISR, on three brokers; `scram.rs`: kafka-configs creating and deleting a
//!   SCRAM user that kcat then authenticates as; `scram_acls.rs`: a SCRAM user's
//!   topic ACLs held against kcat and kafka-transactions; `acls.rs`: kafka-acls adding,
//!   listing and removing ACLs across three nodes, and its refusals);
//! - the `__transaction_state` records a Kafka node's transaction coordinator wrote
//!   decode with Tidewater's (`transaction_log.rs`);
//! - the Java client (`java_client.rs`, a program compiled with `javac` at test
//!   time): an idempotent producer read back once and in order, and a classic group
//!   of two members on the range assignor (cooperative-sticky is in `records.rs`),
//!   and the same split with the KIP-848 consumer protocol (`group.protocol=consumer`);
//!   and (`transaction_version.rs`, `TxnV2Client.java`) transactions of transaction
//!   version 2 (KIP-890 part 2) beside confluent-kafka's of version 1.
//!
//! Skipped, with a printed reason, only when `java` or `mvn` (or, for the Java client,
//! `javac`) is not installed.

#[path = "kafka_tools/acls.rs"]
mod acls;
#[path = "kafka_tools/admin.rs"]
mod admin;
#[path = "kafka_tools/adopt.rs"]
mod adopt;
mod common;
#[path = "kafka_tools/election.rs"]
mod election;
#[path = "kafka_tools/features.rs"]
mod features;
#[path = "kafka_tools/java_client.rs"]
mod java_client;
#[path = "kafka_tools/jvm.rs"]
mod jvm;
#[path = "kafka_tools/kafka_node.rs"]
mod kafka_node;
#[path = "kafka_tools/kafka_written.rs"]
mod kafka_written;
#[path = "kafka_tools/reassign.rs"]
mod reassign;
#[path = "kafka_tools/records.rs"]
mod records;
#[path = "kafka_tools/scram.rs"]
mod scram;
#[path = "kafka_tools/scram_acls.rs"]
mod scram_acls;
#[path = "kafka_tools/transaction_log.rs"]
mod transaction_log;
#[path = "kafka_tools/transaction_version.rs"]
mod transaction_version;
#[path = "kafka_tools/transactions_tool.rs"]
mod transactions_tool;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{require_python_modules, spawn};
use common::{Broker, BrokerOpts};
use jvm::{KafkaTools, assert_clean, kafka_tools_file};

pub(crate) const DUMP_LOG: &str = "org.apache.kafka.tools.DumpLogSegments";

/// Topics `produce_segments.py` writes, with the codec Kafka must see on their batches.
const SHAPES: &[(&str, &str)] = &[
    ("plain", "none"),
    ("gzip", "gzip"),
    ("snappy", "snappy"),
    ("lz4", "lz4"),
    ("zstd", "zstd"),
    ("idempotent", "none"),
    ("compacted", "none"),
];
/// Records the script produces to each topic (over 50 keys).
const RECORDS: usize = 3000;

/// Segment and index files of partition 0 of each of `SHAPES`, by extension.
fn segment_files(log_dir: &std::path::Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (topic, _) in SHAPES {
        let dir = log_dir.join(format!("{topic}-0"));
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|e| exts.iter().any(|x| e == *x))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

pub(crate) fn files_arg(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// What DumpLogSegments printed per `.log` file: record lines and batch lines.
#[derive(Default, Debug)]
struct Dumped {
    records: usize,
    batches: Vec<String>,
}

/// Splits DumpLogSegments' output into sections by its `Dumping FILE` headers.
fn dumped_logs(stdout: &str) -> BTreeMap<String, Dumped> {
    let mut out: BTreeMap<String, Dumped> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if let Some(file) = line.strip_prefix("Dumping ") {
            current = file.ends_with(".log").then(|| file.to_string());
            if let Some(f) = &current {
                out.entry(f.clone()).or_default();
            }
            continue;
        }
        let Some(entry) = current.as_ref().and_then(|f| out.get_mut(f)) else {
            continue;
        };
        if line.starts_with("| offset:") {
            entry.records += 1;
        } else if line.starts_with("baseOffset:") {
            entry.batches.push(line.to_string());
        }
    }
    out
}

/// Takes DumpLogSegments' "Non-consecutive offsets" reports out of its stderr,
/// panicking on any that is a real gap. Kafka's tool starts every file's check at
/// -1, so a segment based at N always reports "-1 is followed by N" (Kafka's own
/// segments too); a compacted log may skip offsets but never go back.
fn take_offset_gaps(stderr: &str) -> String {
    let mut rest = String::new();
    let mut file: Option<&str> = None;
    for line in stderr.lines() {
        if let Some(f) = line.strip_prefix("Non-consecutive offsets in ") {
            file = Some(f);
            continue;
        }
        let pair = line.trim().split_once(" is followed by ");
        match (file, pair) {
            (Some(f), Some((from, to))) => {
                let (from, to): (i64, i64) = (
                    from.parse().expect("offset before gap"),
                    to.parse().expect("offset after gap"),
                );
                let base: i64 = std::path::Path::new(f)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("segment name {f}"));
                let compacted = f.contains("/compacted-0/");
                assert!(
                    (from == -1 && (to == base || (compacted && to > base)))
                        || (compacted && from >= base && to > from),
                    "{f}: offset {from} is followed by {to}"
                );
            }
            _ => {
                file = None;
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    rest
}

#[test]
fn dump_log_segments_reads_every_segment_tidewater_wrote() {
    let Some(kafka) = KafkaTools::find("dump_log_segments_reads_every_segment_tidewater_wrote")
    else {
        return;
    };
    require_python_modules(&["confluent_kafka"]);
    let b = produce_every_shape_then_stop();
    let logs = segment_files(&b.log_dir(), &["log"]);
    let indexes = segment_files(&b.log_dir(), &["index", "timeindex"]);
    let dumped = deep_iteration_passes_index_sanity(&kafka, &logs, &indexes);
    for (topic, codec) in SHAPES {
        batches_carry_the_produced_shape(&dumped, &b.log_dir(), topic, codec);
    }
    index_entries_point_at_their_records(&kafka, &indexes);
}

/// Runs `produce_segments.py` against a broker with small segments and a dense index
/// (several rolled segments per topic, each with offset and time index entries for
/// Kafka to check), then stops it cleanly, as before an operator inspects or copies
/// a log dir.
fn produce_every_shape_then_stop() -> Broker {
    let mut b = Broker::start(BrokerOpts {
        config: vec![
            ("log.segment.bytes".into(), "65536".into()),
            ("log.index.interval.bytes".into(), "1024".into()),
        ],
        ..Default::default()
    });
    let script = kafka_tools_file("produce_segments.py")
        .display()
        .to_string();
    let args = vec!["-u".into(), script, "--bootstrap".into(), b.bootstrap()];
    let out = spawn("python3", &args, None).wait(Duration::from_secs(240));
    assert!(out.status.success(), "{out}");
    let status = b.sigterm();
    assert!(status.success(), "broker exited {status}\n{}", b.log());
    b
}

/// `--deep-iteration --index-sanity-check` of every segment and index: clean, every
/// index sane, every .log dumped. Returns the dump by .log file.
fn deep_iteration_passes_index_sanity(
    kafka: &KafkaTools,
    logs: &[PathBuf],
    indexes: &[PathBuf],
) -> BTreeMap<String, Dumped> {
    let mut all = logs.to_vec();
    all.extend(indexes.iter().cloned());
    all.sort();
    let mut deep = kafka.run(
        DUMP_LOG,
        &[
            "--deep-iteration",
            "--index-sanity-check",
            "--files",
            &files_arg(&all),
        ],
    );
    deep.stderr = take_offset_gaps(&deep.stderr);
    assert_clean(&deep);
    for index in indexes {
        let name = index.display().to_string();
        assert!(
            deep.stdout
                .contains(&format!("{name} passed sanity check."))
                || deep.stdout.contains(&format!("{name} is empty.")),
            "no sanity verdict for {name}:\n{deep}"
        );
    }
    let dumped = dumped_logs(&deep.stdout);
    assert_eq!(
        dumped.len(),
        logs.len(),
        "not every .log was dumped:\n{deep}"
    );
    dumped
}

/// Kafka reads `topic`'s batches in `codec` (or rarely none), with magic 2, producer
/// ids where idempotent, and every record produced (fewer where compacted).
fn batches_carry_the_produced_shape(
    dumped: &BTreeMap<String, Dumped>,
    log_dir: &Path,
    topic: &str,
    codec: &str,
) {
    let prefix = log_dir.join(format!("{topic}-0")).display().to_string();
    let sections: Vec<&Dumped> = dumped
        .iter()
        .filter(|(f, _)| f.starts_with(&prefix))
        .map(|(_, d)| d)
        .collect();
    let records: usize = sections.iter().map(|d| d.records).sum();
    let batches: Vec<&String> = sections.iter().flat_map(|d| &d.batches).collect();
    assert!(!batches.is_empty(), "{topic}: no batches dumped");
    // librdkafka sends a batch uncompressed when compressing would not shrink
    // it (a batch of one or two records under load): allowed, but rare.
    let mut in_codec = 0;
    for batch in &batches {
        let count: usize = batch
            .split_once("count: ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{topic}: no count in {batch}"));
        if batch.contains(&format!("compresscodec: {codec} ")) {
            in_codec += count;
        } else {
            assert!(
                batch.contains("compresscodec: none "),
                "{topic}: batch neither {codec} nor none: {batch}"
            );
        }
        assert!(batch.contains("magic: 2 "), "{topic}: {batch}");
        if topic == "idempotent" {
            assert!(
                !batch.contains("producerId: -1 ") && !batch.contains("baseSequence: -1 "),
                "{topic}: batch without producer id/sequence: {batch}"
            );
        }
    }
    assert!(
        in_codec * 10 >= records * 9,
        "{topic}: only {in_codec} of {records} records in {codec} batches"
    );
    if topic == "compacted" {
        // The cleaner kept each key's latest value: at least the 50 keys, fewer
        // than were produced.
        assert!(
            (50..RECORDS).contains(&records),
            "{topic}: {records} records after compaction"
        );
    } else {
        assert_eq!(records, RECORDS, "{topic}: records Kafka read");
    }
}

/// Every index entry must point at the offset / timestamp the .log holds there.
fn index_entries_point_at_their_records(kafka: &KafkaTools, indexes: &[PathBuf]) {
    let mut verify = kafka.run(
        DUMP_LOG,
        &["--verify-index-only", "--files", &files_arg(indexes)],
    );
    verify.stderr = take_offset_gaps(&verify.stderr);
    assert_clean(&verify);
    for index in indexes {
        assert!(
            verify
                .stdout
                .contains(&format!("Dumping {}", index.display())),
            "{} not verified:\n{verify}",
            index.display()
        );
    }
}
