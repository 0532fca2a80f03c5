//! Rolling, retention, DeleteRecords, truncation, idempotent producers, compaction,
//! clean and unclean restarts, JBOD placement and dump-log, through the public API.

mod common;

use common::*;
use kafka_protocol::records::Compression;
use tidewater_storage::{CleanupPolicy, Log, LogConfig};

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

/// Compaction with no tombstone retention and almost any dirty ratio cleanable.
fn compacting() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 0,
        min_cleanable_dirty_ratio: 0.01,
        ..small()
    }
}

/// Appends one record with segment.ms 1 on top of `cfg`, which rolls the segment so
/// everything written before is cleanable, and marks it all replicated (the cleaner and
/// retention stop at the last stable offset, so at the high watermark); the log keeps
/// that config. Returns the record's offset.
#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn roll(log: &Log, cfg: &LogConfig, key: &str, value: &str, ts: i64) -> i64 {
    log.update_config(LogConfig {
        segment_ms: 1,
        ..cfg.clone()
    });
    let offset = log
        .append_as_leader(&batch(&[rec(key, value, ts)]), 0, ts)
        .unwrap()
        .first_offset;
    log.update_high_watermark(log.log_end_offset());
    offset
}

#[test]
fn rolls_and_retention_by_bytes_and_time_move_the_log_start() {
    let (dir, mgr, log) = one_log(small());
    for i in 0..100 {
        log.append_as_leader(
            &batch(&[rec("k", &format!("value-{i:04}"), NOW + i)]),
            0,
            NOW + 100,
        )
        .unwrap();
    }
    // Replicated: retention never passes the high watermark.
    log.update_high_watermark(log.log_end_offset());
    let segs = log.segment_count();
    assert!(segs >= 5, "{segs} segments");
    let names: Vec<String> = std::fs::read_dir(log.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"00000000000000000000.log".to_string()),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with(".timeindex")));
    // retention.bytes: keep at most ~2 KiB
    log.update_config(LogConfig {
        retention_bytes: 2048,
        ..small()
    });
    let removed = log.delete_old_segments(NOW + 200).unwrap();
    assert!(removed > 0);
    assert!(log.size_in_bytes() <= 2048 + 1024);
    let start = log.log_start_offset();
    assert!(start > 0);
    assert_eq!(log.segment_base_offsets()[0], start);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(tidewater_storage::ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, start).first().unwrap().0, start);
    log.delete_pending_files(NOW + 200, false).unwrap();
    let deleted = std::fs::read_dir(log.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".deleted")
        })
        .count();
    assert_eq!(deleted, 0);
    // retention.ms: everything is older than 1 s at NOW + 10 s; the active segment is rolled
    log.update_config(LogConfig {
        retention_ms: 1_000,
        ..small()
    });
    log.delete_old_segments(NOW + 10_000).unwrap();
    assert_eq!(log.log_start_offset(), 100);
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(&batch(&[rec("k", "after", NOW + 10_000)]), 0, NOW + 10_000)
        .unwrap();
    assert_eq!(
        read_all(&log, 0).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![100]
    );
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn delete_records_and_truncate_to() {
    let (dir, mgr, log) = one_log(small());
    for i in 0..40 {
        log.append_as_leader(
            &batch(&[rec("k", &format!("v{i:03}"), NOW), rec("k", "x", NOW)]),
            i / 10,
            NOW,
        )
        .unwrap();
    }
    assert_eq!(log.log_end_offset(), 80);
    log.update_high_watermark(50);
    assert!(log.delete_records_before(60).is_err());
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    assert_eq!(read_all(&log, 30).first().unwrap().0, 30);
    log.delete_old_segments(NOW).unwrap();
    assert!(log.segment_base_offsets()[0] <= 30);
    // truncate inside a batch drops the whole batch
    log.truncate_to(65).unwrap();
    assert_eq!(log.log_end_offset(), 64);
    assert_eq!(log.high_watermark(), 50);
    assert_eq!(log.latest_epoch(), Some(3));
    log.truncate_to(55).unwrap();
    assert_eq!(log.log_end_offset(), 54);
    assert_eq!(log.latest_epoch(), Some(2));
    let recs = read_all(&log, 30);
    assert_eq!(recs.last().unwrap().0, 53);
    let next = log
        .append_as_leader(&batch(&[rec("k", "new", NOW)]), 7, NOW)
        .unwrap();
    assert_eq!(next.first_offset, 54);
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 54)));
    assert_eq!(log.end_offset_for_epoch(7), Some((7, 55)));
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn idempotent_producer_duplicates_gaps_and_fencing() {
    let (dir, mgr, log) = one_log(LogConfig::default());
    let b = |epoch: i16, seq: i32, n: usize| {
        let recs: Vec<Rec> = (0..n)
            .map(|i| rec("k", &format!("{seq}-{i}"), NOW))
            .collect();
        batch_with(&recs, Compression::None, Some((7, epoch, seq)))
    };
    let first = log.append_as_leader(&b(0, 0, 3), 0, NOW).unwrap();
    assert_eq!((first.first_offset, first.last_offset), (0, 2));
    let second = log.append_as_leader(&b(0, 3, 2), 0, NOW).unwrap();
    assert_eq!((second.first_offset, second.last_offset), (3, 4));
    // a retry of the first batch is a duplicate with the original offsets
    let dup = log.append_as_leader(&b(0, 0, 3), 0, NOW).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.first_offset, dup.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 5);
    // a gap
    assert_eq!(
        log.append_as_leader(&b(0, 9, 1), 0, NOW)
            .unwrap_err()
            .error_code(),
        45
    );
    // a new epoch must start at 0
    assert_eq!(
        log.append_as_leader(&b(1, 5, 1), 0, NOW)
            .unwrap_err()
            .error_code(),
        45
    );
    log.append_as_leader(&b(1, 0, 1), 0, NOW).unwrap();
    // the old epoch is fenced
    assert_eq!(
        log.append_as_leader(&b(0, 5, 1), 0, NOW)
            .unwrap_err()
            .error_code(),
        47
    );
    let entry = log.producer_state(7).unwrap();
    assert_eq!(
        (entry.producer_epoch, entry.last_sequence, entry.last_offset),
        (1, 0, 5)
    );
    // survives a clean restart (snapshot) and an unclean one (replay of the log)
    mgr.shutdown().unwrap();
    drop(log);
    drop(mgr);
    let mgr = manager(&[dir.path()], LogConfig::default());
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(log.producer_state(7).unwrap().last_offset, 5);
    let dup = log.append_as_leader(&b(1, 0, 1), 0, NOW).unwrap();
    assert!(dup.duplicate);
    log.append_as_leader(&b(1, 1, 1), 0, NOW).unwrap();
    drop(log);
    drop(mgr); // no shutdown: unclean
    for f in std::fs::read_dir(dir.path().join("t-0")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mgr = manager(&[dir.path()], LogConfig::default());
    let log = mgr.get_log(&tp(0)).unwrap();
    let entry = log.producer_state(7).unwrap();
    assert_eq!(
        (entry.producer_epoch, entry.last_sequence, entry.last_offset),
        (1, 1, 6)
    );
    assert!(log.append_as_leader(&b(1, 1, 1), 0, NOW).unwrap().duplicate);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn compaction_keeps_the_latest_value_per_key_with_offsets_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = compacting();
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    let mut latest = std::collections::BTreeMap::new();
    for i in 0..120i64 {
        let key = format!("key-{}", i % 7);
        let codec = [Compression::None, Compression::Gzip, Compression::Zstd][(i % 3) as usize];
        let value = if i == 100 {
            None
        } else {
            Some(format!("v{i}").into_bytes())
        };
        let r = Rec {
            key: Some(key.clone().into_bytes()),
            value: value.clone(),
            timestamp: NOW,
        };
        let info = log
            .append_as_leader(&batch_with(&[r], codec, None), 0, NOW)
            .unwrap();
        latest.insert(key, (info.first_offset, value));
    }
    // roll so everything is cleanable
    roll(&log, &compacting(), "other", "x", NOW + 10);
    let segments_before = log.segment_count();
    let stats = log
        .compact(NOW + 1_000)
        .unwrap()
        .expect("compaction was due");
    assert!(stats.records_removed > 100, "{stats:?}");
    // Full segments are cleaned one per group (Kafka groups by their size before
    // cleaning) and a group cleaned to nothing keeps its segment, so this pass never
    // adds any; the next pass merges the small cleaned ones (see
    // compaction_keeps_the_log_start_and_names_each_cleaned_group_after_its_first_segment).
    assert!(
        log.segment_count() <= segments_before,
        "{segments_before} -> {}",
        log.segment_count()
    );
    let all = read_all(&log, 0);
    let offsets: Vec<i64> = all.iter().map(|r| r.0).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets stay ordered"
    );
    for (key, (offset, value)) in &latest {
        let found: Vec<_> = all
            .iter()
            .filter(|r| r.1.as_deref() == Some(key.as_bytes()))
            .collect();
        match value {
            Some(v) => {
                assert_eq!(found.len(), 1, "{key}");
                assert_eq!((found[0].0, found[0].2.as_deref()), (*offset, Some(&v[..])));
            }
            None => assert!(found.is_empty(), "tombstone for {key} removed"),
        }
    }
    assert_eq!(log.log_end_offset(), 121);
    // a second pass has nothing dirty
    assert!(log.compact(NOW + 2_000).unwrap().is_none());
    // the cleaned log survives an unclean restart
    drop(log);
    drop(mgr);
    let mgr = manager(&[dir.path()], small());
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(read_all(&log, 0), all);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn jbod_placement_delete_and_dir_infos() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mgr = manager(&[a.path(), b.path()], LogConfig::default());
    for p in 0..4 {
        let log = mgr.get_or_create_log(&tp(p), LogConfig::default()).unwrap();
        log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 0, NOW)
            .unwrap();
    }
    let infos = mgr.log_dir_infos();
    assert_eq!(
        infos.iter().map(|i| i.partitions.len()).collect::<Vec<_>>(),
        vec![2, 2]
    );
    assert!(infos[0].total_bytes > 0 && infos[0].usable_bytes > 0);
    assert!(infos[0].partitions.iter().all(|(_, size, _)| *size > 0));
    mgr.delete_log(&tp(0)).unwrap();
    assert!(mgr.get_log(&tp(0)).is_none());
    assert!(!a.path().join("t-0").exists() && !b.path().join("t-0").exists());
    mgr.shutdown().unwrap();
    mgr.shutdown().unwrap();
    assert!(a.path().join(".kafka_cleanshutdown").exists());
    let recovery =
        std::fs::read_to_string(a.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert!(recovery.starts_with("0\n"), "{recovery}");
    let mgr = manager(&[a.path(), b.path()], LogConfig::default());
    assert_eq!(mgr.logs().len(), 3);
    assert!(!a.path().join(".kafka_cleanshutdown").exists());
    mgr.shutdown().unwrap();
    assert_eq!(verify_all_logs(a.path()) + verify_all_logs(b.path()), 3);
}

