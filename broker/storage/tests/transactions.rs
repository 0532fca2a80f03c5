//! Transactions in the log: a transactional batch holds the last stable offset at its
//! first offset until its marker (a control batch) is appended and replicated, across
//! a restart too (the open transaction is in the producer snapshot or replayed).

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use common::{one_log, read_all};
use tidewater_storage::LogConfig;
use tidewater_storage::txn_index::AbortedTxn;

/// One batch of `count` records of producer `pid` at `offset` (its place in the log,
/// as a follower appends it). A control batch holds one COMMIT marker.
fn batch(pid: i64, offset: i64, seq: i32, count: usize, control: bool) -> Vec<u8> {
    common::txn_batch(pid, offset, seq, count, control.then_some(true))
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_marker_is_replicated() {
    let (dir, mgr, log) = one_log(LogConfig::default());
    // Producer 7's transaction: records 0..=1; producer 8's: record 2.
    log.append_as_follower(&batch(7, 0, 0, 2, false)).unwrap();
    log.append_as_follower(&batch(8, 2, 0, 1, false)).unwrap();
    log.update_high_watermark(3);
    assert_eq!(log.last_stable_offset(), 0);
    // Producer 7 commits (marker at 3): its transaction still holds the LSO until the
    // high watermark passes the marker.
    log.append_as_follower(&batch(7, 3, 0, 1, true)).unwrap();
    log.update_high_watermark(4);
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(log.producer_state(7).unwrap().current_txn_first_offset, -1);
    assert_eq!(log.producer_state(8).unwrap().current_txn_first_offset, 2);
    assert_eq!(read_all(&log, 0).len(), 4);

    // Restarted, producer 8's transaction is still open: read from the producer
    // snapshot the clean shutdown wrote, then (snapshot removed) replayed from the log.
    common::check_after_restarts(dir.path(), mgr, log, |log, replay| {
        log.update_high_watermark(4);
        assert_eq!(log.last_stable_offset(), 2, "replayed: {replay}");
    });
    let (mgr, log) = common::reopen(dir.path());
    log.append_as_follower(&batch(8, 4, 0, 1, true)).unwrap();
    log.update_high_watermark(5);
    assert_eq!(log.last_stable_offset(), 5);
    common::shut_down_and_verify(mgr, dir.path());
}

#[test]
fn an_abort_marker_is_indexed_for_read_committed_fetches_across_restart_and_truncation() {
    let (dir, mgr, log) = one_log(LogConfig::default());
    // Producer 7: records 0..=1, aborted at 3; producer 8: record 2, committed at 4.
    log.append_as_follower(&batch(7, 0, 0, 2, false)).unwrap();
    log.append_as_follower(&batch(8, 2, 0, 1, false)).unwrap();
    log.append_as_follower(&common::txn_batch(7, 3, 0, 1, Some(false)))
        .unwrap();
    log.append_as_follower(&batch(8, 4, 0, 1, true)).unwrap();
    let aborted = AbortedTxn {
        producer_id: 7,
        first_offset: 0,
        last_offset: 3,
        last_stable_offset: 0,
    };
    assert_eq!(log.aborted_transactions(0, 5), [aborted]);
    assert_eq!(log.aborted_transactions(3, 5), [aborted]);
    assert!(
        log.aborted_transactions(4, 5).is_empty(),
        "marker below the fetch"
    );
    assert!(log.aborted_transactions(0, 0).is_empty(), "nothing read");
    let index = log.dir().join("00000000000000000000.txnindex");
    assert_eq!(std::fs::metadata(&index).unwrap().len(), 34);

    // Reloaded from the .txnindex file.
    drop(log);
    mgr.shutdown().unwrap();
    let (mgr, log) = common::reopen(dir.path());
    assert_eq!(log.aborted_transactions(0, 5), [aborted]);
    // The marker goes with a truncated tail, from memory and from the file.
    log.truncate_to(3).unwrap();
    assert!(log.aborted_transactions(0, 5).is_empty());
    assert_eq!(std::fs::metadata(&index).unwrap().len(), 0);
    common::shut_down_and_verify(mgr, dir.path());
}
