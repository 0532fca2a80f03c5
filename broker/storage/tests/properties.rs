//! Seeded property tests. Set TIDEWATER_SEED=<u64> to replay a failing run (the seed is
//! printed on failure).
//! - crash: unclean stop, then cut the active segment at a random byte or flip a bit;
//!   recovery yields a valid prefix, never panics, and dump-log agrees.
//! - model: random appends, reads (in memory and as file ranges), rolls, DeleteRecords/retention and compaction against
//!   an in-memory model; index and timestamp lookups agree with a linear scan.

mod common;

use std::collections::BTreeMap;

use common::*;
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tidewater_storage::{CleanupPolicy, LogConfig};

fn runner(cases: u32, salt: u64) -> (TestRunner, u64) {
    let seed = std::env::var("TIDEWATER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x71de_0a7e_u64)
        ^ salt;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    (
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)),
        seed,
    )
}

fn run<S: Strategy>(
    cases: u32,
    salt: u64,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let (mut r, seed) = runner(cases, salt);
    if let Err(e) = r.run(&strategy, test) {
        panic!("property failed with TIDEWATER_SEED={seed}: {e}");
    }
}

#[allow(clippy::unwrap_used)] // test helper
fn log_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[derive(Debug, Clone)]
enum Damage {
    Cut(f64),
    Flip(f64, u8),
    DropIndexes,
}

