//! The coordinator's state machine: every transition Kafka forbids is refused and
//! changes nothing; every request's error code is Kafka's; the flows (commit, abort,
//! fencing a zombie, timeout, a failed write, epoch exhaustion) end where Kafka's do.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError as E;

use crate::coordinator::{InitProducerId, TxnConfig, TxnCoordinator};
use crate::metadata::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Transit, TxnError, TxnMetadata};
use crate::state::TxnState;

const ID: &str = "app-1";

/// A coordinator of every transactional id (one `__transaction_state` partition).
fn coordinator() -> TxnCoordinator {
    let mut c = TxnCoordinator::new(TxnConfig {
        partitions: 1,
        ..TxnConfig::default()
    });
    c.elected(0, 7);
    assert!(c.loaded(0).is_empty());
    c
}

/// Producer ids 1000, 1001, ...
fn pids() -> impl FnMut() -> Result<i64, E> {
    let mut next = 1000;
    move || {
        next += 1;
        Ok(next - 1)
    }
}

fn kafka(e: E) -> TxnError {
    TxnError::Kafka(e)
}

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

/// InitProducerId that writes; the write succeeds. Returns (producer id, epoch).
fn init(c: &mut TxnCoordinator, next: &mut dyn FnMut() -> Result<i64, E>, now: i64) -> (i64, i16) {
    match c
        .init_producer_id(Some(ID), 60_000, None, now, next)
        .unwrap()
    {
        InitProducerId::Write(t) => {
            c.complete(ID, &t).unwrap();
            (t.producer_id, t.producer_epoch)
        }
        other => panic!("expected a write, got {other:?}"),
    }
}

/// Runs a prepared transit to durability.
fn write(c: &mut TxnCoordinator, t: Option<Transit>) {
    c.complete(ID, &t.expect("a record to write")).unwrap();
}

fn meta(c: &TxnCoordinator) -> TxnMetadata {
    c.describe(ID).unwrap().clone()
}

/// Runs an ended transaction's markers and its Complete* record.
fn finish_markers(c: &mut TxnCoordinator, now: i64) {
    assert!(c.markers(ID).is_some());
    let t = c.markers_written(ID, now).unwrap();
    c.complete(ID, &t).unwrap();
    assert_eq!(c.markers(ID), None);
}

#[test]
fn a_committed_transaction_goes_empty_ongoing_prepare_commit_complete_commit() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 1);
    assert_eq!((pid, epoch), (1000, 0));
    assert_eq!(meta(&c).state, TxnState::Empty);

    let t = c_add(&mut c, pid, epoch, &[tp("out", 0), tp("out", 1)], 5);
    write(&mut c, t);
    let m = meta(&c);
    assert_eq!(
        (m.state, m.start_ms, m.partitions.len()),
        (TxnState::Ongoing, 5, 2)
    );
    // Adding a partition already in the transaction writes nothing.
    assert_eq!(c_add(&mut c, pid, epoch, &[tp("out", 1)], 6), None);
    // A new one keeps the start time.
    let t = c_add(&mut c, pid, epoch, &[tp("offsets", 3)], 7);
    write(&mut c, t);
    assert_eq!(meta(&c).start_ms, 5);

    let t = c.end_txn(ID, pid, epoch, true, true, 8).unwrap();
    write(&mut c, t);
    assert_eq!(meta(&c).state, TxnState::PrepareCommit);
    let markers = c.markers(ID).unwrap();
    assert!(markers.commit);
    assert_eq!((markers.producer_id, markers.producer_epoch), (pid, epoch));
    assert_eq!(markers.partitions.len(), 3);
    finish_markers(&mut c, 9);
    let m = meta(&c);
    assert_eq!(m.state, TxnState::CompleteCommit);
    assert!(m.partitions.is_empty());
    // A retried commit is answered OK and writes nothing; an abort now is refused.
    assert_eq!(c.end_txn(ID, pid, epoch, true, true, 10), Ok(None));
    assert_eq!(
        c.end_txn(ID, pid, epoch, false, true, 10),
        Err(kafka(E::InvalidTxnState))
    );
    // The next transaction starts from CompleteCommit.
    let t = c_add(&mut c, pid, epoch, &[tp("out", 0)], 11);
    write(&mut c, t);
    assert_eq!(meta(&c).start_ms, 11);
}

