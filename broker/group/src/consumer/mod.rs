//! One KIP-848 consumer group's data (Kafka's `ConsumerGroup` /
//! `ConsumerGroupMember`): the group epoch, the target assignment and its epoch,
//! and every member's epoch, subscription and current assignment, with the pure
//! rules over them: the server-side assignors ([`assignor`]) and the reconciliation
//! of a member towards its target ([`reconcile`]). What happens on a heartbeat or
//! a timer lives in `state_machine::consumer`; this module never queues effects.

pub mod assignor;
pub mod reconcile;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

pub use assignor::Assignor;

/// Partitions by topic id, as ConsumerGroupHeartbeat carries them.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A subscribed topic as the assignment saw it: id and partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: Uuid,
    pub partitions: i32,
}

/// Kafka's `MemberState` of a consumer-protocol member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns exactly its target assignment at the group's assignment epoch.
    Stable,
    /// Must revoke `pending_revocation` before it gets anything new.
    UnrevokedPartitions,
    /// Waits for partitions that other members have not released yet.
    UnreleasedPartitions,
}

/// One consumer-protocol member.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: BTreeSet<String>,
    pub server_assignor: Option<String>,
    /// The epoch the member's assignment belongs to; -2 once a static member left
    /// (its partitions stay reserved until its session expires or it rejoins).
    pub member_epoch: i32,
    /// The epoch before the last bump: a heartbeat retried with it is not fenced.
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// What the member owns now (what the heartbeat response tells it).
    pub assigned: Assignment,
    /// Partitions the member was told to give up and has not acknowledged yet;
    /// nobody else gets them until it does.
    pub pending_revocation: Assignment,
    pub session_deadline_ms: u64,
    /// Token of the member's live session timer.
    pub timer_token: u64,
    /// Token of the rebalance-timeout timer armed when it was asked to revoke.
    pub revocation_token: u64,
}

impl ConsumerMember {
    pub fn new(member_id: String) -> Self {
        Self {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: -1,
            subscribed_topic_names: BTreeSet::new(),
            server_assignor: None,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline_ms: 0,
            timer_token: 0,
            revocation_token: 0,
        }
    }

    /// Whether a static member left with epoch -2 and may be replaced by its
    /// instance rejoining.
    pub fn left_static(&self) -> bool {
        self.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
    }
}

/// The epoch a member sends to leave.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The epoch a static member sends to leave temporarily (KIP-848).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// A consumer group: Kafka's `ConsumerGroup`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerGroup {
    /// Bumped whenever membership, a subscription or subscribed topic metadata changes.
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed for.
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Each member's target partitions at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' metadata the last group epoch was computed with; a
    /// change (a topic created, partitions added) bumps the group epoch.
    pub topics: BTreeMap<String, TopicInfo>,
    /// `group.instance.id` -> member id of static members.
    pub static_members: HashMap<String, String>,
}

impl ConsumerGroup {
    /// Kafka's consumer group states, as ListGroups and ConsumerGroupDescribe name them.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor of the group: the one members asked for (the most common, as
    /// Kafka picks), else the default `uniform`.
    pub fn assignor(&self) -> Assignor {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for name in self
            .members
            .values()
            .filter_map(|m| m.server_assignor.as_deref())
        {
            *counts.entry(name).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .and_then(|(name, _)| Assignor::parse(name))
            .unwrap_or_default()
    }

    /// The member (other than `except`) that owns `tp`, or has it pending revocation.
    pub fn owner(&self, topic: Uuid, partition: i32, except: &str) -> Option<&str> {
        self.members
            .values()
            .filter(|m| m.member_id != except)
            .find(|m| {
                contains(&m.assigned, topic, partition)
                    || contains(&m.pending_revocation, topic, partition)
            })
            .map(|m| m.member_id.as_str())
    }

    /// Union of every member's subscribed topic names.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// The name of a topic id the group's metadata knows.
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(name, _)| name.as_str())
    }

    /// Recomputes the target assignment for the current group epoch.
    pub fn compute_target(&mut self) {
        let assignor = self.assignor();
        self.target = assignor.assign(&self.members, &self.topics, &self.target);
        self.assignment_epoch = self.group_epoch;
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`: a commit without member id and
    /// with a negative epoch comes from an admin or a simple consumer; any other
    /// names a member and its current epoch.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        instance: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), kafka_protocol::ResponseError> {
        use kafka_protocol::ResponseError as E;
        if member_epoch < 0 && member_id.is_empty() && instance.is_none() {
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or(E::UnknownMemberId)?;
        if member.member_epoch != member_epoch {
            return Err(E::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        let member = self.members.remove(member_id)?;
        self.target.remove(member_id);
        if let Some(instance) = &member.instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        Some(member)
    }
}

pub(crate) fn contains(a: &Assignment, topic: Uuid, partition: i32) -> bool {
    a.get(&topic).is_some_and(|p| p.contains(&partition))
}

/// Whether `a` and `b` share a partition.
pub(crate) fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|other| !ps.is_disjoint(other)))
}

/// Whether every partition of `a` is in `b`.
pub(crate) fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|other| ps.is_subset(other)))
}

/// Each topic of `a` that has partitions, with them in order: the shape of every
/// assignment field on the wire.
pub(crate) fn topic_partitions(a: &Assignment) -> impl Iterator<Item = (Uuid, Vec<i32>)> + '_ {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
}

/// `a` without empty topic entries, so two assignments compare by partitions only.
pub(crate) fn normalized(a: &Assignment) -> Assignment {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
