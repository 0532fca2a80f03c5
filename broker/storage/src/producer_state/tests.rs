//! Producer state's unit tests: sequences, duplicates, epochs, open transactions,
//! coordinator epochs of markers, and snapshots.

use super::*;
use crate::batch::HEADER_SIZE;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
    let mut h = BatchHeader::parse(&[0u8; HEADER_SIZE]).unwrap();
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = seq;
    h.last_offset_delta = count - 1;
    h.records_count = count;
    h.base_offset = base_offset;
    h
}

#[test]
fn only_the_last_five_batches_are_duplicates() {
    let mut s = ProducerStateManager::default();
    for i in 0..7 {
        let h = header(1, 0, i * 2, 2, i64::from(i) * 2);
        assert_eq!(
            s.check_leader_append(&[h], true).unwrap(),
            SequenceCheck::Accept
        );
        s.update(&h);
    }
    // batches 2..=6 are retained; 0 and 1 are too old to recognise
    assert!(matches!(
        s.check_leader_append(&[header(1, 0, 4, 2, 0)], true)
            .unwrap(),
        SequenceCheck::Duplicate(BatchMetadata {
            first_offset: 4,
            last_offset: 5,
            ..
        })
    ));
    assert!(matches!(
        s.check_leader_append(&[header(1, 0, 0, 2, 0)], true),
        Err(AppendError::OutOfOrderSequence {
            expected: 14,
            found: 0,
            ..
        })
    ));
    // several batches of one request are checked against each other
    assert_eq!(
        s.check_leader_append(&[header(1, 0, 14, 1, 0), header(1, 0, 15, 1, 0)], true)
            .unwrap(),
        SequenceCheck::Accept
    );
    assert!(
        s.check_leader_append(&[header(1, 0, 14, 1, 0), header(1, 0, 16, 1, 0)], true)
            .is_err()
    );
    // expiry forgets producers idle for longer than the expiration
    let mut t = s.clone();
    t.update(&{
        let mut h = header(9, 0, 0, 1, 20);
        h.max_timestamp = 1_000;
        h
    });
    assert_eq!(
        t.remove_expired(
            1_000 + PRODUCER_ID_EXPIRATION_MS - 1,
            PRODUCER_ID_EXPIRATION_MS
        ),
        1
    );
    assert!(t.get(9).is_some() && t.get(1).is_none());
    // an unknown producer may start anywhere; sequences wrap at i32::MAX
    assert_eq!(
        s.check_leader_append(&[header(2, 3, 77, 1, 0)], true)
            .unwrap(),
        SequenceCheck::Accept
    );
    let wrap = header(3, 0, i32::MAX, 1, 0);
    s.update(&wrap);
    assert_eq!(
        s.check_leader_append(&[header(3, 0, 0, 1, 1)], true)
            .unwrap(),
        SequenceCheck::Accept
    );
}

#[test]
fn a_coordinators_batches_are_checked_for_the_epoch_only() {
    // TxnOffsetCommit batches all start at sequence 0, as Kafka writes them.
    let mut s = ProducerStateManager::default();
    let first = transactional(header(1, 2, 0, 1, 0));
    assert_eq!(
        s.check_leader_append(&[first], false).unwrap(),
        SequenceCheck::Accept
    );
    s.update(&first);
    // The same sequence again is no duplicate, and no sequence is out of order.
    let again = transactional(header(1, 2, 0, 1, 1));
    assert_eq!(
        s.check_leader_append(&[again], false).unwrap(),
        SequenceCheck::Accept
    );
    assert!(matches!(
        s.check_leader_append(&[again], true),
        Ok(SequenceCheck::Duplicate(_))
    ));
    assert!(matches!(
        s.check_leader_append(&[transactional(header(1, 2, 7, 1, 1))], false),
        Ok(SequenceCheck::Accept)
    ));
    // A fenced producer (older epoch) is refused whoever writes for it.
    assert!(matches!(
        s.check_leader_append(&[transactional(header(1, 1, 0, 1, 1))], false),
        Err(AppendError::InvalidProducerEpoch { .. })
    ));
}

fn transactional(mut h: BatchHeader) -> BatchHeader {
    h.attributes |= crate::batch::ATTR_TRANSACTIONAL;
    h
}

/// A COMMIT or ABORT marker of `pid` at `offset` (no sequence).
fn marker(pid: i64, epoch: i16, offset: i64) -> BatchHeader {
    let mut h = transactional(header(pid, epoch, -1, 1, offset));
    h.attributes |= crate::batch::ATTR_CONTROL;
    h
}