fn c_add(
    c: &mut TxnCoordinator,
    pid: i64,
    epoch: i16,
    partitions: &[(String, i32)],
    now: i64,
) -> Option<Transit> {
    c.add_partitions(ID, pid, epoch, partitions.to_vec(), now)
        .unwrap()
}

#[test]
fn a_new_producer_fences_the_zombie_and_aborts_its_open_transaction() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, zombie) = init(&mut c, &mut next, 1);
    let t = c_add(&mut c, pid, zombie, &[tp("out", 0)], 2);
    write(&mut c, t);

    // The new instance's InitProducerId aborts the open transaction at a bumped epoch
    // and asks the client to retry.
    let abort = match c
        .init_producer_id(Some(ID), 60_000, None, 3, &mut next)
        .unwrap()
    {
        InitProducerId::AbortFirst(t) => t,
        other => panic!("expected the zombie's transaction aborted first, got {other:?}"),
    };
    assert_eq!(
        (abort.state, abort.producer_epoch),
        (TxnState::PrepareAbort, zombie + 1)
    );
    // While that write is in flight, everything waits.
    assert_eq!(
        c.init_producer_id(Some(ID), 60_000, None, 3, &mut next),
        Err(kafka(E::ConcurrentTransactions))
    );
    c.complete(ID, &abort).unwrap();
    let markers = c.markers(ID).unwrap();
    assert!(!markers.commit);
    assert_eq!(markers.producer_epoch, zombie + 1);
    // Until the markers are out, the retry is told to wait again.
    assert_eq!(
        c.init_producer_id(Some(ID), 60_000, None, 4, &mut next),
        Err(kafka(E::ConcurrentTransactions))
    );
    finish_markers(&mut c, 5);
    assert_eq!(meta(&c).state, TxnState::CompleteAbort);

    let (pid2, epoch2) = init(&mut c, &mut next, 6);
    assert_eq!((pid2, epoch2), (pid, zombie + 2));

    // The zombie can neither commit nor add partitions, and changes nothing trying.
    let before = meta(&c);
    assert_eq!(
        c.end_txn(ID, pid, zombie, true, true, 7),
        Err(kafka(E::ProducerFenced))
    );
    assert_eq!(
        c.add_partitions(ID, pid, zombie, vec![tp("out", 0)], 7),
        Err(kafka(E::ProducerFenced))
    );
    assert_eq!(meta(&c), before);
}

