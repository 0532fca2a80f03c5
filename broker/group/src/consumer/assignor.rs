//! The server-side assignors of KIP-848 (`group.consumer.assignors`): `uniform`
//! (the default: balanced and sticky, Kafka's `UniformAssignor`) and `range`
//! (Kafka's `RangeAssignor`: per topic, contiguous ranges by member id). Pure:
//! members, subscribed topic metadata and the previous target in, a target out.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Assignment, ConsumerMember, TopicInfo};

/// A server-side assignor, by its Kafka name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Assignor {
    #[default]
    Uniform,
    Range,
}

impl Assignor {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "uniform" => Some(Self::Uniform),
            "range" => Some(Self::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Range => "range",
        }
    }

    /// The target assignment of every member.
    pub fn assign(
        self,
        members: &BTreeMap<String, ConsumerMember>,
        topics: &BTreeMap<String, TopicInfo>,
        previous: &BTreeMap<String, Assignment>,
    ) -> BTreeMap<String, Assignment> {
        let mut target: BTreeMap<String, Assignment> = members
            .keys()
            .map(|id| (id.clone(), Assignment::new()))
            .collect();
        match self {
            Self::Uniform => uniform(members, topics, previous, &mut target),
            Self::Range => range(members, topics, &mut target),
        }
        target
    }
}

fn subscribers<'a>(
    members: &'a BTreeMap<String, ConsumerMember>,
    topic: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    members
        .values()
        .filter(move |m| m.subscribed_topic_names.contains(topic))
        .map(|m| m.member_id.as_str())
}

/// Kafka's `RangeAssignor`: for each topic, its subscribers in member id order get
/// contiguous ranges, the first `partitions % subscribers` one partition more.
fn range(
    members: &BTreeMap<String, ConsumerMember>,
    topics: &BTreeMap<String, TopicInfo>,
    target: &mut BTreeMap<String, Assignment>,
) {
    for (name, info) in topics {
        let subs: Vec<&str> = subscribers(members, name).collect();
        if subs.is_empty() {
            continue;
        }
        let count = info.partitions.max(0) as usize;
        let (each, extra) = (count / subs.len(), count % subs.len());
        let mut next = 0;
        for (i, member) in subs.iter().enumerate() {
            let n = each + usize::from(i < extra);
            let parts: BTreeSet<i32> = (next..next + n).map(|p| p as i32).collect();
            next += n;
            if let Some(a) = target.get_mut(*member)
                && !parts.is_empty()
            {
                a.insert(info.id, parts);
            }
        }
    }
}

/// Kafka's `UniformAssignor`: every member gets as many partitions as the others
/// (within one) among the topics it subscribes to, and keeps what it had in the
/// previous target as far as balance allows, so a rebalance moves few partitions.
fn uniform(
    members: &BTreeMap<String, ConsumerMember>,
    topics: &BTreeMap<String, TopicInfo>,
    previous: &BTreeMap<String, Assignment>,
    target: &mut BTreeMap<String, Assignment>,
) {
    let all: Vec<(&str, Uuid, i32)> = topics
        .iter()
        .flat_map(|(name, t)| (0..t.partitions).map(move |p| (name.as_str(), t.id, p)))
        .filter(|(name, _, _)| subscribers(members, name).next().is_some())
        .collect();
    let subscribed: Vec<&str> = members
        .values()
        .filter(|m| {
            m.subscribed_topic_names
                .iter()
                .any(|t| topics.contains_key(t))
        })
        .map(|m| m.member_id.as_str())
        .collect();
    if subscribed.is_empty() {
        return;
    }
    let floor = all.len() / subscribed.len();
    let mut extra_slots = all.len() % subscribed.len();
    let mut count: BTreeMap<&str, usize> = subscribed.iter().map(|m| (*m, 0)).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // Sticky pass: each member keeps its previous partitions up to the floor, and
    // one more while members above the floor are still allowed.
    for member in &subscribed {
        let Some(prev) = previous.get(*member) else {
            continue;
        };
        let m = &members[*member];
        let kept = all
            .iter()
            .filter(|(name, id, p)| {
                m.subscribed_topic_names.contains(*name)
                    && prev.get(id).is_some_and(|ps| ps.contains(p))
            })
            .collect::<Vec<_>>();
        for (_, id, p) in kept {
            let c = count.get(member).copied().unwrap_or(0);
            let allowed = c < floor || (c == floor && extra_slots > 0);
            if !allowed || !taken.insert((*id, *p)) {
                continue;
            }
            if c == floor {
                extra_slots -= 1;
            }
            count.insert(member, c + 1);
            if let Some(a) = target.get_mut(*member) {
                a.entry(*id).or_default().insert(*p);
            }
        }
    }
    // The rest go to the least loaded subscriber, member id breaking ties.
    for (name, id, p) in &all {
        if taken.contains(&(*id, *p)) {
            continue;
        }
        let Some(member) = subscribers(members, name).min_by_key(|m| (count.get(m).copied(), *m))
        else {
            continue;
        };
        *count.entry(member).or_default() += 1;
        if let Some(a) = target.get_mut(member) {
            a.entry(*id).or_default().insert(*p);
        }
    }
}
