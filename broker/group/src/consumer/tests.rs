//! The assignors and reconciliation on plain data.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;

const T1: Uuid = Uuid::from_u128(1);
const T2: Uuid = Uuid::from_u128(2);

fn topics() -> BTreeMap<String, TopicInfo> {
    BTreeMap::from([
        (
            "a".to_owned(),
            TopicInfo {
                id: T1,
                partitions: 5,
            },
        ),
        (
            "b".to_owned(),
            TopicInfo {
                id: T2,
                partitions: 2,
            },
        ),
    ])
}

fn members(subs: &[(&str, &[&str])]) -> BTreeMap<String, ConsumerMember> {
    subs.iter()
        .map(|(id, topics)| {
            let mut m = ConsumerMember::new((*id).to_owned());
            m.subscribed_topic_names = topics.iter().map(|t| (*t).to_owned()).collect();
            ((*id).to_owned(), m)
        })
        .collect()
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

#[test]
fn uniform_balances_within_one_and_keeps_what_it_can() {
    let all = members(&[("m1", &["a", "b"]), ("m2", &["a", "b"])]);
    let first = Assignor::Uniform.assign(&all, &topics(), &BTreeMap::new());
    let counts: Vec<usize> = first.values().map(count).collect();
    assert_eq!(counts, [4, 3]);
    let three = members(&[
        ("m1", &["a", "b"]),
        ("m2", &["a", "b"]),
        ("m3", &["a", "b"]),
    ]);
    let second = Assignor::Uniform.assign(&three, &topics(), &first);
    let counts: Vec<usize> = second.values().map(count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 7);
    assert!(counts.iter().all(|c| (2..=3).contains(c)), "{counts:?}");
    // m1 and m2 only lose partitions: nothing moves between them.
    for m in ["m1", "m2"] {
        assert!(
            is_subset(&second[m], &first[m]),
            "{m}: {second:?} vs {first:?}"
        );
    }
}

#[test]
fn uniform_gives_a_topic_only_to_its_subscribers() {
    let all = members(&[("m1", &["a"]), ("m2", &["b"])]);
    let target = Assignor::Uniform.assign(&all, &topics(), &BTreeMap::new());
    assert_eq!(target["m1"].keys().collect::<Vec<_>>(), [&T1]);
    assert_eq!(count(&target["m1"]), 5);
    assert_eq!(target["m2"].keys().collect::<Vec<_>>(), [&T2]);
}

#[test]
fn range_splits_each_topic_in_member_order() {
    let all = members(&[("m1", &["a", "b"]), ("m2", &["a", "b"])]);
    let target = Assignor::Range.assign(&all, &topics(), &BTreeMap::new());
    assert_eq!(target["m1"][&T1], BTreeSet::from([0, 1, 2]));
    assert_eq!(target["m2"][&T1], BTreeSet::from([3, 4]));
    assert_eq!(target["m1"][&T2], BTreeSet::from([0]));
    assert_eq!(target["m2"][&T2], BTreeSet::from([1]));
}

#[test]
fn a_member_waits_for_partitions_another_has_not_released() {
    let mut group = ConsumerGroup {
        group_epoch: 2,
        assignment_epoch: 2,
        members: members(&[("m1", &["a"]), ("m2", &["a"])]),
        ..ConsumerGroup::default()
    };
    if let Some(m1) = group.members.get_mut("m1") {
        m1.member_epoch = 1;
        m1.pending_revocation = Assignment::from([(T1, BTreeSet::from([3, 4]))]);
        m1.state = MemberState::UnrevokedPartitions;
    }
    group.target = BTreeMap::from([
        (
            "m1".to_owned(),
            Assignment::from([(T1, BTreeSet::from([0, 1, 2]))]),
        ),
        (
            "m2".to_owned(),
            Assignment::from([(T1, BTreeSet::from([3, 4]))]),
        ),
    ]);
    let m2 = group.members["m2"].clone();
    let next = reconcile::next_assignment(&group, &m2, Some(&Assignment::new()));
    assert_eq!(next.state, MemberState::UnreleasedPartitions);
    assert_eq!(next.member_epoch, 2);
    assert!(next.assigned.is_empty());
}