#[test]
fn requests_out_of_order_get_kafkas_error_and_change_nothing() {
    let mut c = coordinator();
    let mut next = pids();
    // Before InitProducerId the id is unknown.
    assert_eq!(
        c.add_partitions(ID, 1000, 0, vec![tp("t", 0)], 1),
        Err(kafka(E::InvalidProducerIdMapping))
    );
    assert_eq!(
        c.end_txn(ID, 1000, 0, true, true, 1),
        Err(kafka(E::InvalidProducerIdMapping))
    );
    assert_eq!(
        c.describe(ID).map(|_| ()),
        Err(kafka(E::TransactionalIdNotFound))
    );

    let (pid, epoch) = init(&mut c, &mut next, 1);
    let before = meta(&c);
    let refused = [
        // EndTxn with no transaction open.
        (c.end_txn(ID, pid, epoch, true, true, 2), E::InvalidTxnState),
        (
            c.end_txn(ID, pid, epoch, false, true, 2),
            E::InvalidTxnState,
        ),
        // Another producer id, an older or a newer epoch.
        (
            c.end_txn(ID, pid + 1, epoch, true, true, 2),
            E::InvalidProducerIdMapping,
        ),
        (
            c.end_txn(ID, pid, epoch + 1, true, true, 2),
            E::ProducerFenced,
        ),
        (
            c.add_partitions(ID, pid + 1, epoch, vec![tp("t", 0)], 2),
            E::InvalidProducerIdMapping,
        ),
        (
            c.add_partitions(ID, pid, epoch + 1, vec![tp("t", 0)], 2),
            E::ProducerFenced,
        ),
        // An empty transactional id.
        (
            c.add_partitions("", pid, epoch, vec![tp("t", 0)], 2),
            E::InvalidRequest,
        ),
        (c.end_txn("", pid, epoch, true, true, 2), E::InvalidRequest),
    ];
    for (i, (got, want)) in refused.into_iter().enumerate() {
        assert_eq!(got, Err(kafka(want)), "case {i}");
    }
    assert_eq!(meta(&c), before);

    // During an unfinished write, every other request waits.
    let add = c_add(&mut c, pid, epoch, &[tp("t", 0)], 3).unwrap();
    let before = meta(&c);
    assert_eq!(
        c.add_partitions(ID, pid, epoch, vec![tp("t", 1)], 3),
        Err(kafka(E::ConcurrentTransactions))
    );
    assert_eq!(
        c.end_txn(ID, pid, epoch, true, true, 3),
        Err(kafka(E::ConcurrentTransactions))
    );
    assert_eq!(meta(&c), before);
    c.complete(ID, &add).unwrap();

    // While the commit's markers go out: a second commit waits, an abort is refused,
    // and so is adding a partition.
    let t = c.end_txn(ID, pid, epoch, true, true, 4).unwrap();
    write(&mut c, t);
    let before = meta(&c);
    assert_eq!(
        c.end_txn(ID, pid, epoch, true, true, 5),
        Err(kafka(E::ConcurrentTransactions))
    );
    assert_eq!(
        c.end_txn(ID, pid, epoch, false, true, 5),
        Err(kafka(E::InvalidTxnState))
    );
    assert_eq!(
        c.add_partitions(ID, pid, epoch, vec![tp("t", 2)], 5),
        Err(kafka(E::ConcurrentTransactions))
    );
    assert_eq!(meta(&c), before);
}

#[test]
fn init_producer_id_validates_the_id_the_timeout_and_ownership() {
    let mut c = coordinator();
    let mut next = pids();
    assert_eq!(
        c.init_producer_id(None, 0, None, 1, &mut next),
        Ok(InitProducerId::Idempotent { producer_id: 1000 })
    );
    let refused = [
        (
            c.init_producer_id(Some(""), 60_000, None, 1, &mut next),
            E::InvalidRequest,
        ),
        (
            c.init_producer_id(Some(ID), 0, None, 1, &mut next),
            E::InvalidTransactionTimeout,
        ),
        (
            c.init_producer_id(Some(ID), 900_001, None, 1, &mut next),
            E::InvalidTransactionTimeout,
        ),
    ];
    for (got, want) in refused {
        assert_eq!(got, Err(kafka(want)));
    }
    let mut other = TxnCoordinator::new(TxnConfig {
        partitions: 1,
        ..TxnConfig::default()
    });
    assert_eq!(
        other.init_producer_id(Some(ID), 60_000, None, 1, &mut next),
        Err(kafka(E::NotCoordinator))
    );
    other.elected(0, 1);
    assert_eq!(
        other.init_producer_id(Some(ID), 60_000, None, 1, &mut next),
        Err(kafka(E::CoordinatorLoadInProgress))
    );
    assert_eq!(
        other.end_txn(ID, 1, 0, true, true, 1),
        Err(kafka(E::CoordinatorLoadInProgress))
    );
}

