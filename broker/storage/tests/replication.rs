//! What replication relies on: follower appends that keep the leader's offsets and
//! bytes, leader epochs from the batches, and state (high watermark, log start, epochs)
//! that survives restarts; plus completion of interrupted compaction swaps on load.

mod common;

use common::*;
use tidewater_storage::LogConfig;

#[test]
fn follower_append_copies_the_leaders_batches_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let leader = mgr.get_or_create_log(&tp(0), LogConfig::default()).unwrap();
    let follower = mgr.get_or_create_log(&tp(1), LogConfig::default()).unwrap();
    for epoch in [1, 1, 2, 4] {
        leader
            .append_as_leader(
                &batch(&[rec("k", "v", NOW), rec("k2", "w", NOW)]),
                epoch,
                NOW,
            )
            .unwrap();
    }
    let fetched = leader
        .read(0, 1 << 20, leader.log_end_offset(), true)
        .unwrap();
    let info = follower.append_as_follower(&fetched.records).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.record_count),
        (0, 7, 8)
    );
    let copied = follower.read(0, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(copied.records, fetched.records, "byte-for-byte");
    assert_eq!(
        follower.leader_epoch_entries(),
        vec![(1, 0), (2, 4), (4, 6)]
    );
    assert_eq!(follower.end_offset_for_epoch(3), Some((2, 6)));
    // below every known epoch: Kafka answers with the first epoch's start offset
    assert_eq!(follower.end_offset_for_epoch(0), Some((0, 0)));
    assert_eq!(follower.end_offset_for_epoch(5), None);
    // a batch that does not continue the log is refused, nothing is written
    let err = follower.append_as_follower(&fetched.records).unwrap_err();
    assert_eq!(err.error_code(), 87);
    assert_eq!(follower.log_end_offset(), 8);
    // a corrupted fetch is refused as CORRUPT_MESSAGE
    let mut bad = leader
        .read(6, 1 << 20, i64::MAX, true)
        .unwrap()
        .records
        .to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(
        follower.append_as_follower(&bad).unwrap_err().error_code(),
        2
    );
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn offsets_and_epochs_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    {
        let mgr = manager(&[dir.path()], cfg.clone());
        let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
        for i in 0..20 {
            log.append_as_leader(&batch(&[rec("k", "v", NOW)]), i / 5, NOW)
                .unwrap();
        }
        log.update_high_watermark(17);
        log.delete_records_before(6).unwrap();
        log.delete_old_segments(NOW).unwrap();
        mgr.shutdown().unwrap();
    }
    let hw_file =
        std::fs::read_to_string(dir.path().join("replication-offset-checkpoint")).unwrap();
    assert!(hw_file.contains("t 0 17"), "{hw_file}");
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.high_watermark(),
            log.log_end_offset()
        ),
        (6, 17, 20)
    );
    assert_eq!(log.leader_epoch_entries(), vec![(1, 6), (2, 10), (3, 15)]);
    assert_eq!(read_all(&log, 0).first().unwrap().0, 6);
    // unclean stop after more appends: the checkpoints written at open still apply
    log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 5, NOW)
        .unwrap();
    drop(log);
    drop(mgr);
    let mgr = manager(&[dir.path()], cfg);
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.log_end_offset(), 21);
    assert_eq!(log.latest_epoch(), Some(5));
    shut_down_and_verify(mgr, dir.path());
}

/// Appends write the epoch checkpoint without an fsync; a crash may leave the file as
/// it was at the last sync. The entries past the recovery point come back from the
/// batches, and those below it were synced before the recovery point moved.
#[test]
fn epochs_an_unsynced_checkpoint_lost_are_recovered_from_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    for i in 0..10 {
        log.append_as_leader(&batch(&[rec("k", "v", NOW)]), i / 5, NOW)
            .unwrap();
    }
    let synced_at = log.recovery_point();
    assert!(synced_at > 5, "a segment roll moved the recovery point");
    let file = dir.path().join("t-0").join("leader-epoch-checkpoint");
    let before_crash = std::fs::read_to_string(&file).unwrap();
    assert!(before_crash.contains("1 5"), "{before_crash}");
    // Epoch 2 starts past the recovery point; its entry reaches the file unsynced.
    log.append_as_leader(&batch(&[rec("k", "v", NOW)]), 2, NOW)
        .unwrap();
    assert!(log.recovery_point() <= 10);
    drop(log);
    drop(mgr);
    // The crash loses the unsynced write.
    std::fs::write(&file, &before_crash).unwrap();
    let mgr = manager(&[dir.path()], cfg);
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(log.log_end_offset(), 11);
    assert_eq!(log.leader_epoch_entries(), vec![(0, 0), (1, 5), (2, 10)]);
    shut_down_and_verify(mgr, dir.path());
}

