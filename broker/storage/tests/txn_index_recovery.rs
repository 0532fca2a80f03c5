//! The aborted-transaction index (`.txnindex`) after a restart, as Kafka's LogLoader:
//! segments recovered after an unclean shutdown get theirs rebuilt from their batches
//! (the producer state replayed from the newest snapshot at or below the segment, so a
//! transaction begun in an earlier segment keeps its first offset), an unreadable one
//! is rebuilt whatever the shutdown, and a clean shutdown trusts the files.

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use std::path::{Path, PathBuf};

use common::{manager, tp, txn_batch};
use tidewater_storage::txn_index::AbortedTxn;
use tidewater_storage::{LogConfig, LogManager};

/// Small segments: a roll every two or three batches.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    }
}

/// Writes committed and aborted transactions over several segments (producer 3's
/// aborted transaction begins in one segment and ends in a later one), shuts down
/// cleanly and returns the partition directory and the aborted list the log reported.
fn write_log(root: &Path) -> (PathBuf, Vec<AbortedTxn>) {
    let mgr = manager(&[root], config());
    let log = mgr.get_or_create_log(&tp(0), config()).unwrap();
    // (producer, offset, records, marker: COMMIT true / ABORT false)
    let batches: [(i64, i64, usize, Option<bool>); 9] = [
        (1, 0, 2, None),
        (1, 2, 1, Some(true)),
        (2, 3, 2, None),
        (2, 5, 1, Some(false)),
        (3, 6, 1, None),
        (4, 7, 1, None),
        (4, 8, 1, Some(true)),
        (3, 9, 1, None),
        (3, 10, 1, Some(false)),
    ];
    let mut seq = std::collections::HashMap::new();
    for (pid, offset, count, marker) in batches {
        let s = seq.entry(pid).or_insert(0);
        log.append_as_follower(&txn_batch(pid, offset, *s, count, marker))
            .unwrap();
        if marker.is_none() {
            *s += count as i32;
        }
    }
    let bases = log.segment_base_offsets();
    let segment_of = |o: i64| bases.iter().rposition(|b| *b <= o).unwrap();
    assert!(
        segment_of(6) < segment_of(10) && segment_of(10) == bases.len() - 1,
        "producer 3's transaction spans segments, its marker in the last: {bases:?}"
    );
    let aborted = log.aborted_transactions(0, 11);
    let txn = |pid, first, last| AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: first,
    };
    assert_eq!(aborted, [txn(2, 3, 5), txn(3, 6, 10)]);
    let dir = log.dir();
    drop(log);
    mgr.shutdown().unwrap();
    (dir, aborted)
}

fn reopen(root: &Path) -> (std::sync::Arc<LogManager>, Vec<AbortedTxn>) {
    let mgr = manager(&[root], config());
    let log = mgr.get_or_create_log(&tp(0), config()).unwrap();
    let aborted = log.aborted_transactions(0, log.log_end_offset());
    (mgr, aborted)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// Makes the last shutdown look unclean, recovering the segments from `recover_from`
/// on (the recovery-point checkpoint), as after a power loss.
fn crash(root: &Path, recover_from: i64) {
    std::fs::remove_file(root.join(".kafka_cleanshutdown")).unwrap();
    std::fs::write(
        root.join("recovery-point-offset-checkpoint"),
        format!("0\n1\nt 0 {recover_from}\n"),
    )
    .unwrap();
}

#[test]
fn recovery_rebuilds_a_lost_or_cut_txnindex_from_the_batches() {
    // How the .txnindex files lose entries the log kept, which segments recovery
    // scans (from the first, or only the last), and whether producer snapshots
    // give the state the last segment starts from.
    for lose in ["deleted", "cut"] {
        for recover_all in [true, false] {
            for snapshots in [true, false] {
                let case = format!("{lose}, recover all: {recover_all}, snapshots: {snapshots}");
                let root = tempfile::tempdir().unwrap();
                let (dir, before) = write_log(root.path());
                let indexes = files(&dir, "txnindex");
                assert_eq!(indexes.len(), 2, "{case}");
                for f in &indexes {
                    if lose == "deleted" {
                        std::fs::remove_file(f).unwrap();
                    } else {
                        let len = std::fs::metadata(f).unwrap().len();
                        let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
                        file.set_len(len - 20).unwrap();
                    }
                }
                if !snapshots {
                    for f in files(&dir, "snapshot") {
                        std::fs::remove_file(f).unwrap();
                    }
                }
                let last_base = files(&dir, "log")
                    .last()
                    .and_then(|p| p.file_stem()?.to_str()?.parse::<i64>().ok())
                    .unwrap();
                crash(root.path(), if recover_all { 0 } else { last_base });
                let (mgr, after) = reopen(root.path());
                if recover_all || lose == "cut" {
                    // A cut file is torn: rebuilt even where not recovered.
                    assert_eq!(after, before, "{case}");
                } else {
                    // Only the last segment was recovered: its entry (producer 3's,
                    // begun two segments earlier) is back with its first offset; the
                    // earlier segment's file is trusted gone.
                    assert_eq!(after, before[1..], "{case}");
                }
                mgr.shutdown().unwrap();
                // The rebuilt files hold it: a clean restart reads them back.
                assert_eq!(reopen(root.path()).1, after, "{case}");
            }
        }
    }
}

#[test]
fn an_unreadable_txnindex_is_rebuilt_and_the_log_loads() {
    // A torn entry, an unknown version in whole entries, garbage.
    let garbage: [&[u8]; 3] = [&[0u8; 20], &[0xff; 34], &[0x5a; 100]];
    for (i, bytes) in garbage.into_iter().enumerate() {
        let root = tempfile::tempdir().unwrap();
        let (dir, before) = write_log(root.path());
        for f in files(&dir, "txnindex") {
            std::fs::write(&f, bytes).unwrap();
        }
        // A clean shutdown: nothing else is recovered.
        let (mgr, after) = reopen(root.path());
        assert_eq!(after, before, "garbage {i}");
        mgr.shutdown().unwrap();
        assert_eq!(reopen(root.path()).1, before, "garbage {i}");
    }
}

#[test]
fn a_clean_shutdown_trusts_the_txnindex_files() {
    let root = tempfile::tempdir().unwrap();
    let (dir, before) = write_log(root.path());
    let indexes = files(&dir, "txnindex");
    // The file of producer 2's abort is gone: a clean restart believes it (nothing
    // is rebuilt), so only producer 3's entry is left.
    std::fs::remove_file(&indexes[0]).unwrap();
    let (mgr, after) = reopen(root.path());
    assert_eq!(after, before[1..]);
    mgr.shutdown().unwrap();
}
