//! Compaction of a log with transactions, as Kafka's LogCleaner: nothing at or past the
//! last stable offset is cleaned, aborted records never win a key and are removed, a
//! marker stays while data of its transaction remains and then for
//! `delete.retention.ms`, each producer's last batch is kept (emptied) for its state,
//! the `.txnindex` follows, and retention stops at the last stable offset.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{NOW, decode, one_log};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, TimestampType};
use tidewater_storage::txn_index::AbortedTxn;
use tidewater_storage::{CleanupPolicy, Log, LogConfig};

const RETENTION: i64 = 60_000;

/// Every batch in its own segment (the cleaner then groups them one per group too, so
/// transactions are followed across groups).
fn compacting() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 100,
        delete_retention_ms: RETENTION,
        min_cleanable_dirty_ratio: 0.01,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

/// What a batch is.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    /// Transactional data of this producer id.
    Txn(i64),
    /// The producer's marker: COMMIT (true) or ABORT.
    Marker(i64, bool),
}

/// One batch at `offset` (its place in the log, appended as a follower would).
fn batch(kind: Kind, offset: i64, seq: i32, kvs: &[(&str, &str)]) -> Vec<u8> {
    let (pid, transactional, marker) = match kind {
        Kind::Plain => (-1, false, None),
        Kind::Txn(pid) => (pid, true, None),
        Kind::Marker(pid, commit) => (pid, true, Some(commit)),
    };
    let records: Vec<Record> = match marker {
        Some(commit) => vec![(
            Bytes::from_static(if commit { &[0, 0, 0, 1] } else { &[0, 0, 0, 0] }),
            Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        )],
        None => kvs
            .iter()
            .map(|(k, v)| (Bytes::from(k.to_string()), Bytes::from(v.to_string())))
            .collect(),
    }
    .into_iter()
    .enumerate()
    .map(|(i, (key, value))| Record {
        transactional,
        control: marker.is_some(),
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: if pid < 0 { -1 } else { 0 },
        timestamp_type: TimestampType::Creation,
        offset: offset + i as i64,
        sequence: if marker.is_some() || pid < 0 {
            -1
        } else {
            seq + i as i32
        },
        timestamp: NOW + offset,
        key: Some(key),
        value: Some(value),
        headers: IndexMap::new(),
    })
    .collect();
    common::encode(&records, Compression::None)
}

fn append(log: &Log, kind: Kind, seq: i32, kvs: &[(&str, &str)]) {
    let offset = log.log_end_offset();
    log.append_as_follower(&batch(kind, offset, seq, kvs))
        .unwrap();
    log.update_high_watermark(log.log_end_offset());
}

/// The stored batches from `from` on: (base offset, last offset, records count,
/// control, delete horizon set) and every record.
struct Stored {
    batches: Vec<(i64, i64, i32, bool, bool)>,
    records: Vec<(i64, String, String)>,
}

fn stored(log: &Log) -> Stored {
    let mut out = Stored {
        batches: Vec::new(),
        records: Vec::new(),
    };
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let mut buf = r.records.clone();
        let mut last = offset - 1;
        while buf.len() >= 61 {
            let len = i32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize + 12;
            let one = buf.split_to(len);
            let base = i64::from_be_bytes(one[0..8].try_into().unwrap());
            let delta = i32::from_be_bytes(one[23..27].try_into().unwrap());
            let attrs = i16::from_be_bytes(one[21..23].try_into().unwrap());
            let count = i32::from_be_bytes(one[57..61].try_into().unwrap());
            last = base + i64::from(delta);
            if base < offset {
                continue;
            }
            out.batches
                .push((base, last, count, attrs & 0x20 != 0, attrs & 0x40 != 0));
            if attrs & 0x20 == 0 {
                for (o, k, v, _) in decode(&one) {
                    let s = |b: Option<Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
                    out.records.push((o, s(k), s(v)));
                }
            }
        }
        if last < offset {
            // A gap a cleaning left (a segment emptied): the next segment follows.
            offset = log
                .segment_base_offsets()
                .into_iter()
                .find(|b| *b > offset)
                .unwrap_or(log.log_end_offset());
        } else {
            offset = last + 1;
        }
    }
    out
}

