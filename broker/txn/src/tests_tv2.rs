//! Transaction version 2 (KIP-890 part 2) in the coordinator's state machine: EndTxn
//! bumps the epoch on every commit and abort, the markers carry the bumped epoch, a
//! retried EndTxn is told apart from the next one by that epoch, and the bump past the
//! last epoch rotates to the next producer id once the markers are written.

use kafka_protocol::ResponseError as E;

use crate::coordinator::{EndTxn, Ending, InitProducerId, TxnConfig, TxnCoordinator};
use crate::metadata::{NO_PRODUCER_ID, Transit, TxnError};
use crate::records::{decode_value, encode_value};
use crate::state::TxnState;

const ID: &str = "tv2";

fn coordinator() -> TxnCoordinator {
    let mut c = TxnCoordinator::new(TxnConfig {
        partitions: 1,
        ..TxnConfig::default()
    });
    c.elected(0, 3);
    assert!(c.loaded(0).is_empty());
    c
}

/// Producer ids from `first` on.
fn pids(first: i64) -> impl FnMut() -> Result<i64, E> {
    let mut next = first;
    move || {
        next += 1;
        Ok(next - 1)
    }
}

fn no_pid() -> Result<i64, E> {
    panic!("no producer id may be allocated here")
}

fn ending(producer_id: i64, producer_epoch: i16, commit: bool) -> Ending {
    Ending {
        producer_id,
        producer_epoch,
        commit,
        from_client: true,
        client_transaction_version: 2,
    }
}

/// InitProducerId, written: (producer id, epoch).
fn init(c: &mut TxnCoordinator, next: &mut dyn FnMut() -> Result<i64, E>) -> (i64, i16) {
    match c.init_producer_id(Some(ID), 60_000, None, 1, next).unwrap() {
        InitProducerId::Write(t) => {
            c.complete(ID, &t).unwrap();
            (t.producer_id, t.producer_epoch)
        }
        other => panic!("expected a write, got {other:?}"),
    }
}

/// The leader's implicit add (Produce v12): the partition joins, written.
fn add(c: &mut TxnCoordinator, pid: i64, epoch: i16, partition: i32) {
    if let Some(t) = c
        .add_partitions(ID, pid, epoch, [("out".to_string(), partition)], 2)
        .unwrap()
    {
        c.complete(ID, &t).unwrap();
    }
}

/// EndTxn v5 that writes: the transit (durable once this returns).
fn end(c: &mut TxnCoordinator, e: Ending, next: &mut dyn FnMut() -> Result<i64, E>) -> Transit {
    match c.end_transaction(ID, e, 3, next).unwrap() {
        EndTxn::Write(t) => {
            c.complete(ID, &t).unwrap();
            t
        }
        other => panic!("expected a write, got {other:?}"),
    }
}

fn complete_markers(c: &mut TxnCoordinator) -> Transit {
    let t = c.markers_written(ID, 4).unwrap();
    c.complete(ID, &t).unwrap();
    t
}

#[test]
fn every_end_bumps_the_epoch_and_the_markers_carry_it() {
    let mut c = coordinator();
    let mut next = pids(1000);
    let (pid, epoch) = init(&mut c, &mut next);
    assert_eq!((pid, epoch), (1000, 0));
    for (round, commit) in [(0i16, true), (1, false), (2, true)] {
        let epoch = epoch + round;
        add(&mut c, pid, epoch, 0);
        let t = end(&mut c, ending(pid, epoch, commit), &mut no_pid);
        assert_eq!(t.producer_epoch, epoch + 1);
        assert_eq!(t.last_producer_epoch, epoch);
        // The client goes on with the bumped epoch; the markers carry it too, so
        // every late batch of the ended transaction is fenced on its partitions.
        assert_eq!(t.producer_for_client(), (pid, epoch + 1));
        let m = c.markers(ID).unwrap();
        assert_eq!(
            (m.producer_id, m.producer_epoch, m.commit),
            (pid, epoch + 1, commit)
        );
        // A retry while the markers are written: CONCURRENT_TRANSACTIONS.
        assert_eq!(
            c.end_transaction(ID, ending(pid, epoch, commit), 3, &mut no_pid),
            Err(TxnError::Kafka(E::ConcurrentTransactions))
        );
        let done = complete_markers(&mut c);
        assert_eq!((done.producer_id, done.producer_epoch), (pid, epoch + 1));
        // A retry once ended (its answer was lost): the current producer, no write.
        assert_eq!(
            c.end_transaction(ID, ending(pid, epoch, commit), 3, &mut no_pid),
            Ok(EndTxn::Ended {
                producer_id: pid,
                producer_epoch: epoch + 1
            })
        );
    }
}

