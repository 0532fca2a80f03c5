//! Append, read, offsets, validation errors and timestamp lookups through the public API.

mod common;

use common::*;
use kafka_protocol::records::Compression;
use tidewater_storage::{AppendError, LogConfig, ReadError, TimestampType};

#[test]
fn append_then_read_round_trips_through_an_independent_decoder() {
    let (dir, mgr, log) = one_log(LogConfig::default());
    let a = log
        .append_as_leader(
            &batch(&[rec("k1", "v1", NOW), rec("k2", "v2", NOW + 1)]),
            3,
            NOW,
        )
        .unwrap();
    assert_eq!(
        (a.first_offset, a.last_offset, a.record_count, a.duplicate),
        (0, 1, 2, false)
    );
    assert_eq!(a.log_append_time, -1);
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        log.append_as_leader(&batch_with(&[rec("k", "compressed", NOW)], c, None), 3, NOW)
            .unwrap();
    }
    assert_eq!(log.log_end_offset(), 6);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(all[1].2.as_deref(), Some(&b"v2"[..]));
    assert_eq!(all[5].2.as_deref(), Some(&b"compressed"[..]));
    // read from the middle of a batch returns the whole batch
    let r = log.read(1, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(decode(&r.records)[0].0, 0);
    // max_offset bounds the batches
    let r = log.read(0, 1 << 20, 2, true).unwrap();
    assert_eq!(decode(&r.records).len(), 2);
    // max_bytes smaller than one batch: one batch with min_one_message, none without
    let r = log.read(0, 10, i64::MAX, true).unwrap();
    assert_eq!(decode(&r.records).len(), 2);
    assert!(log.read(0, 10, i64::MAX, false).unwrap().records.is_empty());
    assert!(log.read(6, 100, i64::MAX, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(7, 100, i64::MAX, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.latest_epoch(), Some(3));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 6)));
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn invalid_batches_get_the_kafka_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let cfg = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    let good = batch(&[rec("k", "v", NOW)]);
    // flipped payload byte -> CRC mismatch
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 2] ^= 0xff;
    assert_eq!(
        log.append_as_leader(&bad, 0, NOW).unwrap_err().error_code(),
        2
    );
    // truncated
    assert_eq!(
        log.append_as_leader(&good[..good.len() - 1], 0, NOW)
            .unwrap_err()
            .error_code(),
        2
    );
    assert_eq!(
        log.append_as_leader(&good[..30], 0, NOW)
            .unwrap_err()
            .error_code(),
        2
    );
    // magic 1
    let mut old = good.clone();
    old[16] = 1;
    assert_eq!(
        log.append_as_leader(&old, 0, NOW).unwrap_err().error_code(),
        43
    );
    // too large
    let big = batch(&[rec("k", &"x".repeat(500), NOW)]);
    assert!(matches!(
        log.append_as_leader(&big, 0, NOW),
        Err(AppendError::MessageTooLarge { .. })
    ));
    assert_eq!(
        log.append_as_leader(&big, 0, NOW).unwrap_err().error_code(),
        10
    );
    // timestamp far in the future
    let future = batch(&[rec("k", "v", NOW + 7_200_000)]);
    assert_eq!(
        log.append_as_leader(&future, 0, NOW)
            .unwrap_err()
            .error_code(),
        32
    );
    // null key on a compacted topic
    let compacted = LogConfig {
        cleanup_policy: tidewater_storage::CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    let clog = mgr.get_or_create_log(&tp(1), compacted).unwrap();
    let nokey = batch(&[common::Rec {
        key: None,
        value: Some(b"v".to_vec()),
        timestamp: NOW,
    }]);
    assert_eq!(
        clog.append_as_leader(&nokey, 0, NOW)
            .unwrap_err()
            .error_code(),
        87
    );
    let nokey_gz = batch_with(
        &[common::Rec {
            key: None,
            value: Some(b"v".to_vec()),
            timestamp: NOW,
        }],
        Compression::Gzip,
        None,
    );
    assert_eq!(
        clog.append_as_leader(&nokey_gz, 0, NOW)
            .unwrap_err()
            .error_code(),
        87
    );
    // nothing was written by any of the failures
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(clog.log_end_offset(), 0);
    log.append_as_leader(&good, 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn log_append_time_is_written_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let cfg = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    let info = log
        .append_as_leader(&batch(&[rec("k", "v", 5), rec("k", "w", 6)]), 0, NOW)
        .unwrap();
    assert_eq!(info.log_append_time, NOW);
    let r = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    // the kafka-protocol decoder verifies the CRC
    assert_eq!(decode(&r.records).len(), 2);
    let h = tidewater_storage::batch::BatchHeader::parse(&r.records).unwrap();
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, NOW);
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn list_offsets_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let cfg = LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    for i in 0..50 {
        log.append_as_leader(
            &batch(&[
                rec("k", "value", NOW + i * 10),
                rec("k", "value", NOW + i * 10 + 5),
            ]),
            1,
            NOW + 1_000,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 3);
    for target in [
        NOW - 1,
        NOW,
        NOW + 3,
        NOW + 5,
        NOW + 6,
        NOW + 250,
        NOW + 495,
    ] {
        let got = log.fetch_offset_for_timestamp(target).unwrap().unwrap();
        let expected = read_all(&log, 0)
            .into_iter()
            .find(|r| r.3 >= target)
            .unwrap();
        assert_eq!(
            (got.offset, got.timestamp),
            (expected.0, expected.3),
            "target {target}"
        );
        assert_eq!(got.leader_epoch, Some(1));
    }
    assert_eq!(log.fetch_offset_for_timestamp(NOW + 496).unwrap(), None);
    assert_eq!(
        log.fetch_offset_for_timestamp(-1).unwrap().unwrap().offset,
        100
    );
    assert_eq!(
        log.fetch_offset_for_timestamp(-2).unwrap().unwrap().offset,
        0
    );
    let max = log.fetch_offset_for_timestamp(-3).unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (99, NOW + 495));
    shut_down_and_verify(mgr, dir.path());
}

/// Issue 19 item 2: the stored max timestamp is the records' (LogValidator), not the
/// producer's header. librdkafka with timestamp -1 writes records of -1 and a header
/// max of 0; trusted, retention.ms would delete the segment at once.
#[test]
fn max_timestamp_comes_from_the_records_and_untimestamped_segments_age_by_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 7 * 24 * 3600 * 1000,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    let mut bytes = batch(&[rec("a", "1", -1), rec("b", "2", -1)]);
    // What librdkafka sends: header max timestamp 0 (and a LogAppendTime bit a
    // CreateTime topic must not keep), CRC valid.
    bytes[35..43].copy_from_slice(&0i64.to_be_bytes());
    bytes[22] |= 1 << 3;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    log.append_as_leader(&bytes, 0, NOW).unwrap();
    let stored = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    assert_eq!(i64::from_be_bytes(stored[35..43].try_into().unwrap()), -1);
    assert_eq!(i16::from_be_bytes([stored[21], stored[22]]) & (1 << 3), 0);
    assert_eq!(
        u32::from_be_bytes(stored[17..21].try_into().unwrap()),
        crc32c::crc32c(&stored[21..]),
        "the rewritten header's CRC"
    );
    assert!(decode(&stored).iter().all(|r| r.3 == -1));
    // No record timestamp: the file's mtime (now) ages it, not timestamp 0.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(log.delete_old_segments(now).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.fetch_offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.fetch_offset_for_timestamp(-3).unwrap(), None);
    mgr.shutdown().unwrap();
}