/// What a `read_committed` consumer ends up with per key: the records below the last
/// stable offset, less those of the aborted transactions the log reports (the
/// consumer's own filtering: from an aborted transaction's first offset to its ABORT
/// marker, that producer's batches are skipped), the latest value of each key.
fn read_committed(log: &Log) -> BTreeMap<String, String> {
    let lso = log.last_stable_offset();
    let aborted = log.aborted_transactions(0, lso);
    let mut out = BTreeMap::new();
    let mut offset = log.log_start_offset();
    while offset < lso {
        let r = log.read(offset, 1 << 20, lso, true).unwrap();
        let mut b = r.records.clone();
        let sets = RecordBatchDecoder::decode_all(&mut b).unwrap();
        let mut last = offset - 1;
        for set in sets {
            for rec in set.records {
                last = last.max(rec.offset);
                let in_abort = aborted.iter().any(|t: &AbortedTxn| {
                    t.producer_id == rec.producer_id
                        && rec.transactional
                        && (t.first_offset..t.last_offset).contains(&rec.offset)
                });
                if rec.offset < offset || rec.offset >= lso || rec.control || in_abort {
                    continue;
                }
                let s = |b: Option<Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
                out.insert(s(rec.key), s(rec.value));
            }
        }
        offset = if last < offset {
            log.segment_base_offsets()
                .into_iter()
                .find(|b| *b > offset)
                .unwrap_or(lso)
        } else {
            last + 1
        };
    }
    out
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn aborted(pid: i64, first: i64, last: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: first,
    }
}

