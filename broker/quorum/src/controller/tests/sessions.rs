//! Fencing on a closed heartbeat connection or a refused probe, and its flap guard.

use super::*;

fn no_rack(_: i32) -> Option<String> {
    None
}

/// Brokers 1-3 heartbeating on connections 11-13; "t" led by 1 with ISR 1, 2, 3.
fn cluster() -> Harness {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    for id in [1, 2, 3] {
        h.controller
            .session_connection_opened(id, h.epochs[&id], 10 + id as u64);
    }
    h.create_assigned("t", 5, &[&[1, 2, 3], &[2, 1, 3]])
        .unwrap();
    h
}

/// Broker `id` heartbeats (unfenced again) on a new `connection`.
fn heartbeat_on(h: &mut Harness, id: i32, connection: u64) {
    let reply = h.heartbeat(id, false, false).unwrap();
    assert!(!reply.is_fenced);
    h.controller
        .session_connection_opened(id, h.epochs[&id], connection);
}

/// Connection `connection` closes and, if that leaves its broker without one, the
/// shell's probe finds the broker's listener gone: the records of that decision.
fn close(h: &mut Harness, connection: u64) -> usize {
    let Some((id, epoch)) = h.controller.session_connection_closed(&h.image, connection) else {
        return 0;
    };
    let records = h
        .controller
        .broker_unreachable(&h.image, id, epoch, h.now_ms, "test: closed");
    h.apply(&records);
    records.len()
}

#[test]
fn a_closed_heartbeat_connection_fences_at_once_and_moves_leaderships() {
    let mut h = cluster();
    let before = h.partition("t", 0);
    assert_eq!(close(&mut h, 11), 3, "fence + two partition changes");
    assert!(h.image.brokers[&1].fenced);
    let led = h.partition("t", 0);
    assert_eq!(led.leader, 2);
    assert_eq!(led.isr, vec![2, 3]);
    assert_eq!(led.leader_epoch, before.leader_epoch + 1);
    let followed = h.partition("t", 1);
    assert_eq!(followed.leader, 2);
    assert_eq!(followed.isr, vec![2, 3], "the dead follower leaves the ISR");
    // Far inside broker.session.timeout.ms: the session timeout played no part.
    assert!(h.controller.tick(&h.image, h.now_ms).is_empty());
}

#[test]
fn a_closed_connection_alone_fences_nothing_the_probe_decides() {
    let mut h = cluster();
    let closed = h.controller.session_connection_closed(&h.image, 11);
    assert_eq!(closed, Some((1, h.epochs[&1])), "broker 1 is to be probed");
    // The shell's probe was accepted (a live broker's pooled or timed-out connection):
    // nothing is decided, broker 1 keeps leading and heartbeats on a new connection.
    assert!(!h.image.brokers[&1].fenced);
    assert_eq!(h.partition("t", 0).leader, 1);
    heartbeat_on(&mut h, 1, 81);
    // That one closes and the probe finds the listener gone: fenced at once.
    assert_eq!(close(&mut h, 81), 3);
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn only_the_last_heartbeat_connection_of_the_current_epoch_counts() {
    let mut h = cluster();
    h.controller.session_connection_opened(1, h.epochs[&1], 21);
    assert_eq!(
        close(&mut h, 11),
        0,
        "connection 21 still carries heartbeats"
    );
    assert_eq!(close(&mut h, 99), 0, "a connection that never carried one");
    assert!(!h.image.brokers[&1].fenced);
    // A connection of an older registration says nothing about the new one.
    h.controller
        .session_connection_opened(1, h.epochs[&1] - 1, 31);
    assert_eq!(close(&mut h, 31), 0);
    assert_eq!(close(&mut h, 21), 3);
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn a_broker_alive_after_a_close_fence_is_not_fenced_on_close_again_within_the_guard() {
    let mut h = cluster();
    assert_eq!(close(&mut h, 11), 3);
    // It was alive: it heartbeats again at the same epoch, is unfenced, reconnects.
    h.now_ms += 500;
    heartbeat_on(&mut h, 1, 41);
    // Its connection flaps again inside the guard: not fenced (the session decides).
    h.now_ms += FLAP_GUARD_MS - 1_000;
    assert_eq!(close(&mut h, 41), 0);
    assert!(!h.image.brokers[&1].fenced);
    // Silent from now on: the session timeout still fences it.
    h.now_ms += ControllerConfig::default().broker_session_timeout_ms + 1;
    h.heartbeat(2, false, false).unwrap();
    h.heartbeat(3, false, false).unwrap();
    let records = h.controller.tick(&h.image, h.now_ms);
    h.apply(&records);
    assert!(h.image.brokers[&1].fenced);
    // Once the guard has passed, a closed connection fences at once again.
    h.now_ms += FLAP_GUARD_MS;
    heartbeat_on(&mut h, 1, 51);
    assert_eq!(
        close(&mut h, 51),
        1,
        "the fence (it leads nothing, is in no ISR)"
    );
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn a_broker_that_died_and_registered_again_is_no_false_alarm() {
    let mut h = cluster();
    assert_eq!(close(&mut h, 11), 3);
    // The restarted process registers anew (new epoch) and is killed again at once.
    h.now_ms += 2_000;
    h.register(1, None).unwrap();
    heartbeat_on(&mut h, 1, 61);
    h.now_ms += 1_000;
    assert!(close(&mut h, 61) >= 1, "fenced again at once");
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn brokers_without_a_heartbeat_connection_are_probed_and_fenced_when_refused() {
    let mut h = Harness::new(ControllerConfig::default());
    h.brokers(&[1, 2, 3], no_rack);
    h.create_assigned("t", 5, &[&[1, 2, 3]]).unwrap();
    // A new controller: nobody has connected yet, broker 2 then heartbeats.
    h.controller.session_connection_opened(2, h.epochs[&2], 72);
    let lacking = h.controller.brokers_without_session(&h.image);
    assert_eq!(lacking, vec![(1, h.epochs[&1]), (3, h.epochs[&3])]);
    // Broker 3 connects before its refused probe is reported: kept.
    h.controller.session_connection_opened(3, h.epochs[&3], 73);
    let records =
        h.controller
            .broker_unreachable(&h.image, 3, h.epochs[&3], h.now_ms, "test: refused");
    assert!(records.is_empty());
    // Broker 1 (the old controller's node) is gone.
    let records =
        h.controller
            .broker_unreachable(&h.image, 1, h.epochs[&1], h.now_ms, "test: refused");
    h.apply(&records);
    assert!(h.image.brokers[&1].fenced);
    assert_eq!(h.partition("t", 0).leader, 2);
    assert!(h.controller.brokers_without_session(&h.image).is_empty());
    // A stale probe (older epoch) fences nothing.
    let stale =
        h.controller
            .broker_unreachable(&h.image, 2, h.epochs[&2] - 1, h.now_ms, "test: refused");
    assert!(stale.is_empty());
}
