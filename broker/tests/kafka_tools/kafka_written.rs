//! The other direction of "one on-disk format": Tidewater's `dump-log` reads every
//! segment, index, time index and producer snapshot an Apache Kafka 4.4.0 node wrote
//! (each shape `produce_segments.py` makes, `__consumer_offsets`, and the
//! `__cluster_metadata` log), and prints the same batches, record offsets and
//! timestamps, and index entries as Kafka's own `DumpLogSegments --deep-iteration`
//! on the same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common::broker::BROKER_BIN;
use super::common::process::{require_python_modules, spawn};
use super::jvm::{KafkaTools, assert_clean, kafka_tools_file};
use super::kafka_node::KafkaNode;
use super::{DUMP_LOG, files_arg};

/// Every segment, index, time index and producer snapshot under `log_dir`, sorted
/// (Kafka's `.deleted` files, which it removes on its next start, left out).
pub fn kafka_log_files(log_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(log_dir).expect("read log dir").flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(dir.path())
            .expect("read partition dir")
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| {
                ["log", "index", "timeindex", "snapshot"]
                    .iter()
                    .any(|x| e == *x)
            }) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Per dumped file, the lines both tools print alike: batch headers up to their
/// position, record lines up to their header keys, and index entries.
fn comparable(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in stdout.lines() {
        if let Some(file) = line.strip_prefix("Dumping ") {
            current = Some(file.to_string());
            out.entry(file.to_string()).or_default();
            continue;
        }
        let Some(lines) = current.as_ref().and_then(|f| out.get_mut(f)) else {
            continue;
        };
        let kept = if line.starts_with("baseOffset:") {
            // Kafka prints deleteHorizonMs where Tidewater does not.
            line.split(" isControl: ")
                .next()
                .map(|head| head.to_string())
        } else if line.starts_with("| offset:") {
            // Kafka decodes KRaft and control records after the header keys.
            line.split(" headerKeys: ").next().map(str::to_string)
        } else if line.starts_with("offset: ") || line.starts_with("timestamp: ") {
            Some(line.to_string())
        } else {
            None
        };
        lines.extend(kept);
    }
    out
}

#[test]
fn tidewater_dump_log_reads_every_segment_kafka_wrote() {
    let Some(kafka) = KafkaTools::find("tidewater_dump_log_reads_every_segment_kafka_wrote") else {
        return;
    };
    require_python_modules(&["confluent_kafka"]);
    let mut node = KafkaNode::start(
        &kafka,
        &[
            ("log.index.interval.bytes", "1024"),
            ("log.cleaner.backoff.ms", "1000"),
            ("offsets.topic.num.partitions", "5"),
        ],
    );
    let script = kafka_tools_file("produce_segments.py")
        .display()
        .to_string();
    // Kafka 4 refuses segment.bytes under 1 MiB; its internal twin rolls the 64 KiB
    // segments that give several segments per topic and let the cleaner compact.
    let args = vec![
        "-u".into(),
        script,
        "--bootstrap".into(),
        node.bootstrap(),
        "--topic-config".into(),
        "internal.segment.bytes=65536".into(),
    ];
    let out = spawn("python3", &args, None).wait(Duration::from_secs(240));
    assert!(out.status.success(), "{out}");
    node.stop();

    let files = kafka_log_files(&node.log_dir());
    let logs = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "log"));
    assert!(logs.count() >= 15, "too few segments: {files:?}");
    let mut kafka_dump = kafka.run(
        DUMP_LOG,
        &["--deep-iteration", "--files", &files_arg(&files)],
    );
    // Kafka notes "-1 is followed by N" for every segment based at N, its own too.
    let notes = std::mem::take(&mut kafka_dump.stderr);
    let other: Vec<&str> = notes
        .lines()
        .filter(|l| {
            !l.starts_with("Non-consecutive offsets in ") && !l.contains(" is followed by ")
        })
        .collect();
    assert!(other.is_empty(), "DumpLogSegments: {other:?}");
    assert_clean(&kafka_dump);

    let mut args = vec!["dump-log".to_string(), "--deep-iteration".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let ours = spawn(BROKER_BIN, &args, None).wait(Duration::from_secs(120));
    assert!(ours.status.success(), "dump-log found a problem:\n{ours}");

    let (theirs, ours_by_file) = (comparable(&kafka_dump.stdout), comparable(&ours.stdout));
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours_by_file.keys().collect::<Vec<_>>()
    );
    let mut records = 0;
    for (file, lines) in &theirs {
        assert_eq!(
            &ours_by_file[file], lines,
            "{file}: dump-log and DumpLogSegments differ"
        );
        records += lines.iter().filter(|l| l.starts_with("| offset:")).count();
    }
    // 3,000 records in each of 6 topics, at least 50 left in the compacted one.
    assert!(records > 6 * 3000 + 50, "only {records} records dumped");
}