/// Issue 19 item 1, the exact state: the follower became leader of epoch 1 and assigned
/// it at its log end without writing a record, then followed the leader of epoch 2,
/// which never saw epoch 1. Kafka's `truncateTo` at the log end still cuts the epoch
/// cache there; before, the stale entry stayed and every fetch diverged again.
#[test]
fn truncating_to_the_log_end_drops_an_epoch_with_no_record() {
    use tidewater_replication::{
        EpochEndOffset, FetchPartitionResponse, FollowerAction, FollowerInit, FollowerRequest,
        FollowerState,
    };
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], LogConfig::default());
    let leader = mgr.get_or_create_log(&tp(0), LogConfig::default()).unwrap();
    let follower = mgr.get_or_create_log(&tp(1), LogConfig::default()).unwrap();
    for _ in 0..4 {
        leader
            .append_as_leader(&batch(&[rec("k", "v", NOW)]), 0, NOW)
            .unwrap();
    }
    let fetched = leader.read(0, 1 << 20, i64::MAX, true).unwrap();
    follower.append_as_follower(&fetched.records).unwrap();
    follower.assign_leader_epoch(1).unwrap();
    leader.assign_leader_epoch(2).unwrap();
    assert_eq!(follower.leader_epoch_entries(), vec![(0, 0), (1, 4)]);
    assert_eq!(leader.leader_epoch_entries(), vec![(0, 0), (2, 4)]);

    let init = FollowerInit {
        local_id: 2,
        broker_epoch: 1,
        leader_id: 1,
        leader_epoch: 2,
        high_watermark: 4,
        truncation_on_fetch: true,
    };
    let mut state = FollowerState::new(init, &follower.leader_epoch_cache(), 4);
    let fetch_once = |state: &mut FollowerState| {
        let FollowerRequest::Fetch(f) =
            state.next_request(&follower.leader_epoch_cache(), 0, follower.log_end_offset())
        else {
            panic!("the follower should fetch");
        };
        // What the leader answers (Kafka's validateFetchOffsetAndMaybeGetDivergingEpoch).
        let diverging = f.last_fetched_epoch.and_then(|e| {
            let (epoch, end) = leader
                .end_offset_for_epoch(e)
                .expect("leader knows the epoch");
            (epoch < e || end < f.fetch_offset).then_some(EpochEndOffset {
                epoch,
                end_offset: end,
            })
        });
        let response = FetchPartitionResponse {
            request_fetch_offset: f.fetch_offset,
            request_leader_epoch: 2,
            error: None,
            high_watermark: 4,
            log_start_offset: 0,
            diverging_epoch: diverging,
        };
        state.on_fetch_response(
            &response,
            &follower.leader_epoch_cache(),
            follower.log_end_offset(),
        )
    };
    assert_eq!(
        fetch_once(&mut state),
        FollowerAction::Truncate { offset: 4 },
        "the leader reports epoch 0 ending at 4"
    );
    follower.truncate_to(4).unwrap();
    assert_eq!(follower.log_end_offset(), 4, "no data goes");
    assert_eq!(follower.leader_epoch_entries(), vec![(0, 0)]);
    assert!(
        matches!(fetch_once(&mut state), FollowerAction::Append { .. }),
        "after the truncation the follower's epochs agree with the leader's"
    );
    // Past the log end too, and the cut is checkpointed.
    follower.assign_leader_epoch(3).unwrap();
    follower.truncate_to(100).unwrap();
    assert_eq!(follower.leader_epoch_entries(), vec![(0, 0)]);
    drop((leader, follower));
    drop(mgr);
    let mgr = manager(&[dir.path()], LogConfig::default());
    let follower = mgr.get_log(&tp(1)).unwrap();
    assert_eq!(follower.leader_epoch_entries(), vec![(0, 0)]);
    assert_eq!(follower.log_end_offset(), 4);
    mgr.shutdown().unwrap();
}

