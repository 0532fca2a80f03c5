//! The state machine over the shapes an operator restart can find it in.

use super::executor::*;
use crate::crd::{PlannedMove, RebalancePhase, RebalanceStatus};

fn mv(topic: &str, partition: i32, from: &[i32], to: &[i32]) -> PlannedMove {
    PlannedMove {
        topic: topic.into(),
        partition,
        from: from.to_vec(),
        to: to.to_vec(),
        bytes: 100,
    }
}

/// A plan of three moves over two topics, batches of two: [a-0, a-1], [b-0].
fn plan() -> RebalanceStatus {
    RebalanceStatus {
        phase: RebalancePhase::Throttled,
        brokers: vec![0, 1, 2, 3],
        moves: vec![
            mv("a", 0, &[0, 1], &[3, 1]),
            mv("a", 1, &[1, 2], &[1, 3]),
            mv("b", 0, &[0, 2], &[3, 2]),
        ],
        batch_size: 2,
        batches: 2,
        partitions_total: 3,
        bytes_total: 300,
        ..RebalanceStatus::default()
    }
}

fn observed(replicas: &[(&str, i32, &[i32])], ongoing: &[(&str, i32)]) -> Observation {
    Observation {
        keep: vec![0, 1, 2, 3],
        all_registered: true,
        replicas: replicas
            .iter()
            .map(|(t, p, r)| (((*t).to_owned(), *p), r.to_vec()))
            .collect(),
        ongoing: ongoing.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect(),
    }
}

fn open() -> Controls {
    Controls {
        in_quiet_hours: true,
        ..Controls::default()
    }
}

#[test]
fn submits_batch_by_batch_and_finishes() {
    let mut s = plan();
    let before = observed(
        &[("a", 0, &[0, 1]), ("a", 1, &[1, 2]), ("b", 0, &[0, 2])],
        &[],
    );
    match next(Some(&s), &before, &open()) {
        Step::Submit { batch } => assert_eq!(batch, s.moves[..2].to_vec()),
        other => panic!("{other:?}"),
    }
    s.submitted = true;
    // Moving: adding replica 3 listed; a restarted operator waits, never replans.
    let moving = observed(
        &[
            ("a", 0, &[3, 1, 0]),
            ("a", 1, &[1, 3, 2]),
            ("b", 0, &[0, 2]),
        ],
        &[("a", 0), ("a", 1)],
    );
    assert!(!advance(&mut s, &moving));
    assert_eq!(next(Some(&s), &moving, &open()), Step::Wait);
    // One partition done, the other not: still the same batch.
    let half = observed(
        &[("a", 0, &[3, 1]), ("a", 1, &[1, 3, 2]), ("b", 0, &[0, 2])],
        &[("a", 1)],
    );
    assert!(!advance(&mut s, &half));
    let first = observed(
        &[("a", 0, &[3, 1]), ("a", 1, &[1, 3]), ("b", 0, &[0, 2])],
        &[],
    );
    assert!(advance(&mut s, &first));
    assert_eq!(
        (s.current_batch, s.partitions_moved, s.bytes_moved),
        (1, 2, 200)
    );
    match next(Some(&s), &first, &open()) {
        Step::Submit { batch } => assert_eq!(batch, vec![s.moves[2].clone()]),
        other => panic!("{other:?}"),
    }
    s.submitted = true;
    let all = observed(
        &[("a", 0, &[3, 1]), ("a", 1, &[1, 3]), ("b", 0, &[3, 2])],
        &[],
    );
    assert!(advance(&mut s, &all));
    assert_eq!(next(Some(&s), &all, &open()), Step::Finish);
    s.phase = RebalancePhase::Done;
    assert_eq!(next(Some(&s), &all, &open()), Step::Idle);
}

#[test]
fn pause_and_quiet_hours_hold_the_next_batch_but_not_the_one_in_flight() {
    let mut s = plan();
    let obs = observed(&[], &[("a", 0)]);
    let paused = Controls {
        paused: true,
        ..open()
    };
    assert!(matches!(next(Some(&s), &obs, &paused), Step::Hold { .. }));
    let closed = Controls::default();
    assert!(matches!(next(Some(&s), &obs, &closed), Step::Hold { .. }));
    s.submitted = true;
    assert_eq!(next(Some(&s), &obs, &paused), Step::Wait);
}

#[test]
fn a_size_change_or_generation_bump_replans_once_the_batch_is_done() {
    let mut s = plan();
    s.phase = RebalancePhase::Done;
    let mut obs = observed(&[], &[]);
    assert_eq!(next(Some(&s), &obs, &open()), Step::Idle);
    obs.keep = vec![0, 1, 2, 3, 4];
    obs.all_registered = false;
    assert!(matches!(next(Some(&s), &obs, &open()), Step::Hold { .. }));
    obs.all_registered = true;
    assert_eq!(
        next(Some(&s), &obs, &open()),
        Step::Plan {
            trigger: "scale-out".into()
        }
    );
    obs.keep = vec![0, 1, 2, 3];
    let bump = Controls {
        generation: Some(2),
        ..open()
    };
    assert_eq!(
        next(Some(&s), &obs, &bump),
        Step::Plan {
            trigger: "generation 2".into()
        }
    );
    // A running batch finishes before a scale-in replans.
    s.phase = RebalancePhase::Throttled;
    s.submitted = true;
    obs.keep = vec![0, 1, 2];
    assert_eq!(next(Some(&s), &obs, &open()), Step::Wait);
    s.submitted = false;
    assert_eq!(
        next(Some(&s), &obs, &open()),
        Step::Plan {
            trigger: "scale-in".into()
        }
    );
}

#[test]
fn cancel_names_the_moves_still_in_flight() {
    let mut s = plan();
    s.submitted = true;
    let obs = observed(&[("a", 0, &[3, 1])], &[("a", 1)]);
    let cancel = Controls {
        cancel: true,
        ..open()
    };
    assert_eq!(
        next(Some(&s), &obs, &cancel),
        Step::Cancel {
            ongoing: vec![("a".into(), 1)]
        }
    );
    s.phase = RebalancePhase::Failed;
    assert_eq!(next(Some(&s), &obs, &cancel), Step::Idle);
}

#[test]
fn eta_and_quiet_hours() {
    let mut s = plan();
    s.throttle_bytes_per_second = Some(10);
    assert_eq!(eta_seconds(&s, 0), Some(30));
    s.bytes_moved = 100;
    assert_eq!(eta_seconds(&s, 5), Some(10));
    assert_eq!(in_quiet_hours("01:00-05:00", 60), Some(true));
    assert_eq!(in_quiet_hours("01:00-05:00", 300), Some(false));
    assert_eq!(in_quiet_hours("22:00-02:00", 23 * 60), Some(true));
    assert_eq!(in_quiet_hours("22:00-02:00", 60), Some(true));
    assert_eq!(in_quiet_hours("22:00-02:00", 12 * 60), Some(false));
    assert_eq!(in_quiet_hours("nonsense", 0), None);
}