#[test]
fn a_stale_or_future_epoch_is_fenced_and_changes_nothing() {
    let mut c = coordinator();
    let mut next = pids(1000);
    let (pid, epoch) = init(&mut c, &mut next);
    add(&mut c, pid, epoch, 0);
    end(&mut c, ending(pid, epoch, true), &mut no_pid);
    complete_markers(&mut c);
    let before = c.describe(ID).unwrap().clone();
    // Only the epoch before the bump is a retry: two behind, ahead, and even the
    // current one (no transaction to end) are fenced, as Kafka judges a version 2
    // end in CompleteCommit; a wrong producer id is no mapping.
    for (e, want) in [
        (ending(pid, epoch.wrapping_sub(1), true), E::ProducerFenced),
        (ending(pid, epoch + 2, true), E::ProducerFenced),
        (ending(pid, epoch + 1, true), E::ProducerFenced),
        (
            ending(pid + 1, epoch + 1, true),
            E::InvalidProducerIdMapping,
        ),
        // A retry of the commit that asks to abort.
        (ending(pid, epoch, false), E::InvalidTxnState),
    ] {
        assert_eq!(
            c.end_transaction(ID, e, 3, &mut no_pid),
            Err(TxnError::Kafka(want)),
            "{e:?}"
        );
        assert_eq!(c.describe(ID).unwrap(), &before);
    }
}

#[test]
fn the_bump_past_the_last_epoch_rotates_to_the_next_producer_id() {
    let mut c = coordinator();
    // An id whose producer is one epoch from exhaustion, replayed as Kafka wrote it.
    let (pid, _) = init(&mut c, &mut pids(1000));
    let mut m = c.describe(ID).unwrap().clone();
    let last = i16::MAX - 1;
    let mut at_last: Transit = (*m).clone();
    at_last.producer_epoch = last;
    c.replay(ID, Some(at_last));
    m = c.describe(ID).unwrap().clone();
    assert!(m.is_epoch_exhausted());
    add(&mut c, pid, last, 0);
    let t = end(&mut c, ending(pid, last, false), &mut pids(2000));
    // The markers still carry the old producer id, at the very last epoch...
    assert_eq!((t.producer_id, t.producer_epoch), (pid, i16::MAX));
    assert_eq!(t.next_producer_id, 2000);
    let markers = c.markers(ID).unwrap();
    assert_eq!(
        (markers.producer_id, markers.producer_epoch),
        (pid, i16::MAX)
    );
    // ...while the client is told the next one at epoch 0 (EndTxn v5's answer).
    assert_eq!(t.producer_for_client(), (2000, 0));
    // The next producer id survives a coordinator move (record version 1).
    assert_eq!(
        decode_value(encode_value(&t)).unwrap().next_producer_id,
        2000
    );
    let done = complete_markers(&mut c);
    assert_eq!(done.state, TxnState::CompleteAbort);
    assert_eq!((done.producer_id, done.producer_epoch), (2000, 0));
    assert_eq!(
        (done.last_producer_id, done.next_producer_id),
        (pid, NO_PRODUCER_ID)
    );
    // The retry of the rotating end names the old id and its last epoch: answered with
    // the new producer; the new producer's next transaction goes on at epoch 0.
    assert_eq!(
        c.end_transaction(ID, ending(pid, last, false), 3, &mut no_pid),
        Ok(EndTxn::Ended {
            producer_id: 2000,
            producer_epoch: 0
        })
    );
    add(&mut c, 2000, 0, 1);
    let t = end(&mut c, ending(2000, 0, true), &mut no_pid);
    assert_eq!((t.producer_id, t.producer_epoch), (2000, 1));
}

#[test]
fn a_version_1_end_keeps_the_epoch_and_a_fence_still_fences() {
    let mut c = coordinator();
    let mut next = pids(1000);
    let (pid, epoch) = init(&mut c, &mut next);
    add(&mut c, pid, epoch, 0);
    let v1 = Ending {
        client_transaction_version: 0,
        ..ending(pid, epoch, true)
    };
    let t = end(&mut c, v1, &mut no_pid);
    assert_eq!((t.producer_epoch, t.client_transaction_version), (epoch, 0));
    complete_markers(&mut c);
    // A TV2 transaction open, then a newer producer's InitProducerId fences it: the
    // abort is written at the fenced epoch, and the old producer's end is refused.
    add(&mut c, pid, epoch, 0);
    match c
        .init_producer_id(Some(ID), 60_000, None, 5, &mut next)
        .unwrap()
    {
        InitProducerId::AbortFirst(t) => {
            c.complete(ID, &t).unwrap();
            assert_eq!(
                (t.state, t.producer_epoch),
                (TxnState::PrepareAbort, epoch + 1)
            );
        }
        other => panic!("expected the fence's abort, got {other:?}"),
    }
    assert_eq!(
        c.end_transaction(ID, ending(pid, epoch, true), 3, &mut no_pid),
        Err(TxnError::Kafka(E::ProducerFenced))
    );
}