/// OffsetForLeaderEpoch answers as Kafka's `LeaderEpochFileCache.endOffsetFor`: an epoch
/// above every known one has no answer; one below the first answers with the first start.
#[test]
fn end_offsets_for_epochs_outside_the_cache_follow_kafka() {
    let (_dir, mgr, log) = one_log(LogConfig::default());
    for epoch in [2, 2, 5] {
        log.append_as_leader(&batch(&[rec("k", "v", NOW)]), epoch, NOW)
            .unwrap();
    }
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 0)));
    assert_eq!(log.end_offset_for_epoch(3), Some((2, 2)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 3)));
    assert_eq!(log.end_offset_for_epoch(6), None);
    assert_eq!(log.end_offset_for_epoch(-1), None);
    mgr.shutdown().unwrap();
}

#[test]
fn interrupted_compaction_swaps_are_completed_and_leftovers_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let before;
    {
        let mgr = manager(&[dir.path()], cfg.clone());
        let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
        for i in 0..10 {
            log.append_as_leader(&batch(&[rec("k", &format!("v{i}"), NOW)]), 0, NOW)
                .unwrap();
        }
        before = read_all(&log, 0);
        mgr.shutdown().unwrap();
    }
    let pdir = dir.path().join("t-0");
    let seg = pdir.join("00000000000000000000.log");
    // the cleaned copy had been renamed .swap when the broker died; the original was
    // already being overwritten
    std::fs::copy(&seg, pdir.join("00000000000000000000.log.swap")).unwrap();
    std::fs::write(&seg, b"torn garbage").unwrap();
    std::fs::write(pdir.join("00000000000000000000.index.cleaned"), b"junk").unwrap();
    std::fs::write(pdir.join("00000000000000000099.log.deleted"), b"old").unwrap();
    let mgr = manager(&[dir.path()], cfg);
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(read_all(&log, 0), before);
    let names: Vec<String> = std::fs::read_dir(&pdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".swap") && !n.ends_with(".cleaned") && !n.ends_with(".deleted")),
        "{names:?}"
    );
    shut_down_and_verify(mgr, dir.path());
}

/// What a swap test starts from: ten one-record batches in 300-byte segments (at least
/// three), shut down cleanly. Returns the config, the records as read back, the
/// partition dir and its `.log` files in offset order.
#[allow(clippy::unwrap_used)] // a test helper: a failure here is a test failure
fn ten_records_in_small_segments(
    dir: &std::path::Path,
) -> (
    LogConfig,
    Vec<ReadRecord>,
    std::path::PathBuf,
    Vec<std::path::PathBuf>,
) {
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    for i in 0..10 {
        log.append_as_leader(&batch(&[rec("k", &format!("v{i}"), NOW)]), 0, NOW)
            .unwrap();
    }
    assert!(log.segment_count() >= 3);
    let before = read_all(&log, 0);
    mgr.shutdown().unwrap();
    let pdir = dir.join("t-0");
    let mut logs: Vec<_> = std::fs::read_dir(&pdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    (cfg, before, pdir, logs)
}

#[test]
fn a_completed_grouped_swap_drops_the_segments_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, before, pdir, logs) = ten_records_in_small_segments(dir.path());
    // the broker died after the cleaned group (segments 0 and 1 merged) became `.swap`
    let mut merged = std::fs::read(&logs[0]).unwrap();
    merged.extend(std::fs::read(&logs[1]).unwrap());
    std::fs::write(pdir.join("00000000000000000000.log.swap"), merged).unwrap();
    let mgr = manager(&[dir.path()], cfg);
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(read_all(&log, 0), before);
    assert!(!logs[1].exists(), "the covered segment is gone");
    shut_down_and_verify(mgr, dir.path());
}