#[test]
fn dump_log_prints_batches_and_checks_indexes() {
    let (dir, mgr, log) = one_log(small());
    for i in 0..30 {
        log.append_as_leader(
            &batch(&[rec("key", &format!("payload-{i}"), NOW + i)]),
            0,
            NOW + 100,
        )
        .unwrap();
    }
    mgr.shutdown().unwrap();
    let d = dir.path().join("t-0");
    let files: Vec<_> = ["log", "index", "timeindex"]
        .iter()
        .map(|e| d.join(format!("00000000000000000000.{e}")))
        .collect();
    let mut out = Vec::new();
    assert!(
        tidewater_storage::dump::dump_files(
            &files,
            tidewater_storage::dump::DumpOptions {
                deep_iteration: true,
                print_data: true
            },
            &mut out
        )
        .unwrap()
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("baseOffset: 0 lastOffset: 0 count: 1"),
        "{text}"
    );
    assert!(text.contains("isvalid: true"));
    assert!(text.contains("payload: payload-0"));
    assert!(text.contains("offset: ") && text.contains("position: "));
    // corrupt one byte in the middle of the log
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&files[0], &bytes).unwrap();
    let mut out = Vec::new();
    let missing = d.join("00000000000000000099.index");
    assert!(
        !tidewater_storage::dump::dump_files(
            &[missing, files[1].clone()],
            Default::default(),
            &mut out
        )
        .unwrap()
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Could not read"), "{text}");
    assert!(
        text.contains("offset: "),
        "the readable file is still dumped: {text}"
    );
    let mut out = Vec::new();
    assert!(
        !tidewater_storage::dump::dump_files(&files[..1], Default::default(), &mut out).unwrap()
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("position"), "{text}");
}