#[test]
fn transactions_hold_the_last_stable_offset_until_their_marker_is_replicated() {
    let mut s = ProducerStateManager::default();
    // A plain idempotent batch opens nothing.
    assert_eq!(s.update(&header(9, 0, 0, 2, 0)), None);
    assert_eq!(s.first_unstable_offset(2), None);
    // Producer 1's transaction starts at 10, producer 2's at 12.
    s.update(&transactional(header(1, 0, 0, 2, 10)));
    s.update(&transactional(header(1, 0, 2, 1, 11)));
    s.update(&transactional(header(2, 0, 0, 1, 12)));
    assert_eq!(s.get(1).unwrap().current_txn_first_offset, 10);
    assert_eq!(s.first_unstable_offset(13), Some(10));
    // Producer 1's marker at 13 ends its transaction, which holds the last stable
    // offset until the high watermark passes the marker.
    let done = s.update(&marker(1, 0, 13)).unwrap();
    assert_eq!(
        done,
        CompletedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 13
        }
    );
    let p1 = s.get(1).unwrap();
    assert_eq!((p1.current_txn_first_offset, p1.last_sequence), (-1, 2));
    assert_eq!(s.first_unstable_offset(13), Some(10));
    assert_eq!(s.first_unstable_offset(14), Some(12));
    // The next transaction of producer 1 goes on with its sequences.
    assert_eq!(
        s.check_leader_append(&[transactional(header(1, 0, 3, 1, 14))], true)
            .unwrap(),
        SequenceCheck::Accept
    );
    let done = s.update(&marker(2, 0, 15)).unwrap();
    assert_eq!((done.first_offset, done.last_offset), (12, 15));
    assert_eq!(s.first_unstable_offset(16), None);
    // A marker for a transaction with no records here ends at itself.
    let done = s.update(&marker(3, 0, 16)).unwrap();
    assert_eq!((done.first_offset, done.last_offset), (16, 16));
    assert_eq!(s.first_unstable_offset(16), Some(16));
    assert_eq!(s.first_unstable_offset(17), None);
}

#[test]
fn a_marker_with_a_bumped_epoch_starts_the_producers_sequences_over() {
    // Transaction version 2: the coordinator bumps the epoch on every end, and the
    // marker carries it; the producer's next transaction starts at sequence 0.
    let mut s = ProducerStateManager::default();
    s.update(&transactional(header(1, 4, 0, 3, 0)));
    let bumped = [marker(1, 5, 3)];
    assert_eq!(
        s.check_leader_append(&bumped, false).unwrap(),
        SequenceCheck::Accept
    );
    s.update(&bumped[0]);
    let p1 = s.get(1).unwrap();
    assert_eq!((p1.producer_epoch, p1.last_sequence), (5, -1));
    let next = transactional(header(1, 5, 0, 1, 4));
    assert_eq!(
        s.check_leader_append(&[next], true).unwrap(),
        SequenceCheck::Accept
    );
    // Its old sequences are gone with the old epoch, and so is the old epoch.
    assert!(matches!(
        s.check_leader_append(&[transactional(header(1, 5, 3, 1, 4))], true),
        Err(AppendError::OutOfOrderSequence { expected: 0, .. })
    ));
    assert!(matches!(
        s.check_leader_append(&[transactional(header(1, 4, 3, 1, 4))], true),
        Err(AppendError::InvalidProducerEpoch { current: 5, .. })
    ));
    // In one request: the marker's new epoch, then the first batch at sequence 0.
    let mut s = ProducerStateManager::default();
    s.update(&transactional(header(2, 0, 0, 2, 0)));
    assert_eq!(
        s.check_leader_append(
            &[marker(2, 1, 2), transactional(header(2, 1, 0, 1, 3))],
            true
        )
        .unwrap(),
        SequenceCheck::Accept
    );
}

#[test]
fn open_transactions_survive_snapshots_and_expiration() {
    let mut s = ProducerStateManager::default();
    s.update(&header(9, 0, 0, 1, 0));
    // Without a transaction the snapshot stays version 1 (0.2.0 reads it).
    assert_eq!(&s.encode()[4..6], &1u16.to_be_bytes());
    let mut open = header(1, 0, 0, 1, 5);
    open.attributes |= crate::batch::ATTR_TRANSACTIONAL;
    open.max_timestamp = 1;
    s.update(&open);
    let encoded = s.encode();
    assert_eq!(&encoded[4..6], &2u16.to_be_bytes());
    let mut back = ProducerStateManager::decode(&encoded).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.first_unstable_offset(6), Some(5));
    // Idle for longer than the expiration: only the producer with an open
    // transaction stays.
    assert_eq!(
        back.remove_expired(i64::MAX / 2, PRODUCER_ID_EXPIRATION_MS),
        1
    );
    assert!(back.get(1).is_some() && back.get(9).is_none());
}

#[test]
fn snapshots_round_trip_and_reject_corruption() {
    let seed = 0x5eed_u64;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = prop::collection::vec((0i64..5, 0i16..3, 0i32..1000, 1i32..10), 0..40);
    let result = runner.run(&strategy, |batches| {
        let mut s = ProducerStateManager::default();
        let mut offset = 0;
        for (pid, epoch, seq, count) in batches {
            s.update(&header(pid, epoch, seq, count, offset));
            offset += i64::from(count);
        }
        let encoded = s.encode();
        prop_assert_eq!(&ProducerStateManager::decode(&encoded).unwrap(), &s);
        for cut in [0, encoded.len() / 2, encoded.len() - 1] {
            prop_assert!(ProducerStateManager::decode(&encoded[..cut]).is_err());
        }
        let mut flipped = encoded.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x10;
        prop_assert!(ProducerStateManager::decode(&flipped).is_err());
        Ok(())
    });
    if let Err(e) = result {
        panic!("seed {seed:#x}: {e}");
    }
}