#[test]
fn an_interrupted_swap_of_a_group_cleaned_to_nothing_keeps_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, before, pdir, logs) = ten_records_in_small_segments(dir.path());
    let third_base: i64 = logs[2]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The broker died mid-swap: the group of the first two segments had cleaned to
    // nothing (an empty `.swap`), both originals were already renamed `.deleted`.
    for p in &logs[..2] {
        let mut deleted = p.clone().into_os_string();
        deleted.push(".deleted");
        std::fs::rename(p, deleted).unwrap();
    }
    std::fs::write(pdir.join("00000000000000000000.log.swap"), b"").unwrap();
    let mgr = manager(&[dir.path()], cfg);
    let log = mgr.get_log(&tp(0)).unwrap();
    assert_eq!(log.log_start_offset(), 0, "the swap moved the log start");
    assert_eq!(log.segment_base_offsets()[0], 0);
    let rest: Vec<_> = before
        .iter()
        .filter(|r| r.0 >= third_base)
        .cloned()
        .collect();
    assert!(!rest.is_empty());
    // a read below the surviving data answers with the next surviving record
    assert_eq!(read_all(&log, 0)[0].0, rest[0].0);
    assert_eq!(read_all(&log, 0), rest);
    mgr.shutdown().unwrap();
}

/// A follower whose log end is below the leader's log start restarts empty there
/// (Kafka's `truncateFullyAndStartAt`), copies the leader on, and keeps that start
/// across a restart, even an unclean one.
#[test]
fn truncate_fully_restarts_the_log_at_the_leaders_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mgr = manager(&[dir.path()], cfg.clone());
    let leader = mgr.get_or_create_log(&tp(0), cfg.clone()).unwrap();
    let follower = mgr.get_or_create_log(&tp(1), cfg.clone()).unwrap();
    for i in 0..20 {
        leader
            .append_as_leader(&batch(&[rec("k", "v", NOW)]), 1 + i / 10, NOW)
            .unwrap();
    }
    for i in 0..5 {
        // One batch per append, so the follower rolls segments as it goes.
        let one = leader.read(i, 1, i + 1, true).unwrap();
        follower.append_as_follower(&one.records).unwrap();
    }
    follower.update_high_watermark(5);
    assert!(follower.segment_count() > 1);
    leader.update_high_watermark(20);
    let below = leader.read(12, 1, 13, true).unwrap();
    leader.delete_records_before(13).unwrap();
    leader.delete_old_segments(NOW).unwrap();

    follower.truncate_fully_and_start_at(13).unwrap();
    assert_eq!(
        (
            follower.log_start_offset(),
            follower.log_end_offset(),
            follower.high_watermark(),
            follower.recovery_point()
        ),
        (13, 13, 13, 13)
    );
    assert_eq!(follower.segment_base_offsets(), vec![13]);
    assert!(follower.leader_epoch_entries().is_empty());
    assert!(read_all(&follower, 13).is_empty());
    let err = follower.read(5, 1 << 20, i64::MAX, true).unwrap_err();
    assert_eq!(
        err.error_code(),
        1,
        "below the new log start: OFFSET_OUT_OF_RANGE"
    );
    assert!(follower.truncate_fully_and_start_at(-1).is_err());
    // A batch that starts below the new start is refused with the offsets the replica
    // needs to restart its log at that batch (Kafka's UnexpectedAppendOffsetException).
    match follower.append_as_follower(&below.records) {
        Err(tidewater_storage::AppendError::UnexpectedAppendOffset {
            first_offset: 12,
            last_offset: 12,
            log_end_offset: 13,
        }) => {}
        other => panic!("expected UnexpectedAppendOffset, got {other:?}"),
    }

    while follower.log_end_offset() < 20 {
        // A read stops at a segment's end: fetch on as a follower does.
        let next = leader
            .read(follower.log_end_offset(), 1 << 20, 20, true)
            .unwrap();
        follower.append_as_follower(&next.records).unwrap();
    }
    assert_eq!(follower.log_end_offset(), 20);
    assert_eq!(follower.leader_epoch_entries(), vec![(2, 13)]);
    assert_eq!(
        read_all(&follower, 13),
        read_all(&leader, 13),
        "same records from the new start"
    );
    drop((leader, follower));
    drop(mgr);
    let mgr = manager(&[dir.path()], cfg);
    let follower = mgr.get_log(&tp(1)).unwrap();
    assert_eq!(
        (follower.log_start_offset(), follower.log_end_offset()),
        (13, 20)
    );
    assert_eq!(follower.leader_epoch_entries(), vec![(2, 13)]);
    shut_down_and_verify(mgr, dir.path());
}
