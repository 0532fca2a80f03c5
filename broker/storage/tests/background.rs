//! Background work and concurrency: the scheduler applies retention and flush.ms on its
//! own, compaction runs while appends and reads continue, and many partitions append in
//! parallel. Waits poll a condition with a deadline; nothing sleeps to synchronise.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tidewater_storage::{CleanupPolicy, LogConfig, LogManager, LogManagerConfig};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

#[test]
fn scheduler_applies_retention_and_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 512,
        retention_ms: 60_000,
        flush_ms: 0,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    let mgr = LogManager::open(LogManagerConfig {
        log_dirs: vec![dir.path().to_path_buf()],
        default_config: cfg.clone(),
        retention_check_interval_ms: 20,
        flush_check_interval_ms: 10,
        recovery_threads: 2,
    })
    .unwrap();
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    let now = tidewater_now();
    // old records (2 minutes ago) in several segments, then a fresh one
    for i in 0..20 {
        log.append_as_leader(
            &batch(&[rec("k", &format!("old-{i:03}"), now - 120_000)]),
            0,
            now,
        )
        .unwrap();
    }
    log.append_as_leader(&batch(&[rec("k", "fresh", now)]), 0, now)
        .unwrap();
    // Replicated (retention never passes the high watermark).
    log.update_high_watermark(log.log_end_offset());
    assert!(log.segment_count() > 2);
    assert_eq!(
        log.recovery_point(),
        log.segment_base_offsets().last().copied().unwrap()
    );
    let last_base = log.segment_base_offsets().last().copied().unwrap();
    mgr.start_background_tasks();
    wait_for("retention to remove the expired segments", || {
        log.log_start_offset() == last_base
    });
    assert_eq!(log.segment_count(), 1);
    wait_for(
        "flush.ms=0 to move the recovery point to the log end",
        || log.recovery_point() == log.log_end_offset(),
    );
    let left = read_all(&log, 0);
    assert_eq!(left.last().unwrap().2.as_deref(), Some(&b"fresh"[..]));
    wait_for("deleted files to be removed", || {
        std::fs::read_dir(log.dir()).unwrap().all(|e| {
            !e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".deleted")
        })
    });
    shut_down_and_verify(mgr, dir.path());
}

fn tidewater_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn compaction_does_not_block_appends_or_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 4096,
        min_cleanable_dirty_ratio: 0.0,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    for i in 0..2000 {
        log.append_as_leader(
            &batch(&[rec(&format!("key{}", i % 50), &format!("v{i}"), NOW)]),
            0,
            NOW,
        )
        .unwrap();
    }
    // Replicated (the cleaner stops at the last stable offset).
    log.update_high_watermark(log.log_end_offset());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                log.append_as_leader(
                    &batch(&[rec(&format!("key{}", n % 50), "during", NOW)]),
                    0,
                    NOW,
                )
                .unwrap();
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let all = read_all(&log, 0);
                assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
                reads += 1;
            }
            reads
        })
    };
    let mut passes = 0;
    for _ in 0..5 {
        if log.compact(NOW + 1).unwrap().is_some() {
            passes += 1;
        }
    }
    // let the other threads make progress past the compaction before stopping them
    let end = log.log_end_offset();
    wait_for("appends to continue", || log.log_end_offset() > end + 10);
    stop.store(true, Ordering::Relaxed);
    let appended = writer.join().unwrap();
    let reads = reader.join().unwrap();
    assert!(passes >= 1 && appended > 0 && reads > 0);
    let all = read_all(&log, 0);
    assert!(all.len() < 2000 + appended, "compaction removed records");
    // every key still has its latest value
    for k in 0..50 {
        let key = format!("key{k}");
        assert!(
            all.iter().any(|r| r.1.as_deref() == Some(key.as_bytes())),
            "{key} lost"
        );
    }
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn many_partitions_append_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let threads: Vec<_> = (0..8)
        .map(|p| {
            let mgr = mgr.clone();
            std::thread::spawn(move || {
                let log = mgr
                    .get_or_create_log(&tp(p % 4), LogConfig::default())
                    .unwrap();
                for i in 0..200 {
                    log.append_as_leader(&batch(&[rec("k", &format!("{p}-{i}"), NOW)]), 0, NOW)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mgr.logs().len(), 4);
    for (_, log) in mgr.logs() {
        assert_eq!(log.log_end_offset(), 400);
        let all = read_all(&log, 0);
        assert_eq!(
            all.iter().map(|r| r.0).collect::<Vec<_>>(),
            (0..400).collect::<Vec<_>>()
        );
    }
    shut_down_and_verify(mgr, dir.path());
}