#[test]
fn rolls_on_segment_ms_full_index_and_flush_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    // segment.ms: record timestamps more than 1 s after the segment's first batch
    let log = mgr
        .get_or_create_log(
            &tp(0),
            LogConfig {
                segment_ms: 1_000,
                ..LogConfig::default()
            },
        )
        .unwrap();
    log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 0, NOW)
        .unwrap();
    log.append_as_leader(&batch(&[rec("k", "v", NOW + 500)]), 0, NOW + 500)
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(&batch(&[rec("k", "v", NOW + 1_500)]), 0, NOW + 1_500)
        .unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // segment.index.bytes: room for two offset-index entries (index entry per batch)
    let cfg = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let log = mgr.get_or_create_log(&tp(1), cfg).unwrap();
    for _ in 0..9 {
        log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 0, NOW)
            .unwrap();
    }
    assert!(log.segment_count() >= 3, "{:?}", log.segment_base_offsets());
    // flush.messages=3: the recovery point follows every third record
    let log = mgr
        .get_or_create_log(
            &tp(2),
            LogConfig {
                flush_messages: 3,
                ..LogConfig::default()
            },
        )
        .unwrap();
    log.append_as_leader(&batch(&[rec("k", "v", NOW), rec("k", "v", NOW)]), 0, NOW)
        .unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 0, NOW)
        .unwrap();
    assert_eq!(log.recovery_point(), 3);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn compaction_respects_lag_and_tombstone_retention() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        min_compaction_lag_ms: 10_000,
        delete_retention_ms: 60_000,
        ..small()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    for i in 0..40 {
        // the last write of key k2 (offset 38) is a tombstone
        let value = (i != 38).then(|| b"value".to_vec());
        let r = Rec {
            key: Some(format!("k{}", i % 4).into_bytes()),
            value,
            timestamp: NOW,
        };
        log.append_as_leader(&batch_with(&[r], Compression::None, None), 0, NOW)
            .unwrap();
    }
    // roll (segment.ms) so offset 38 leaves the active segment
    roll(&log, &cfg, "k8", "roll", NOW + 5);
    assert!(log.segment_count() > 2);
    // younger than min.compaction.lag.ms: nothing is cleanable yet
    assert!(log.compact(NOW + 5_000).unwrap().is_none());
    assert_eq!(read_all(&log, 0).len(), 41);
    // old enough to clean; the tombstone stays within delete.retention.ms
    let stats = log.compact(NOW + 20_000).unwrap().unwrap();
    assert!(stats.records_removed > 0);
    let all = read_all(&log, 0);
    assert!(
        all.iter().any(|r| r.0 == 38 && r.2.is_none()),
        "tombstone kept for delete.retention.ms"
    );
    assert!(
        !all.iter().any(|r| r.0 == 34),
        "superseded k2 value removed"
    );
    // past delete.retention.ms the tombstone goes on the next cleaning
    log.append_as_leader(
        &batch(&[rec("k9", "roll", NOW + 100_000)]),
        0,
        NOW + 100_000,
    )
    .unwrap();
    log.update_high_watermark(log.log_end_offset());
    log.compact(NOW + 200_000).unwrap().unwrap();
    let all = read_all(&log, 0);
    assert!(
        !all.iter().any(|r| r.0 == 38),
        "tombstone removed after delete.retention.ms"
    );
    assert!(
        all.iter().any(|r| r.1.as_deref() == Some(&b"k3"[..])),
        "live keys stay"
    );
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn compaction_rewrites_keep_codec_log_append_time_and_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        message_timestamp_type: tidewater_storage::TimestampType::LogAppendTime,
        ..small()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    // one snappy batch with a superseded key inside it, then a roll
    let recs = [rec("a", "1", 5), rec("b", "2", 6), rec("a", "3", 7)];
    log.append_as_leader(&batch_with(&recs, Compression::Snappy, None), 0, NOW)
        .unwrap();
    log.update_config(LogConfig {
        segment_ms: 1,
        ..cfg
    });
    log.append_as_leader(&batch(&[rec("c", "x", 9)]), 0, NOW + 10)
        .unwrap();
    log.update_high_watermark(log.log_end_offset());
    assert_eq!(log.segment_count(), 2);
    log.compact(NOW + 20).unwrap().unwrap();
    let r = log.read(0, 1 << 20, 3, true).unwrap();
    // the independent decoder checks the CRC of the rewritten batch
    let recs = decode(&r.records);
    assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
    let h = tidewater_storage::batch::BatchHeader::parse(&r.records).unwrap();
    assert_eq!(h.compression_name(), "snappy");
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, NOW);
    assert_eq!(h.base_offset, 1);
    shut_down_and_verify(mgr, dir.path());
}