#[test]
fn a_recovering_producer_keeps_its_id_a_lost_answer_is_retried_a_stale_one_is_fenced() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, e0) = init(&mut c, &mut next, 1);
    // KIP-360: naming its current (pid, epoch) bumps the epoch and remembers the old.
    let t = match c
        .init_producer_id(Some(ID), 60_000, Some((pid, e0)), 2, &mut next)
        .unwrap()
    {
        InitProducerId::Write(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!((t.producer_epoch, t.last_producer_epoch), (e0 + 1, e0));
    c.complete(ID, &t).unwrap();
    // The same request again (its answer was lost) gets the same epoch back.
    let t = match c
        .init_producer_id(Some(ID), 60_000, Some((pid, e0)), 3, &mut next)
        .unwrap()
    {
        InitProducerId::Write(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.producer_epoch, e0 + 1);
    c.complete(ID, &t).unwrap();
    // Another producer id, or an epoch neither current nor last, is fenced.
    let before = meta(&c);
    assert_eq!(
        c.init_producer_id(Some(ID), 60_000, Some((pid + 7, 0)), 4, &mut next),
        Err(kafka(E::ProducerFenced))
    );
    assert_eq!(
        c.init_producer_id(Some(ID), 60_000, Some((pid, e0 + 5)), 4, &mut next),
        Err(kafka(E::ProducerFenced))
    );
    assert_eq!(meta(&c), before);
}

#[test]
fn an_exhausted_epoch_rotates_to_a_new_producer_id() {
    let mut c = coordinator();
    let mut next = pids();
    c.replay(
        ID,
        Some(Transit {
            producer_id: 5,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: i16::MAX - 1,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: 60_000,
            state: TxnState::CompleteCommit,
            partitions: BTreeSet::new(),
            start_ms: 1,
            last_update_ms: 1,
            next_producer_id: NO_PRODUCER_ID,
            client_transaction_version: 0,
        }),
    );
    let (pid, epoch) = init(&mut c, &mut next, 2);
    assert_eq!((pid, epoch), (1000, 0));
    assert_eq!(meta(&c).last_producer_id, 5);
}

#[test]
fn a_timed_out_transaction_is_aborted_at_a_bumped_epoch() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 0);
    let t = c_add(&mut c, pid, epoch, &[tp("out", 0)], 1_000);
    write(&mut c, t);
    assert!(c.timed_out(61_000).is_empty());
    assert_eq!(c.timed_out(61_001), vec![(ID.to_string(), pid)]);
    let abort = c.abort_timed_out(ID, pid, 61_001).unwrap().unwrap();
    assert_eq!(
        (abort.state, abort.producer_epoch),
        (TxnState::PrepareAbort, epoch + 1)
    );
    // Not listed again while the abort is pending.
    assert!(c.timed_out(61_002).is_empty());
    c.complete(ID, &abort).unwrap();
    finish_markers(&mut c, 61_003);
    assert_eq!(meta(&c).state, TxnState::CompleteAbort);
    // The producer that timed out is fenced.
    assert_eq!(
        c.end_txn(ID, pid, epoch, true, true, 61_004),
        Err(kafka(E::ProducerFenced))
    );
    // A stale timeout for another producer id does nothing.
    assert_eq!(c.abort_timed_out(ID, pid + 1, 61_005), Ok(None));
}

#[test]
fn a_failed_write_changes_nothing_and_a_failed_fence_is_not_bumped_twice() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 0);
    let add = c_add(&mut c, pid, epoch, &[tp("out", 0)], 1).unwrap();
    c.abandon(ID, &add);
    assert_eq!(meta(&c).state, TxnState::Empty);
    assert_eq!(meta(&c).pending(), None);
    let t = c_add(&mut c, pid, epoch, &[tp("out", 0)], 2);
    write(&mut c, t);

    // A fence whose abort could not be written keeps its epoch; the next fence uses it.
    let first = match c
        .init_producer_id(Some(ID), 60_000, None, 3, &mut next)
        .unwrap()
    {
        InitProducerId::AbortFirst(t) => t,
        other => panic!("{other:?}"),
    };
    c.abandon(ID, &first);
    let second = match c
        .init_producer_id(Some(ID), 60_000, None, 4, &mut next)
        .unwrap()
    {
        InitProducerId::AbortFirst(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.producer_epoch, epoch + 1);
    assert_eq!(second.producer_epoch, first.producer_epoch);
    c.complete(ID, &second).unwrap();
    finish_markers(&mut c, 5);
    let (_, bumped) = init(&mut c, &mut next, 6);
    assert_eq!(bumped, epoch + 2);
}

#[test]
fn idle_ids_expire_with_a_tombstone_and_open_ones_do_not() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 0);
    let expiration = TxnConfig::default().id_expiration_ms;
    assert!(c.expire(expiration - 1).is_empty());
    let t = c_add(&mut c, pid, epoch, &[tp("out", 0)], 1);
    write(&mut c, t);
    assert!(
        c.expire(expiration * 2).is_empty(),
        "an open transaction never expires"
    );
    let t = c.end_txn(ID, pid, epoch, false, true, 2).unwrap();
    write(&mut c, t);
    finish_markers(&mut c, 3);
    let expired = c.expire(3 + expiration);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].1.state, TxnState::Dead);
    c.complete(ID, &expired[0].1).unwrap();
    assert_eq!(
        c.describe(ID).map(|_| ()),
        Err(kafka(E::TransactionalIdNotFound))
    );
}

