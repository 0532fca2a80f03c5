use super::*;

fn p(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionView {
    PartitionView {
        topic: "t".into(),
        partition,
        leader,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        min_insync: 2,
    }
}

fn snapshot(partitions: Vec<PartitionView>) -> Option<Result<AdminSnapshot, AdminError>> {
    Some(Ok(AdminSnapshot {
        registered: [0, 1, 2].into(),
        partitions,
        ..AdminSnapshot::default()
    }))
}

fn one(id: i32) -> BTreeSet<i32> {
    [id].into()
}

#[test]
fn a_full_isr_lets_any_one_broker_restart() {
    let s = snapshot(vec![
        p(0, 0, &[0, 1, 2], &[0, 1, 2]),
        p(1, 1, &[1, 2, 0], &[1, 2, 0]),
    ]);
    for id in 0..3 {
        assert_eq!(check(s.as_ref(), &one(id), &[0, 1, 2]), Ok(()));
    }
}

#[test]
fn a_stopped_follower_blocks_the_brokers_sharing_its_partitions() {
    // Broker 2 fell out of the ISR of t-0: restarting 0 or 1 would leave one in-sync
    // replica, below min.insync.replicas 2.
    let mut s = snapshot(vec![
        p(0, 0, &[0, 1, 2], &[0, 1]),
        p(1, 1, &[1, 0], &[1, 0]),
    ]);
    // Still registered: it is catching up, so the roll waits.
    assert!(matches!(
        check(s.as_ref(), &one(0), &[0, 1]),
        Err(Hold::Settling(m)) if m.contains("t-0")
    ));
    // Gone (stopped and fenced): blocked.
    if let Some(Ok(snap)) = s.as_mut() {
        snap.registered.remove(&2);
    }
    let Err(Hold::Blocked {
        partitions,
        message,
    }) = check(s.as_ref(), &one(0), &[0, 1])
    else {
        panic!("expected a block");
    };
    // t-1 has RF 2: min.insync.replicas 2 is capped at 1, which broker 1 still meets.
    assert_eq!(partitions, vec!["t-0".to_owned()]);
    assert!(
        message.contains("t-0") && message.contains("min.insync.replicas"),
        "{message}"
    );
    // Restarting the broker that is out of sync anyway costs nothing in-sync.
    assert!(
        restart_blockers(
            &one(2),
            s.as_ref().unwrap().as_ref().unwrap().partitions.as_slice()
        )
        .is_empty()
    );
}

#[test]
fn min_isr_is_capped_by_the_replication_factor() {
    // RF 2 with min.insync.replicas 2 can never keep 2 while one restarts: it needs 1.
    let parts = vec![p(0, 0, &[0, 1], &[0, 1])];
    assert!(restart_blockers(&one(0), &parts).is_empty());
    // ... but never its last in-sync replica.
    let parts = vec![p(0, 0, &[0, 1], &[0])];
    assert_eq!(restart_blockers(&one(0), &parts), vec!["t-0".to_owned()]);
    // RF 1: nothing to wait for.
    assert!(restart_blockers(&one(0), &[p(0, 0, &[0], &[0])]).is_empty());
}

#[test]
fn a_rack_restarts_together_only_if_every_partition_keeps_min_isr_elsewhere() {
    let parts = vec![p(0, 0, &[0, 1, 2], &[0, 1, 2])];
    assert!(!restart_blockers(&[0, 1].into(), &parts).is_empty());
    let mut min1 = parts.clone();
    min1[0].min_insync = 1;
    assert!(restart_blockers(&[0, 1].into(), &min1).is_empty());
}

#[test]
fn unreadable_metadata_blocks_every_restart() {
    let err = Some(Err(AdminError::Unreachable("connection refused".into())));
    assert!(matches!(
        check(err.as_ref(), &one(0), &[0]),
        Err(Hold::Blocked { message, .. }) if message.contains("connection refused")
    ));
    assert!(matches!(
        check(None, &one(0), &[0]),
        Err(Hold::Blocked { .. })
    ));
}

#[test]
fn the_cluster_settles_between_restarts() {
    let mut s = snapshot(vec![p(0, 0, &[0, 1, 2], &[0, 1, 2])]);
    // Broker 2 not registered (restarting, or fenced).
    if let Some(Ok(snap)) = s.as_mut() {
        snap.registered.remove(&2);
    }
    assert!(
        matches!(check(s.as_ref(), &one(0), &[0, 1, 2]), Err(Hold::Settling(m)) if m.contains("broker 2"))
    );
    // Registered but still catching up on a partition broker 0 does not host.
    let s = snapshot(vec![
        p(0, 0, &[0, 1, 2], &[0, 1, 2]),
        p(1, 1, &[1, 2, 3], &[1, 2]),
    ]);
    assert!(
        matches!(check(s.as_ref(), &one(0), &[0, 1, 2]), Err(Hold::Settling(m)) if m.contains("t-1"))
    );
    // Caught up, but broker 0 is not back as the preferred leader of t-0.
    let s = snapshot(vec![p(0, 1, &[0, 1, 2], &[0, 1, 2])]);
    assert_eq!(
        check(s.as_ref(), &one(2), &[0, 1, 2]),
        Err(Hold::ElectPreferred(vec!["t-0".into()]))
    );
}

#[test]
fn long_lists_are_cut_in_messages() {
    let parts: Vec<PartitionView> = (0..8).map(|i| p(i, 0, &[0, 1, 3], &[0, 1])).collect();
    let s = snapshot(parts);
    let Err(Hold::Blocked {
        partitions,
        message,
    }) = check(s.as_ref(), &one(0), &[0, 1, 2])
    else {
        panic!("expected a block");
    };
    assert_eq!(partitions.len(), 8);
    assert!(message.ends_with("and 3 more"), "{message}");
}

#[test]
fn preferred_elections_wait_for_a_handoff_level_during_an_upgrade_only() {
    let at = |level: Option<i16>| AdminSnapshot {
        finalized_features: level
            .map(|l| [("metadata.version".to_owned(), l)].into())
            .unwrap_or_default(),
        ..AdminSnapshot::default()
    };
    // An upgrade from 0.2.0 (4.0-IV3): elections would truncate acks=1 records; wait.
    assert!(defer_preferred_elections(true, Some(&at(Some(25)))));
    assert!(defer_preferred_elections(true, Some(&at(None))));
    assert!(defer_preferred_elections(true, None));
    // Finalized at 4.1-IV0: elections are handoffs.
    assert!(!defer_preferred_elections(true, Some(&at(Some(26)))));
    // No upgrade under way (a config roll, a pinned cluster): elect as before.
    assert!(!defer_preferred_elections(false, Some(&at(Some(25)))));
}