#[test]
fn aborted_data_goes_committed_data_wins_and_markers_follow_kafkas_rule() {
    let (dir, mgr, log) = one_log(compacting());
    let p = |o: i64| o; // offsets, for reading the layout below
    append(&log, Kind::Plain, 0, &[("a", "a0"), ("c", "c0")]); // 0..=1
    append(&log, Kind::Txn(1), 0, &[("a", "a1"), ("b", "b1")]); // 2..=3
    append(
        &log,
        Kind::Txn(2),
        0,
        &[("a", "a2-aborted"), ("c", "c2-aborted")],
    ); // 4..=5
    append(&log, Kind::Marker(1, true), 0, &[]); // 6
    append(&log, Kind::Marker(2, false), 0, &[]); // 7
    append(&log, Kind::Txn(3), 0, &[("b", "b3")]); // 8: stays open
    append(&log, Kind::Plain, 0, &[("c", "c9")]); // 9
    append(&log, Kind::Plain, 0, &[("z", "z10")]); // 10: the active segment
    assert_eq!(log.last_stable_offset(), p(8));
    assert_eq!(log.aborted_transactions(0, 11), [aborted(2, 4, 7)]);
    let committed = read_committed(&log);
    assert_eq!(committed, map(&[("a", "a1"), ("b", "b1"), ("c", "c0")]));

    // Pass 1: only below the LSO (8). The aborted a2 does not shadow a1, nor c2 c0:
    // before this change a1 and c0 were lost for read_committed readers.
    let stats = log.compact(NOW + 1).unwrap().unwrap();
    assert_eq!(stats.records_removed, 3, "a0, a2 and c2");
    assert_eq!(read_committed(&log), committed);
    let s = stored(&log);
    assert_eq!(
        s.records,
        [
            (1, "c".into(), "c0".into()),
            (2, "a".into(), "a1".into()),
            (3, "b".into(), "b1".into()),
            (8, "b".into(), "b3".into()),
            (9, "c".into(), "c9".into()),
            (10, "z".into(), "z10".into()),
        ]
    );
    // Producer 2's aborted batch is its last one: kept as an empty header (its
    // sequence). Both markers stay: their transactions' data was there this pass.
    assert!(s.batches.contains(&(4, 5, 0, false, false)));
    assert!(s.batches.contains(&(6, 6, 1, true, false)));
    assert!(s.batches.contains(&(7, 7, 1, true, false)));
    assert_eq!(log.aborted_transactions(0, 11), [aborted(2, 4, 7)]);
    assert_eq!(log.producer_state(2).unwrap().last_sequence, 1);

    // Producer 3 commits, producer 2 commits a new transaction; producer 2's aborted
    // batch is no longer its last.
    append(&log, Kind::Marker(3, true), 0, &[]); // 11
    append(&log, Kind::Txn(2), 2, &[("d", "d12")]); // 12
    append(&log, Kind::Marker(2, true), 0, &[]); // 13
    append(&log, Kind::Plain, 0, &[("a", "a14")]); // 14
    append(&log, Kind::Plain, 0, &[("z", "z15")]); // 15
    let committed = read_committed(&log);
    assert_eq!(
        committed,
        map(&[
            ("a", "a14"),
            ("b", "b3"),
            ("c", "c9"),
            ("d", "d12"),
            ("z", "z15")
        ])
    );
    log.compact(NOW + 2).unwrap().unwrap();
    assert_eq!(read_committed(&log), committed);
    let s = stored(&log);
    assert!(
        !s.batches.iter().any(|b| b.0 == 4),
        "the emptied aborted batch went"
    );
    // Producer 1's batch lost its records to newer values but is its last: kept empty,
    // and so its COMMIT marker stays (data of its transaction is still seen).
    assert!(s.batches.contains(&(2, 3, 0, false, false)));
    assert!(s.batches.contains(&(6, 6, 1, true, false)));
    // The ABORT marker stays this pass (its data was removed in it).
    assert!(s.batches.contains(&(7, 7, 1, true, false)));
    assert_eq!(log.aborted_transactions(0, 16), [aborted(2, 4, 7)]);

    // Next pass: nothing of producer 2's aborted transaction is left, so its marker
    // gets a delete horizon and leaves the index; it is removed once the horizon has
    // passed, not before.
    append(&log, Kind::Plain, 0, &[("z", "z16")]); // 16
    log.compact(NOW + 3).unwrap().unwrap();
    assert!(stored(&log).batches.contains(&(7, 7, 1, true, true)));
    assert!(log.aborted_transactions(0, 17).is_empty());
    append(&log, Kind::Plain, 0, &[("z", "z17")]); // 17
    log.compact(NOW + 3 + RETENTION - 1).unwrap().unwrap();
    assert!(stored(&log).batches.contains(&(7, 7, 1, true, true)));
    append(&log, Kind::Plain, 0, &[("z", "z18")]); // 18
    log.compact(NOW + 3 + RETENTION).unwrap().unwrap();
    let s = stored(&log);
    assert!(!s.batches.iter().any(|b| b.0 == 7), "the ABORT marker went");
    assert!(s.batches.contains(&(6, 6, 1, true, false)), "COMMIT stays");
    let committed = map(&[
        ("a", "a14"),
        ("b", "b3"),
        ("c", "c9"),
        ("d", "d12"),
        ("z", "z18"),
    ]);
    assert_eq!(read_committed(&log), committed);

    // The cleaned segments (their .txnindex files included) load the same, and a
    // follower copies the cleaned log (empty batches, offset gaps) as it is.
    let partition_dir = log.dir();
    let copy: Vec<u8> = {
        let mut all = Vec::new();
        for base in log.segment_base_offsets() {
            let f = partition_dir.join(format!("{base:020}.log"));
            all.extend(std::fs::read(f).unwrap());
        }
        all
    };
    drop(log);
    mgr.shutdown().unwrap();
    // Producer state rebuilt from the cleaned log alone: the kept empty batches hold
    // the producers' last sequences.
    for f in std::fs::read_dir(&partition_dir).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let mgr = common::manager(&[dir.path()], compacting());
    let log = mgr.get_or_create_log(&common::tp(0), compacting()).unwrap();
    log.update_high_watermark(log.log_end_offset());
    assert_eq!(read_committed(&log), committed);
    assert!(log.aborted_transactions(0, 19).is_empty());
    assert_eq!(log.producer_state(1).unwrap().last_sequence, 1);
    assert_eq!(log.producer_state(2).unwrap().last_sequence, 2);
    let follower = mgr.get_or_create_log(&common::tp(1), compacting()).unwrap();
    follower.append_as_follower(&copy).unwrap();
    follower.update_high_watermark(follower.log_end_offset());
    assert_eq!(read_committed(&follower), committed);
    drop((log, follower));
    common::shut_down_and_verify(mgr, dir.path());
}

