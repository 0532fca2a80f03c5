//! `dump-log` reads segments Apache Kafka 4.4.0 wrote (issue 15, "one on-disk format"),
//! without Java: `tests/fixtures/kafka-4.4-segments/` holds a partition of an
//! idempotent producer (a rolled segment, its indexes and Kafka's producer snapshot)
//! and the active segment of Kafka's `__cluster_metadata` log, copied from a Kafka
//! node after a clean stop. The expected figures are what Kafka's own
//! `DumpLogSegments --deep-iteration` printed for the same files.

use std::path::{Path, PathBuf};

use tidewater_storage::dump::{DumpOptions, dump_files};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kafka-4.4-segments")
}

#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn copy_fixture(to: &Path) {
    for partition in ["__cluster_metadata-0", "idempotent-0"] {
        std::fs::create_dir_all(to.join(partition)).unwrap();
        for entry in std::fs::read_dir(fixture().join(partition)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(partition).join(entry.file_name())).unwrap();
        }
    }
}

#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for partition in ["__cluster_metadata-0", "idempotent-0"] {
        for entry in std::fs::read_dir(dir.join(partition)).unwrap() {
            out.push(entry.unwrap().path());
        }
    }
    out.sort();
    out
}

#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn dump(files: &[PathBuf], opts: DumpOptions) -> (bool, String) {
    let mut out = Vec::new();
    let valid = dump_files(files, opts, &mut out).unwrap();
    (valid, String::from_utf8(out).unwrap())
}

#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
/// Offsets of the `| offset:` lines printed for `log`'s section.
fn record_offsets(text: &str, log: &str) -> Vec<i64> {
    let section = text
        .split("Dumping ")
        .find(|s| s.starts_with(log))
        .unwrap_or_else(|| panic!("{log} not dumped:\n{text}"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| offset: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn deep_iteration_reads_every_record_kafka_wrote() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let deep = DumpOptions {
        deep_iteration: true,
        print_data: false,
    };
    let (valid, text) = dump(&files(dir.path()), deep);
    assert!(valid, "{text}");
    let idempotent = dir.path().join("idempotent-0/00000000000000002900.log");
    let offsets = record_offsets(&text, &idempotent.display().to_string());
    assert_eq!(offsets, (2900..3000).collect::<Vec<_>>());
    assert!(text.contains(
        "baseOffset: 2900 lastOffset: 2999 count: 100 baseSequence: 2900 lastSequence: 2999 producerId: 0 producerEpoch: 0"
    ), "{text}");
    let metadata = dir
        .path()
        .join("__cluster_metadata-0/00000000000000000000.log");
    let offsets = record_offsets(&text, &metadata.display().to_string());
    assert_eq!(offsets, (0..86).collect::<Vec<_>>());
    // Kafka's lines for the same records, as far as Kafka's go (it decodes KRaft
    // records on top).
    for kafka in [
        "| offset: 2999 CreateTime: 1796555276580 keySize: 6 valueSize: 50 sequence: 2999 headerKeys: []\n",
        "| offset: 85 CreateTime: 1796555281909 keySize: -1 valueSize: 4 sequence: -1 headerKeys: []",
        // Not 0, 1, ... after a batch's base sequence of -1 (no producer id).
        "| offset: 2 CreateTime: 1796555270241 keySize: 4 valueSize: 55 sequence: -1 headerKeys: []",
    ] {
        assert!(text.contains(kafka), "{kafka}\n{text}");
    }
    assert!(!text.contains("payload:"), "no data without --print-data");
    // Kafka's producer snapshot: the producer's last batch.
    assert!(
        text.contains("producerId: 0 producerEpoch: 0 lastSequence: 2999 lastOffset: 2999"),
        "{text}"
    );
    assert!(
        text.contains("timestamp: 1796555276580 offset: 2999"),
        "{text}"
    );
    let (_, data) = dump(
        &[idempotent],
        DumpOptions {
            deep_iteration: false,
            print_data: true,
        },
    );
    assert!(
        data.contains("sequence: 2999 headerKeys: [] key: key-49 payload: value-2999-"),
        "{data}"
    );
}

/// Kafka leaves the indexes of a segment it never closed (here `__cluster_metadata`'s
/// active one) at their preallocated 10 MiB, zero-filled past the last entry: those
/// zeros are not entries (Kafka's DumpLogSegments stops at them too).
#[test]
fn preallocated_index_tails_are_not_entries() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let d = dir.path().join("__cluster_metadata-0");
    let index = d.join("00000000000000000000.index");
    let time_index = d.join("00000000000000000000.timeindex");
    // Kafka's sizes: segment.index.bytes rounded down to a multiple of the entry size.
    for (file, len) in [(&index, 10_485_760), (&time_index, 10_485_756)] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(len)
            .unwrap();
    }
    let (valid, text) = dump(&[index, time_index], DumpOptions::default());
    assert!(valid, "{text}");
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("offset: ") || l.starts_with("timestamp: "))
        .collect();
    assert_eq!(
        entries,
        [
            "offset: 64 position: 4256",
            "timestamp: 1796555278384 offset: 64"
        ],
        "{text}"
    );
    assert!(
        text.contains("1310719 preallocated empty entries follow position 8"),
        "{text}"
    );
}