/// What a compacted log must look like, Kafka's way: compaction never moves the log
/// start (only retention and DeleteRecords do), every live segment keeps the base offset
/// of an original segment (a cleaned group is named after its first original) and the
/// first one is still 0, a read at any offset between the log start and the log end
/// answers with the next surviving record (never OFFSET_OUT_OF_RANGE), and each key keeps
/// its latest value.
#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn assert_compacted_like_kafka(
    log: &tidewater_storage::Log,
    bases_before: &[i64],
    latest: &std::collections::BTreeMap<String, (i64, String)>,
) {
    assert_eq!(log.log_start_offset(), 0, "compaction moved the log start");
    let earliest = log.fetch_offset_for_timestamp(-2).unwrap().unwrap();
    assert_eq!(earliest.offset, 0, "ListOffsets earliest");
    let bases = log.segment_base_offsets();
    assert_eq!(bases.first(), Some(&0), "{bases:?}");
    assert!(
        bases.iter().all(|b| bases_before.contains(b)),
        "every segment is named after an original: {bases:?} vs {bases_before:?}"
    );
    let all = read_all(log, 0);
    let surviving: Vec<i64> = all.iter().map(|r| r.0).collect();
    for (key, (offset, value)) in latest {
        let found: Vec<_> = all
            .iter()
            .filter(|r| r.1.as_deref() == Some(key.as_bytes()))
            .collect();
        assert_eq!(found.len(), 1, "{key}: {found:?}");
        assert_eq!(found[0].0, *offset, "{key}");
        assert_eq!(found[0].2.as_deref(), Some(value.as_bytes()), "{key}");
    }
    let end = log.log_end_offset();
    for o in 0..end {
        let r = log
            .read(o, 1 << 20, i64::MAX, true)
            .unwrap_or_else(|e| panic!("read at {o}: {e}"));
        let first = decode(&r.records)
            .into_iter()
            .map(|r| r.0)
            .find(|x| *x >= o);
        let want = surviving.iter().copied().find(|s| *s >= o);
        assert_eq!(first, want, "read at {o}");
    }
}