#[test]
fn crash_recovery_yields_a_valid_prefix_and_dump_log_agrees() {
    let strategy = (
        prop::collection::vec((1usize..4, 1usize..200), 1..40),
        1000u64..4000,
        0u64..600,
        prop_oneof![
            (0.0f64..1.0).prop_map(Damage::Cut),
            ((0.0f64..1.0), 0u8..8).prop_map(|(p, b)| Damage::Flip(p, b)),
            Just(Damage::DropIndexes),
        ],
        any::<prop::sample::Index>(),
    );
    run(
        48,
        1,
        strategy,
        |(batches, segment_bytes, interval, damage, which)| {
            let dir = tempfile::tempdir().unwrap();
            let cfg = LogConfig {
                segment_bytes,
                index_interval_bytes: interval,
                ..LogConfig::default()
            };
            let mut written = Vec::new();
            {
                let mgr = manager(&[dir.path()], cfg.clone());
                let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
                for (i, (n, size)) in batches.iter().enumerate() {
                    let recs: Vec<Rec> = (0..*n)
                        .map(|j| rec(&format!("k{i}-{j}"), &"v".repeat(*size), NOW + i as i64))
                        .collect();
                    let codec = if i % 3 == 0 {
                        Compression::Lz4
                    } else {
                        Compression::None
                    };
                    let info = log
                        .append_as_leader(&batch_with(&recs, codec, None), 0, NOW)
                        .unwrap();
                    written.push((info.first_offset, recs.len()));
                }
                // no shutdown: an unclean stop
            }
            let pdir = dir.path().join("t-0");
            let logs = log_files(&pdir);
            // Any segment: the recovery-point checkpoint on disk is the one written at
            // open, so every segment is after it and gets recovered.
            let active = logs[which.index(logs.len())].clone();
            let before = std::fs::read(&active).unwrap();
            // positions of batch starts, to avoid flipping the (CRC-uncovered) base offset
            let starts: Vec<usize> = tidewater_storage::batch::BatchIter::new(&before)
                .map(|(p, _)| p)
                .collect();
            match damage {
                Damage::Cut(f) => {
                    let at = (before.len() as f64 * f) as usize;
                    std::fs::write(&active, &before[..at]).unwrap();
                }
                Damage::Flip(f, bit) => {
                    if !before.is_empty() {
                        let mut at = (before.len() as f64 * f) as usize % before.len();
                        if let Some(s) = starts.iter().rev().find(|s| **s <= at)
                            && at - s < 8
                        {
                            at = s + 8 + (at - s);
                        }
                        let mut b = before.clone();
                        let at = at.min(b.len() - 1);
                        b[at] ^= 1 << bit;
                        std::fs::write(&active, &b).unwrap();
                    }
                }
                Damage::DropIndexes => {
                    for p in &logs {
                        let _ = std::fs::remove_file(p.with_extension("index"));
                        std::fs::write(p.with_extension("timeindex"), b"garbage").unwrap();
                    }
                }
            }
            let damaged_len = std::fs::metadata(&active).unwrap().len();
            let mut out = Vec::new();
            let dump_valid = tidewater_storage::dump::dump_files(
                std::slice::from_ref(&active),
                Default::default(),
                &mut out,
            )
            .unwrap();
            let mgr = manager(&[dir.path()], cfg.clone());
            let log = mgr.get_log(&tp(0)).unwrap();
            let recovered_len = std::fs::metadata(&active).map(|m| m.len()).unwrap_or(0);
            prop_assert_eq!(
                dump_valid,
                recovered_len == damaged_len,
                "dump-log and recovery disagree on {}",
                active.display()
            );
            let all = read_all(&log, 0);
            // a prefix: offsets 0..n contiguous, each record the one written there
            for (i, r) in all.iter().enumerate() {
                prop_assert_eq!(r.0, i as i64);
            }
            prop_assert_eq!(log.log_end_offset(), all.len() as i64);
            let mut expected = Vec::new();
            for (i, (n, size)) in batches.iter().enumerate() {
                for j in 0..*n {
                    expected.push((format!("k{i}-{j}"), "v".repeat(*size)));
                }
            }
            for (r, (k, v)) in all.iter().zip(&expected) {
                prop_assert_eq!(r.1.as_deref(), Some(k.as_bytes()));
                prop_assert_eq!(r.2.as_deref(), Some(v.as_bytes()));
            }
            if matches!(damage, Damage::DropIndexes) {
                prop_assert_eq!(all.len(), expected.len());
            }
            // appends continue after recovery and everything on disk checks out
            log.append_as_leader(&batch(&[rec("after", "crash", NOW)]), 1, NOW)
                .unwrap();
            mgr.shutdown().unwrap();
            let mut files = Vec::new();
            for p in log_files(&pdir) {
                files.push(p.with_extension("index"));
                files.push(p.with_extension("timeindex"));
                files.push(p);
            }
            let mut out = Vec::new();
            let ok = tidewater_storage::dump::dump_files(
                &files,
                tidewater_storage::dump::DumpOptions {
                    deep_iteration: true,
                    print_data: true,
                },
                &mut out,
            )
            .unwrap();
            prop_assert!(ok, "{}", String::from_utf8_lossy(&out));
            // and the independent decoder reads every record that recovery kept
            prop_assert_eq!(verify_all_logs(dir.path()), all.len() + 1);
            Ok(())
        },
    );
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        keys: Vec<u8>,
        value_len: usize,
        ts_jitter: i64,
        gzip: bool,
    },
    Read {
        at: f64,
        max_bytes: usize,
    },
    Timestamp {
        at: f64,
    },
    DeleteRecords {
        at: f64,
    },
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(0u8..6, 1..5), 0usize..120, -50i64..50, any::<bool>())
            .prop_map(|(keys, value_len, ts_jitter, gzip)| Op::Append { keys, value_len, ts_jitter, gzip }),
        3 => ((0.0f64..1.0), 1usize..2000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (0.0f64..1.0).prop_map(|at| Op::Timestamp { at }),
        1 => (0.0f64..1.0).prop_map(|at| Op::DeleteRecords { at }),
        1 => Just(Op::Compact),
    ]
}