#[test]
fn a_new_coordinator_replays_the_log_and_resends_markers_of_ending_transactions() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 0);
    let t = c_add(&mut c, pid, epoch, &[tp("out", 0)], 1);
    write(&mut c, t);
    let commit = c.end_txn(ID, pid, epoch, true, true, 2).unwrap().unwrap();
    c.complete(ID, &commit).unwrap();

    let mut next_coordinator = TxnCoordinator::new(TxnConfig {
        partitions: 1,
        ..TxnConfig::default()
    });
    next_coordinator.elected(0, 8);
    next_coordinator.replay("gone", Some(commit.clone()));
    next_coordinator.replay("gone", None);
    next_coordinator.replay(ID, Some(commit));
    let resend = next_coordinator.loaded(0);
    assert_eq!(resend.len(), 1);
    assert_eq!(resend[0].0, ID);
    assert!(resend[0].1.commit);
    assert_eq!(next_coordinator.coordinator_epoch(ID), Some(8));
    assert_eq!(next_coordinator.list(&[], &[]).len(), 1);

    next_coordinator.resigned(0);
    assert_eq!(next_coordinator.coordinator_epoch(ID), None);
    assert_eq!(
        next_coordinator.describe(ID).map(|_| ()),
        Err(kafka(E::NotCoordinator))
    );
}

#[test]
fn list_filters_by_producer_id_and_state_name() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, _) = init(&mut c, &mut next, 0);
    assert_eq!(c.list(&[pid], &[]).len(), 1);
    assert_eq!(c.list(&[pid + 1], &[]).len(), 0);
    assert_eq!(c.list(&[], &["Empty"]).len(), 1);
    assert_eq!(c.list(&[], &["Ongoing", "NoSuchState"]).len(), 0);
}

/// A transactional id in `state`, producer 9 at epoch 3, with one partition when a
/// transaction is open.
fn in_state(state: TxnState) -> TxnMetadata {
    let open = state.has_pending_transaction() || state == TxnState::PrepareEpochFence;
    TxnMetadata::loaded(
        ID,
        Transit {
            producer_id: 9,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: 3,
            last_producer_epoch: 2,
            timeout_ms: 60_000,
            state,
            partitions: if open {
                BTreeSet::from([tp("t", 0)])
            } else {
                BTreeSet::new()
            },
            start_ms: if open { 1 } else { -1 },
            last_update_ms: 1,
            next_producer_id: NO_PRODUCER_ID,
            client_transaction_version: 0,
        },
    )
}

/// The `prepare_*` that moves a transactional id to `to`.
fn prepare_to(m: &mut TxnMetadata, to: TxnState) -> Result<Transit, TxnError> {
    match to {
        TxnState::Empty => m.prepare_increment_epoch(60_000, None, 2),
        TxnState::Ongoing => m.prepare_add_partitions([tp("t", 1)], 2),
        TxnState::PrepareCommit => m.prepare_end(true, 2),
        TxnState::PrepareAbort => m.prepare_end(false, 2),
        TxnState::CompleteCommit | TxnState::CompleteAbort => m.prepare_complete(2),
        TxnState::Dead => m.prepare_dead(),
        TxnState::PrepareEpochFence => m.prepare_fence_epoch(),
    }
}

