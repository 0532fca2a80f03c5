use proptest::prelude::*;

use super::*;
use crate::epoch_cache::LeaderEpochCache;
use crate::leader::{FollowerFetch, LeaderConfig, LeaderInit};

fn view(id: ReplicaId, rack: &str, log_end_offset: i64, since: u64) -> ReplicaView {
    ReplicaView {
        id,
        rack: Some(rack.to_owned()),
        log_end_offset,
        time_since_last_caught_up_ms: since,
    }
}

#[test]
fn selector_follows_kafka_rules() {
    let s = RackAwareReplicaSelector;
    let leader = view(1, "a", 100, 0);
    let replicas = vec![
        view(2, "b", 90, 5),
        view(3, "b", 95, 50),
        view(4, "c", 100, 0),
        view(5, "b", 95, 10),
    ];
    assert_eq!(
        s.select(None, &leader, &replicas).id,
        1,
        "no client.rack: leader"
    );
    assert_eq!(
        s.select(Some(""), &leader, &replicas).id,
        1,
        "empty client.rack: leader"
    );
    assert_eq!(
        s.select(Some("z"), &leader, &replicas).id,
        1,
        "no replica in the rack: leader"
    );
    assert_eq!(
        s.select(Some("a"), &leader, &replicas).id,
        1,
        "leader in the rack: leader"
    );
    // Highest LEO in rack b is 95 (3 and 5); 5 caught up more recently.
    assert_eq!(s.select(Some("b"), &leader, &replicas).id, 5);
    assert_eq!(s.select(Some("c"), &leader, &replicas).id, 4);
}

#[test]
fn preferred_read_replica_only_considers_in_sync_followers_holding_the_offset() {
    let mut epochs = LeaderEpochCache::new();
    let init = LeaderInit {
        local_id: 1,
        leader_epoch: 1,
        partition_epoch: 0,
        replicas: vec![1, 2, 3],
        isr: vec![1, 2],
        log_start_offset: 0,
        log_end_offset: 10,
        high_watermark: 0,
    };
    let mut l = LeaderState::new(init, LeaderConfig::default(), &mut epochs, 0).unwrap();
    let fetch = |replica_id, fetch_offset| FollowerFetch {
        replica_id,
        broker_epoch: 1,
        current_leader_epoch: Some(1),
        fetch_offset,
        last_fetched_epoch: Some(1),
        log_start_offset: 0,
    };
    l.on_fetch(&fetch(2, 8), &epochs, 1).unwrap();
    l.on_fetch(&fetch(3, 10), &epochs, 1).unwrap();
    let _ = l.take_alter_partition(); // 3 is pending, not yet in the committed ISR.
    let racks: BTreeMap<ReplicaId, String> = [(1, "a"), (2, "b"), (3, "c")]
        .map(|(i, r)| (i, r.to_owned()))
        .into();
    let s = RackAwareReplicaSelector;
    assert_eq!(
        s.preferred_read_replica(&l, &racks, Some("b"), 5, 2),
        Some(2)
    );
    assert_eq!(
        s.preferred_read_replica(&l, &racks, Some("b"), 9, 2),
        None,
        "follower 2 lacks offset 9"
    );
    assert_eq!(
        s.preferred_read_replica(&l, &racks, Some("c"), 5, 2),
        None,
        "3 is not in the ISR"
    );
    assert_eq!(
        s.preferred_read_replica(&l, &racks, Some("a"), 5, 2),
        None,
        "leader's rack"
    );
}

proptest! {
    /// The choice is always in the client's rack when any candidate is, never less
    /// caught up than another same-rack candidate, and the leader otherwise.
    #[test]
    fn selection_is_the_best_same_rack_replica(
        leader_rack in 0u8..3,
        client_rack in 0u8..4,
        replicas in prop::collection::vec((0u8..3, 0i64..20, 0u64..100), 0..6),
    ) {
        let leader = view(0, &leader_rack.to_string(), 20, 0);
        let replicas: Vec<ReplicaView> = replicas
            .into_iter()
            .enumerate()
            .map(|(i, (rack, leo, since))| view(i as i32 + 1, &rack.to_string(), leo, since))
            .collect();
        let rack = client_rack.to_string();
        let chosen = RackAwareReplicaSelector.select(Some(&rack), &leader, &replicas);
        let same_rack: Vec<&ReplicaView> = replicas.iter().filter(|r| r.rack.as_deref() == Some(rack.as_str())).collect();
        if leader.rack.as_deref() == Some(rack.as_str()) || same_rack.is_empty() {
            prop_assert_eq!(chosen.id, 0);
        } else {
            prop_assert_eq!(chosen.rack.as_deref(), Some(rack.as_str()));
            for r in same_rack {
                prop_assert!(compare_views(chosen, r) != Ordering::Less);
            }
        }
    }
}