#[test]
fn an_aborted_transaction_in_an_earlier_group_than_its_marker_keeps_its_index_entry() {
    // Segments of 300 bytes, about four batches: the aborted data and its marker land
    // in different segments, so in different groups.
    let cfg = LogConfig {
        segment_bytes: 300,
        ..compacting()
    };
    let (dir, mgr, log) = one_log(cfg.clone());
    append(&log, Kind::Plain, 0, &[("k", "v0")]); // 0
    append(&log, Kind::Txn(5), 0, &[("k", "aborted")]); // 1
    for i in 0..6 {
        append(&log, Kind::Plain, 0, &[("p", &format!("p{i}"))]); // 2..=7
    }
    append(&log, Kind::Marker(5, false), 0, &[]); // 8
    for _ in 9..16 {
        append(&log, Kind::Plain, 0, &[("z", "z")]);
    }
    let groups_apart = log.segment_base_offsets();
    assert!(
        groups_apart.iter().any(|b| (2..=8).contains(b)),
        "{groups_apart:?}"
    );
    assert!(log.segment_base_offsets().last().unwrap() > &8);
    log.compact(NOW + 1).unwrap().unwrap();
    assert_eq!(
        read_committed(&log),
        map(&[("k", "v0"), ("p", "p5"), ("z", "z")])
    );
    // The data went in an earlier group; the marker (its group saw the data through
    // the shared state) stays with its entry.
    assert!(stored(&log).batches.contains(&(8, 8, 1, true, false)));
    assert_eq!(log.aborted_transactions(0, 11), [aborted(5, 1, 8)]);
    // The entry is in the cleaned segment's .txnindex: a reload still has it.
    drop(log);
    mgr.shutdown().unwrap();
    let mgr = common::manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&common::tp(0), cfg).unwrap();
    assert_eq!(log.aborted_transactions(0, 11), [aborted(5, 1, 8)]);
    log.update_high_watermark(log.log_end_offset());
    assert_eq!(
        read_committed(&log),
        map(&[("k", "v0"), ("p", "p5"), ("z", "z")])
    );
}

#[test]
fn retention_stops_at_the_last_stable_offset() {
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        segment_bytes: 100,
        retention_ms: 1,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    let (_dir, _mgr, log) = one_log(cfg);
    append(&log, Kind::Plain, 0, &[("a", "0")]); // 0
    append(&log, Kind::Txn(9), 0, &[("a", "1")]); // 1: open
    append(&log, Kind::Plain, 0, &[("a", "2")]); // 2
    append(&log, Kind::Plain, 0, &[("a", "3")]); // 3
    assert_eq!(log.last_stable_offset(), 1);
    // Only the segment wholly below the LSO may go, however old the rest.
    assert_eq!(log.delete_old_segments(NOW + 3_600_000).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 1);
    assert_eq!(log.delete_old_segments(NOW + 3_600_000).unwrap(), 0);
    append(&log, Kind::Marker(9, true), 0, &[]); // 4
    assert_eq!(log.last_stable_offset(), 5);
    assert!(log.delete_old_segments(NOW + 3_600_000).unwrap() >= 3);
    assert_eq!(log.log_start_offset(), 5);
}