fn commit(coordinator_epoch: i32) -> EndTransactionMarker {
    EndTransactionMarker {
        commit: true,
        coordinator_epoch,
    }
}

#[test]
fn a_marker_from_an_older_coordinator_epoch_is_fenced_and_the_epoch_survives_snapshots() {
    let mut s = ProducerStateManager::default();
    // No marker yet: any coordinator epoch is accepted.
    assert!(s.check_coordinator_epochs(&[(1, commit(0))]).is_ok());
    s.update(&transactional(header(1, 0, 0, 1, 0)));
    s.update_with_marker(&marker(1, 0, 1), Some(commit(5)));
    assert_eq!(s.get(1).unwrap().coordinator_epoch, 5);
    // Older: a zombie coordinator. Equal (a retry) and newer are accepted.
    assert!(matches!(
        s.check_coordinator_epochs(&[(1, commit(4))]),
        Err(AppendError::TransactionCoordinatorFenced {
            producer_id: 1,
            current: 5,
            found: 4
        })
    ));
    assert_eq!(
        s.check_coordinator_epochs(&[(1, commit(4))])
            .unwrap_err()
            .error_code(),
        52
    );
    assert!(s.check_coordinator_epochs(&[(1, commit(5))]).is_ok());
    assert!(s.check_coordinator_epochs(&[(1, commit(6))]).is_ok());
    // Another producer's epoch is its own; several markers of one append are checked
    // against the earlier ones.
    assert!(s.check_coordinator_epochs(&[(2, commit(0))]).is_ok());
    assert!(
        s.check_coordinator_epochs(&[(1, commit(7)), (1, commit(6))])
            .is_err()
    );
    // A marker without a known coordinator epoch (header-only replay) keeps the last.
    s.update(&marker(1, 0, 2));
    assert_eq!(s.get(1).unwrap().coordinator_epoch, 5);
    // The epoch is in the snapshot (version 2), so a restart still fences the zombie.
    let encoded = s.encode();
    assert_eq!(&encoded[4..6], &2u16.to_be_bytes());
    let back = ProducerStateManager::decode(&encoded).unwrap();
    assert_eq!(back.get(1), s.get(1));
    assert_eq!(back.get(1).unwrap().coordinator_epoch, 5);
    assert!(back.check_coordinator_epochs(&[(1, commit(4))]).is_err());
    assert!(back.check_coordinator_epochs(&[(1, commit(5))]).is_ok());
}

#[test]
fn a_transaction_opens_here_only_with_a_current_verification_guard() {
    let mut s = ProducerStateManager::default();
    let first = [transactional(header(1, 0, 0, 1, 0))];
    let required = |g| TxnVerification::Required(g);
    let refused = |r: Result<(), AppendError>| {
        matches!(r, Err(AppendError::InvalidTxnState { producer_id: 1 }))
    };
    // Unverified, a first transactional batch is refused (unless verification is off);
    // plain idempotent batches are never checked.
    assert!(refused(s.check_verification(&first, required(None))));
    assert!(
        s.check_verification(&first, TxnVerification::NotRequired)
            .is_ok()
    );
    assert!(
        s.check_verification(&[header(1, 0, 0, 1, 0)], required(None))
            .is_ok()
    );
    // The guard of a verification in flight lets it in; a retry gets the same guard,
    // a stranger's guard does not count.
    let guard = s.start_verification(1, 0);
    assert!(guard.is_some());
    assert_eq!(s.start_verification(1, 0), guard);
    let other = s.start_verification(2, 0);
    assert!(refused(s.check_verification(&first, required(other))));
    assert!(s.check_verification(&first, required(guard)).is_ok());
    // Once the transaction is open here, nothing more is asked or checked.
    s.update(&first[0]);
    assert_eq!(s.start_verification(1, 0), None);
    let next = [transactional(header(1, 0, 1, 1, 1))];
    assert!(s.check_verification(&next, required(None)).is_ok());
    // A verification that started before the marker is stale after it: the late
    // batch of the ended transaction would hang.
    s.update(&marker(1, 0, 2));
    let stale = s.start_verification(1, 0);
    assert!(stale.is_some());
    s.update(&marker(1, 0, 3));
    let late = [transactional(header(1, 0, 2, 1, 4))];
    assert!(refused(s.check_verification(&late, required(stale))));
    assert!(refused(s.check_verification(&late, required(None))));
    // A bumped epoch is no open transaction of the old one.
    s.update(&transactional(header(1, 0, 2, 1, 4)));
    assert!(s.start_verification(1, 1).is_some());
}