#[test]
fn compaction_keeps_the_log_start_and_names_each_cleaned_group_after_its_first_segment() {
    let cfg = compacting();
    let (dir, mgr, log) = one_log(cfg.clone());
    // Five keys rewritten over and over: the first segments hold only values that later
    // ones supersede, so whole groups of segments clean down to nothing.
    let mut latest = std::collections::BTreeMap::new();
    for i in 0..150i64 {
        let key = format!("key-{}", i % 5);
        let value = format!("value-{i:04}-{}", "x".repeat(40));
        let info = log
            .append_as_leader(&batch(&[rec(&key, &value, NOW)]), 0, NOW)
            .unwrap();
        latest.insert(key, (info.first_offset, value));
    }
    // roll (segment.ms) so everything written so far is cleanable
    let first_offset = roll(&log, &cfg, "roll", "r", NOW + 10);
    latest.insert("roll".into(), (first_offset, "r".into()));
    log.update_config(cfg.clone());
    let bases_before = log.segment_base_offsets();
    assert!(bases_before.len() >= 5, "{bases_before:?}");
    let stats = log
        .compact(NOW + 1_000)
        .unwrap()
        .expect("compaction was due");
    assert!(stats.records_removed >= 140, "{stats:?}");
    assert_compacted_like_kafka(&log, &bases_before, &latest);
    // The .deleted originals go; the log is still whole.
    log.delete_pending_files(NOW + 2_000, true).unwrap();
    assert_compacted_like_kafka(&log, &bases_before, &latest);
    // A clean restart and an unclean one both reload the log start 0.
    mgr.shutdown().unwrap();
    drop(log);
    drop(mgr);
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_compacted_like_kafka(&log, &bases_before, &latest);
    drop(log);
    drop(mgr);
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_compacted_like_kafka(&log, &bases_before, &latest);
    // A second pass: the emptied segments are merged into the group after them, which
    // is named after the first of the group (still 0).
    for i in 0..40i64 {
        let key = format!("key-{}", i % 5);
        let value = format!("again-{i:04}-{}", "y".repeat(40));
        let info = log
            .append_as_leader(&batch(&[rec(&key, &value, NOW + 20)]), 0, NOW + 20)
            .unwrap();
        latest.insert(key, (info.first_offset, value));
    }
    let first_offset = roll(&log, &cfg, "roll2", "r2", NOW + 30);
    latest.insert("roll2".into(), (first_offset, "r2".into()));
    log.update_config(cfg);
    let bases_before = log.segment_base_offsets();
    let segments_before = bases_before.len();
    log.compact(NOW + 3_000)
        .unwrap()
        .expect("compaction was due");
    assert!(log.segment_count() < segments_before);
    assert_compacted_like_kafka(&log, &bases_before, &latest);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn retention_still_removes_segments_that_compaction_emptied() {
    let cfg = compacting();
    let (_dir, mgr, log) = one_log(cfg.clone());
    for i in 0..60i64 {
        let value = format!("value-{i:04}-{}", "x".repeat(40));
        log.append_as_leader(&batch(&[rec(&format!("k{}", i % 3), &value, NOW)]), 0, NOW)
            .unwrap();
    }
    roll(&log, &cfg, "roll", "r", NOW + 10);
    log.compact(NOW + 1_000)
        .unwrap()
        .expect("compaction was due");
    // The first segment is kept, emptied: its age for retention.ms is its mtime.
    assert_eq!(log.segment_base_offsets()[0], 0);
    assert!(log.segment_count() >= 3);
    log.update_config(LogConfig {
        cleanup_policy: CleanupPolicy::Both,
        retention_ms: 1_000,
        ..small()
    });
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // An hour on, every segment is past retention.ms: an empty one in front must not
    // hold back the ones after it.
    let removed = log.delete_old_segments(wall + 3_600_000).unwrap();
    assert!(removed >= 3, "{removed} removed");
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), log.log_end_offset());
    mgr.shutdown().unwrap();
}