#[test]
fn the_last_stable_offset_never_falls_below_the_log_start() {
    let (_dir, _mgr, log) = one_log(compacting());
    append(&log, Kind::Plain, 0, &[("a", "0")]); // 0
    append(&log, Kind::Txn(9), 0, &[("a", "1")]); // 1: open
    append(&log, Kind::Plain, 0, &[("a", "2")]); // 2
    append(&log, Kind::Plain, 0, &[("a", "3")]); // 3
    assert_eq!(log.last_stable_offset(), 1);
    // DeleteRecords is bounded by the high watermark, as Kafka's: it may pass the open
    // transaction's first offset, and the LSO follows the log start (Kafka's
    // maybeIncrementFirstUnstableOffset), still held by the open transaction.
    assert_eq!(log.delete_records_before(3).unwrap(), 3);
    assert_eq!(log.last_stable_offset(), 3);
    append(&log, Kind::Marker(9, true), 0, &[]); // 4
    assert_eq!(log.last_stable_offset(), 5);
}

/// Copies every file under `from` into `to` (same layout).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_swap_finished_by_a_restart_replaces_the_stale_txnindex() {
    let (dir, mgr, log) = one_log(compacting());
    append(&log, Kind::Plain, 0, &[("k", "kept")]); // 0
    append(&log, Kind::Txn(1), 0, &[("a", "x")]); // 1
    append(&log, Kind::Marker(1, false), 0, &[]); // 2: first of its group
    append(&log, Kind::Txn(1), 1, &[("b", "y")]); // 3
    append(&log, Kind::Marker(1, true), 0, &[]); // 4
    append(&log, Kind::Plain, 0, &[("z", "5")]); // 5
    // First cleaning: the aborted record goes, the marker and its entry stay.
    log.compact(NOW + 1).unwrap().unwrap();
    assert_eq!(log.aborted_transactions(0, 6), [aborted(1, 1, 2)]);
    append(&log, Kind::Plain, 0, &[("z", "6")]); // 6
    // The broker as it was before the second cleaning...
    let crashed = tempfile::tempdir().unwrap();
    copy_tree(dir.path(), crashed.path());
    // ... which drops the entry (the marker gets its delete horizon) ...
    log.compact(NOW + 2).unwrap().unwrap();
    assert!(log.aborted_transactions(0, 7).is_empty());
    assert!(log.segment_base_offsets().contains(&2));
    // ... and dies once segment 2's cleaned files are renamed .swap, the original
    // (with its .txnindex entry) still in place.
    let seg = "00000000000000000002";
    for ext in ["log", "index", "timeindex", "txnindex"] {
        let cleaned = log.dir().join(format!("{seg}.{ext}"));
        if ext != "txnindex" || cleaned.exists() {
            let swap = crashed.path().join("t-0").join(format!("{seg}.{ext}.swap"));
            std::fs::copy(cleaned, swap).unwrap();
        }
    }
    // The cleaned segments were flushed before the swap: below the recovery point,
    // their .txnindex files are trusted (a recovered segment's index is rebuilt from
    // its batches instead, and the kept marker would give an entry, as in Kafka).
    std::fs::write(
        crashed.path().join("recovery-point-offset-checkpoint"),
        "0\n1\nt 0 7\n",
    )
    .unwrap();
    let mgr2 = common::manager(&[crashed.path()], compacting());
    let reloaded = mgr2.get_log(&common::tp(0)).unwrap();
    assert!(reloaded.aborted_transactions(0, 7).is_empty());
    drop((log, reloaded));
    mgr2.shutdown().unwrap();
    mgr.shutdown().unwrap();
}