#[test]
fn every_transition_kafka_forbids_is_refused_and_changes_nothing() {
    let mut allowed = 0;
    for from in TxnState::ALL {
        for to in TxnState::ALL {
            let mut m = in_state(from);
            let before = m.clone();
            let result = prepare_to(&mut m, to);
            // prepare_complete picks Complete* from the Prepare* state itself.
            let target = match (to, from) {
                (TxnState::CompleteCommit | TxnState::CompleteAbort, TxnState::PrepareCommit) => {
                    TxnState::CompleteCommit
                }
                (TxnState::CompleteCommit | TxnState::CompleteAbort, TxnState::PrepareAbort) => {
                    TxnState::CompleteAbort
                }
                _ => to,
            };
            if target.valid_previous().contains(&from) {
                let t = result.unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                assert_eq!(t.state, target);
                assert_eq!(m.pending(), Some(target), "{from} -> {to}");
                // A second move cannot start while this one is pending.
                assert!(matches!(prepare_to(&mut m, to), Err(TxnError::Illegal(_))));
                allowed += 1;
            } else {
                assert!(
                    matches!(result, Err(TxnError::Illegal(_))),
                    "{from} -> {to} must be refused, got {result:?}"
                );
                assert_eq!(m, before, "{from} -> {to} changed the metadata");
            }
        }
    }
    // The 16 pairs of Kafka's table, plus the two Complete* targets that
    // prepare_complete maps to the other one from a Prepare* state.
    let table: usize = TxnState::ALL.iter().map(|s| s.valid_previous().len()).sum();
    assert_eq!((table, allowed), (16, 18));
}

#[test]
fn a_transit_is_applied_only_as_the_pending_move_of_the_same_producer() {
    let mut m = in_state(TxnState::Ongoing);
    let mut t = m.prepare_end(true, 2).unwrap();
    // Another epoch, other partitions or another state are not this move.
    for bad in [
        Transit {
            producer_epoch: 4,
            ..t.clone()
        },
        Transit {
            partitions: BTreeSet::new(),
            ..t.clone()
        },
        Transit {
            state: TxnState::PrepareAbort,
            ..t.clone()
        },
    ] {
        let before = m.clone();
        assert!(matches!(m.complete(&bad), Err(TxnError::Illegal(_))));
        assert_eq!(m, before);
    }
    t.last_update_ms = 3;
    m.complete(&t).unwrap();
    assert_eq!(
        (m.state, m.pending(), m.last_update_ms),
        (TxnState::PrepareCommit, None, 3)
    );
    // With nothing pending, nothing completes.
    assert!(matches!(m.complete(&t), Err(TxnError::Illegal(_))));
}

#[test]
fn verification_answers_which_partitions_are_in_the_ongoing_transaction() {
    let mut c = coordinator();
    let mut next = pids();
    let (pid, epoch) = init(&mut c, &mut next, 1);
    let verify = |c: &TxnCoordinator, pid: i64, epoch: i16| {
        c.verify_partitions(ID, pid, epoch, vec![tp("t", 0), tp("t", 1)])
    };
    let answer = |a: Option<E>, b: Option<E>| Ok([(tp("t", 0), a), (tp("t", 1), b)].into());
    // Before anything is added, no partition is in a transaction.
    let abortable = Some(E::TransactionAbortable);
    assert_eq!(verify(&c, pid, epoch), answer(abortable, abortable));
    let t = c_add(&mut c, pid, epoch, &[tp("t", 0)], 2);
    write(&mut c, t);
    assert_eq!(verify(&c, pid, epoch), answer(None, abortable));
    // The wrong producer, an old epoch, an unknown id, not coordinated here.
    assert_eq!(
        verify(&c, pid + 1, epoch),
        Err(kafka(E::InvalidProducerIdMapping))
    );
    assert_eq!(verify(&c, pid, epoch + 1), Err(kafka(E::ProducerFenced)));
    assert_eq!(
        c.verify_partitions("other", pid, epoch, vec![tp("t", 0)]),
        Err(kafka(E::InvalidProducerIdMapping))
    );
    assert_eq!(
        c.verify_partitions("", pid, epoch, vec![tp("t", 0)]),
        Err(kafka(E::InvalidRequest))
    );
    // Ending: retriable; ended: a late batch for the old transaction is refused.
    let t = c.end_txn(ID, pid, epoch, false, true, 3).unwrap();
    write(&mut c, t);
    assert_eq!(
        verify(&c, pid, epoch),
        Err(kafka(E::ConcurrentTransactions))
    );
    finish_markers(&mut c, 4);
    assert_eq!(verify(&c, pid, epoch), answer(abortable, abortable));
    assert_eq!(meta(&c).state, TxnState::CompleteAbort);
    c.resigned(0);
    assert_eq!(verify(&c, pid, epoch), Err(kafka(E::NotCoordinator)));
}
