//! Replica placement for new topics and partitions: Kafka's
//! `AdminUtils.assignReplicasToBrokers` (rack-unaware and rack-aware variants).
//!
//! Rack-aware placement alternates racks in the broker list, so a partition's replicas
//! land on distinct racks whenever there are at least as many racks as replicas. The
//! random start index and replica shift of Kafka are inputs here (sans-IO); callers
//! derive them from the random topic id.

use std::collections::{BTreeMap, BTreeSet};

/// A broker eligible for new replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerPlacement {
    pub broker_id: i32,
    pub rack: Option<String>,
}

/// Assigns `n_partitions` partitions (ids from `start_partition`) with `rf` replicas each.
/// `start_index` and `replica_shift` play the role of Kafka's random choices. Brokers
/// without a rack count as one rack of their own when others have racks. The caller
/// guarantees `1 <= rf <= brokers.len()`; otherwise an empty map is returned.
pub fn assign_replicas(
    brokers: &[BrokerPlacement],
    n_partitions: i32,
    rf: usize,
    start_partition: i32,
    start_index: usize,
    replica_shift: usize,
) -> BTreeMap<i32, Vec<i32>> {
    if rf == 0 || rf > brokers.len() {
        return BTreeMap::new();
    }
    let rack_of: BTreeMap<i32, String> = brokers
        .iter()
        .map(|b| (b.broker_id, b.rack.clone().unwrap_or_default()))
        .collect();
    let any_rack = brokers.iter().any(|b| b.rack.is_some());
    let arranged = if any_rack {
        rack_alternated(&rack_of)
    } else {
        rack_of.keys().copied().collect()
    };
    let n_racks = if any_rack {
        rack_of.values().collect::<BTreeSet<_>>().len()
    } else {
        1
    };
    let n = arranged.len();
    let start_index = start_index % n;
    let mut shift = replica_shift % n;
    let mut out = BTreeMap::new();
    for partition in start_partition.max(0)..start_partition.max(0) + n_partitions {
        let pid = partition as usize;
        if pid > 0 && pid.is_multiple_of(n) {
            shift += 1;
        }
        let first = (pid + start_index) % n;
        let mut replicas = vec![arranged[first]];
        if any_rack {
            let mut racks: BTreeSet<&str> = BTreeSet::from([rack_of[&arranged[first]].as_str()]);
            let mut k = 0;
            while replicas.len() < rf {
                let broker = arranged[replica_index(first, shift * n_racks, k, n)];
                let rack = rack_of[&broker].as_str();
                // Skip a broker on a rack that already has a replica while some rack has
                // none, and a broker that already has one while some broker has none.
                if (!racks.contains(rack) || racks.len() == n_racks)
                    && (!replicas.contains(&broker) || replicas.len() == n)
                {
                    replicas.push(broker);
                    racks.insert(rack);
                }
                k += 1;
            }
        } else {
            for j in 0..rf - 1 {
                replicas.push(arranged[replica_index(first, shift, j, n)]);
            }
        }
        out.insert(partition, replicas);
    }
    out
}

fn replica_index(first: usize, second_shift: usize, index: usize, n: usize) -> usize {
    let shift = 1 + (second_shift + index) % (n - 1);
    (first + shift) % n
}

/// Brokers ordered by taking one from each rack in turn (racks sorted, brokers sorted).
fn rack_alternated(rack_of: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (broker, rack) in rack_of {
        by_rack.entry(rack.as_str()).or_default().push(*broker);
    }
    let columns: Vec<&Vec<i32>> = by_rack.values().collect();
    let depth = columns.iter().map(|c| c.len()).max().unwrap_or(0);
    (0..depth)
        .flat_map(|i| columns.iter().filter_map(move |c| c.get(i).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[(i32, Option<&str>)]) -> Vec<BrokerPlacement> {
        racks
            .iter()
            .map(|(id, r)| BrokerPlacement {
                broker_id: *id,
                rack: r.map(str::to_string),
            })
            .collect()
    }

    #[test]
    fn rack_unaware_matches_kafka_fixed_start() {
        // AdminUtilsTest.testReplicaAssignment: 5 brokers, 10 partitions, RF 3, start 0.
        let b = brokers(&[(0, None), (1, None), (2, None), (3, None), (4, None)]);
        let got = assign_replicas(&b, 10, 3, 0, 0, 0);
        let expected: BTreeMap<i32, Vec<i32>> = BTreeMap::from([
            (0, vec![0, 1, 2]),
            (1, vec![1, 2, 3]),
            (2, vec![2, 3, 4]),
            (3, vec![3, 4, 0]),
            (4, vec![4, 0, 1]),
            (5, vec![0, 2, 3]),
            (6, vec![1, 3, 4]),
            (7, vec![2, 4, 0]),
            (8, vec![3, 0, 1]),
            (9, vec![4, 1, 2]),
        ]);
        assert_eq!(got, expected);
    }

    #[test]
    fn rack_alternation_interleaves_racks() {
        let rack_of = BTreeMap::from([
            (0, "rack1".to_string()),
            (1, "rack3".to_string()),
            (2, "rack3".to_string()),
            (3, "rack2".to_string()),
            (4, "rack2".to_string()),
            (5, "rack1".to_string()),
        ]);
        // AdminUtilsTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
        assert_eq!(rack_alternated(&rack_of), vec![0, 3, 1, 5, 4, 2]);
    }

    #[test]
    fn rack_aware_places_replicas_on_distinct_racks() {
        let b = brokers(&[
            (0, Some("a")),
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("b")),
            (4, Some("c")),
            (5, Some("c")),
        ]);
        for start in 0..6 {
            for shift in 0..6 {
                let got = assign_replicas(&b, 12, 3, 0, start, shift);
                assert_eq!(got.len(), 12);
                for replicas in got.values() {
                    let racks: BTreeSet<_> = replicas.iter().map(|r| r / 2).collect();
                    assert_eq!(
                        racks.len(),
                        3,
                        "{replicas:?} (start {start}, shift {shift})"
                    );
                }
            }
        }
    }

    #[test]
    fn rack_aware_spreads_leaders_evenly() {
        let b = brokers(&[
            (0, Some("a")),
            (1, Some("b")),
            (2, Some("a")),
            (3, Some("b")),
        ]);
        let got = assign_replicas(&b, 8, 2, 0, 1, 3);
        let mut leaders = BTreeMap::<i32, usize>::new();
        for r in got.values() {
            *leaders.entry(r[0]).or_default() += 1;
            assert_ne!(r[0] % 2, r[1] % 2, "replicas share a rack: {r:?}");
        }
        assert!(leaders.values().all(|c| *c == 2), "{leaders:?}");
    }

    #[test]
    fn too_few_brokers_gives_nothing() {
        let b = brokers(&[(0, None)]);
        assert!(assign_replicas(&b, 1, 2, 0, 0, 0).is_empty());
        assert!(assign_replicas(&b, 1, 0, 0, 0, 0).is_empty());
    }
}