#[test]
fn random_operations_agree_with_a_model() {
    run(24, 2, prop::collection::vec(op(), 1..60), |ops| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            segment_bytes: 2000,
            index_interval_bytes: 64,
            cleanup_policy: CleanupPolicy::Both,
            retention_ms: -1,
            min_cleanable_dirty_ratio: 0.0,
            delete_retention_ms: i64::MAX / 4,
            file_delete_delay_ms: 0,
            ..LogConfig::default()
        };
        let mgr = manager(&[dir.path()], cfg.clone());
        let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
        // offset -> (key, value, timestamp)
        let mut model: BTreeMap<i64, (Vec<u8>, Vec<u8>, i64)> = BTreeMap::new();
        let mut clock = NOW;
        for op in ops {
            match op {
                Op::Append {
                    keys,
                    value_len,
                    ts_jitter,
                    gzip,
                } => {
                    clock += 100;
                    let recs: Vec<Rec> = keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| {
                            rec(
                                &format!("key{k}"),
                                &format!("{clock}-{i}-{}", "x".repeat(value_len)),
                                clock + ts_jitter + i as i64,
                            )
                        })
                        .collect();
                    let codec = if gzip {
                        Compression::Gzip
                    } else {
                        Compression::None
                    };
                    let info = log
                        .append_as_leader(&batch_with(&recs, codec, None), 0, clock)
                        .unwrap();
                    prop_assert_eq!(
                        info.first_offset,
                        model
                            .keys()
                            .next_back()
                            .map_or(log.log_start_offset().max(info.first_offset), |o| o + 1)
                            .max(info.first_offset)
                    );
                    for (i, r) in recs.iter().enumerate() {
                        model.insert(
                            info.first_offset + i as i64,
                            (
                                r.key.clone().unwrap(),
                                r.value.clone().unwrap(),
                                r.timestamp,
                            ),
                        );
                    }
                    log.update_high_watermark(log.log_end_offset());
                }
                Op::Read { at, max_bytes } => {
                    let (start, end) = (log.log_start_offset(), log.log_end_offset());
                    let target = start + ((end - start) as f64 * at) as i64;
                    let r = log.read(target, max_bytes, i64::MAX, true).unwrap();
                    let recs = decode(&r.records);
                    // The file-range read (sendfile) names exactly the bytes read() returns,
                    // under every bound.
                    for max_offset in [i64::MAX, target + (end - target) / 2 + 1] {
                        for min_one in [true, false] {
                            let mem = log.read(target, max_bytes, max_offset, min_one).unwrap();
                            let file = log
                                .read_file(target, max_bytes, max_offset, min_one)
                                .unwrap();
                            let bytes = file.records.map(|f| f.read().unwrap()).unwrap_or_default();
                            prop_assert_eq!(
                                &bytes[..],
                                &mem.records[..],
                                "read_file({}, {}, {}, {})",
                                target,
                                max_bytes,
                                max_offset,
                                min_one
                            );
                        }
                    }
                    // linear scan of the model: the first live record at or after target
                    match model.range(target..).next() {
                        Some((o, (k, v, _))) => {
                            let hit = recs.iter().find(|r| r.0 == *o);
                            prop_assert!(hit.is_some(), "read({}) missed offset {}", target, o);
                            let hit = hit.unwrap();
                            prop_assert_eq!(hit.1.as_deref(), Some(&k[..]));
                            prop_assert_eq!(hit.2.as_deref(), Some(&v[..]));
                            prop_assert!(
                                recs.iter().all(|r| r.0 <= *o || model.contains_key(&r.0))
                            );
                        }
                        None => prop_assert!(recs.iter().all(|r| r.0 < target)),
                    }
                }
                Op::Timestamp { at } => {
                    let target = NOW + ((clock - NOW + 200) as f64 * at) as i64;
                    let got = log.fetch_offset_for_timestamp(target).unwrap();
                    let want = model
                        .iter()
                        .find(|(_, (_, _, ts))| *ts >= target)
                        .map(|(o, (_, _, ts))| (*o, *ts));
                    prop_assert_eq!(
                        got.map(|g| (g.offset, g.timestamp)),
                        want,
                        "timestamp {}",
                        target
                    );
                }
                Op::DeleteRecords { at } => {
                    let (start, hw) = (log.log_start_offset(), log.high_watermark());
                    let target = start + ((hw - start) as f64 * at) as i64;
                    prop_assert_eq!(
                        log.delete_records_before(target).unwrap(),
                        target.max(start)
                    );
                    log.delete_old_segments(clock).unwrap();
                    model = model.split_off(&log.log_start_offset());
                }
                Op::Compact => {
                    log.compact(clock).unwrap();
                    let live: BTreeMap<i64, _> =
                        read_all(&log, 0).into_iter().map(|r| (r.0, r)).collect();
                    // nothing invented, nothing that is the latest for its key lost
                    let mut latest: BTreeMap<&[u8], i64> = BTreeMap::new();
                    for (o, (k, _, _)) in &model {
                        latest.insert(k, *o);
                    }
                    for (o, r) in &live {
                        let m = model.get(o);
                        prop_assert!(m.is_some(), "offset {} not in the model", o);
                        prop_assert_eq!(r.2.as_deref(), m.map(|m| &m.1[..]));
                    }
                    for o in latest.values() {
                        prop_assert!(live.contains_key(o), "latest record at {} was removed", o);
                    }
                    // Only non-active segments are cleaned; the key map covers just them.
                    let cleaned_end = log.segment_base_offsets().last().copied().unwrap_or(0);
                    let mut latest_cleanable: BTreeMap<&[u8], i64> = BTreeMap::new();
                    for (o, (k, _, _)) in model.range(..cleaned_end) {
                        latest_cleanable.insert(k, *o);
                    }
                    for (o, (k, _, _)) in model.range(..cleaned_end) {
                        if latest_cleanable.get(&k[..]) != Some(o) {
                            prop_assert!(
                                !live.contains_key(o),
                                "superseded record at {} survived",
                                o
                            );
                        }
                    }
                    model.retain(|o, _| live.contains_key(o));
                }
            }
            let offsets: Vec<i64> = read_all(&log, 0).iter().map(|r| r.0).collect();
            prop_assert!(offsets.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(offsets, model.keys().copied().collect::<Vec<_>>());
        }
        mgr.shutdown().unwrap();
        verify_all_logs(dir.path());
        Ok(())
    });
}

#[test]
fn mangled_produce_requests_are_refused_with_an_error_never_a_panic() {
    let strategy = (
        prop::collection::vec((1usize..4, 0usize..64, any::<bool>()), 1..4),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    let follower = mgr.get_or_create_log(&tp(1), LogConfig::default()).unwrap();
    run(256, 3, strategy, |(batches, edits, cut, truncate)| {
        let mut bytes = Vec::new();
        for (n, size, gz) in &batches {
            let recs: Vec<Rec> = (0..*n)
                .map(|i| rec(&format!("k{i}"), &"v".repeat(*size), NOW))
                .collect();
            let codec = if *gz {
                Compression::Gzip
            } else {
                Compression::None
            };
            bytes.extend(batch_with(&recs, codec, None));
        }
        for (at, byte) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let end = log.log_end_offset();
        match log.append_as_leader(&bytes, 0, NOW) {
            Ok(info) => prop_assert_eq!(info.first_offset, end),
            Err(e) => {
                prop_assert!([2, 10, 18, 32, 43, 87].contains(&e.error_code()), "{e}");
                prop_assert_eq!(log.log_end_offset(), end, "a refused append wrote nothing");
            }
        }
        let _ = follower.append_as_follower(&bytes);
        Ok(())
    });
    // everything that was accepted reads back through the independent decoder
    let all = read_all(&log, 0);
    assert_eq!(all.len() as i64, log.log_end_offset());
    mgr.shutdown().unwrap();
}
