//! Partition change building: target ISR/replicas in, a minimal `PartitionChange` out
//! (KRaft's `PartitionChangeBuilder`). Owns leader choice and reassignment completion,
//! so every path that changes a partition elects leaders the same way.
//!
//! Rules, as in Kafka: the ISR never becomes empty (the last member stays, so a clean
//! election stays possible when it returns); a valid current leader is kept unless a
//! preferred election asks otherwise; a new leader is the first replica (in replica
//! order) that is in the ISR and active; an unclean election picks the first active
//! replica and resets the ISR to it; otherwise the partition goes offline (leader -1).

use crate::image::MetadataImage;
use crate::records::{ConfigResourceType, NO_LEADER, PartitionChange, PartitionRecord};

pub(crate) const UNCLEAN_LEADER_ELECTION: &str = "unclean.leader.election.enable";

/// How to pick the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Election {
    /// Keep a valid leader; elect from the ISR only when it is not valid.
    Clean,
    /// Move leadership to the first replica when it is an active ISR member.
    Preferred,
    /// Like `Clean`, but fall back to any active replica (possible data loss).
    Unclean,
}

/// Desired partition state before leader election.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl Target {
    pub fn from(p: &PartitionRecord) -> Self {
        Self {
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            adding: p.adding_replicas.clone(),
            removing: p.removing_replicas.clone(),
        }
    }

    /// ISR without `broker`, unless that would empty it.
    pub fn without_isr_member(mut self, broker: i32) -> Self {
        if self.isr.iter().any(|b| *b != broker) {
            self.isr.retain(|b| *b != broker);
        }
        self
    }
}

/// Whether unclean election is enabled for `topic`: topic config, then the dynamic
/// cluster default, then the static controller setting.
pub(crate) fn unclean_enabled(image: &MetadataImage, topic: &str, static_default: bool) -> bool {
    let dynamic = image
        .config(ConfigResourceType::Topic, topic, UNCLEAN_LEADER_ELECTION)
        .or_else(|| image.config(ConfigResourceType::Broker, "", UNCLEAN_LEADER_ELECTION));
    match dynamic {
        Some(v) => v.eq_ignore_ascii_case("true"),
        None => static_default,
    }
}

/// Builds the change from `p` to `target` with the given election; `None` if nothing changes.
pub(crate) fn build_change(
    image: &MetadataImage,
    p: &PartitionRecord,
    mut target: Target,
    election: Election,
) -> Option<PartitionChange> {
    complete_reassignment_if_done(&mut target);
    let active = |b: i32| image.is_active_broker(b);
    let in_isr = |t: &Target, b: i32| t.isr.contains(&b);
    let valid =
        |t: &Target, b: i32| b != NO_LEADER && in_isr(t, b) && t.replicas.contains(&b) && active(b);

    let preferred = target
        .replicas
        .first()
        .copied()
        .filter(|b| valid(&target, *b));
    let leader = if let (Election::Preferred, Some(preferred)) = (election, preferred) {
        preferred
    } else if valid(&target, p.leader) {
        p.leader
    } else if let Some(b) = target.replicas.iter().copied().find(|b| valid(&target, *b)) {
        b
    } else if let (Election::Unclean, Some(b)) = (
        election,
        target.replicas.iter().copied().find(|b| active(*b)),
    ) {
        tracing::warn!(
            topic_id = p.topic_id,
            partition = p.partition,
            leader = b,
            isr = ?target.isr,
            "unclean leader election: electing a replica outside the ISR, data may be lost"
        );
        target.isr = vec![b];
        b
    } else {
        if p.leader != NO_LEADER {
            tracing::warn!(
                topic_id = p.topic_id,
                partition = p.partition,
                isr = ?target.isr,
                "partition offline: no ISR member is active and unclean leader election is disabled"
            );
        }
        NO_LEADER
    };

    let mut change = PartitionChange::new(p.topic_id, p.partition);
    if target.replicas != p.replicas {
        change.replicas = Some(target.replicas);
    }
    if target.isr != p.isr {
        change.isr = Some(target.isr);
    }
    if target.adding != p.adding_replicas {
        change.adding_replicas = Some(target.adding);
    }
    if target.removing != p.removing_replicas {
        change.removing_replicas = Some(target.removing);
    }
    if leader != p.leader {
        change.leader = Some(leader);
    }
    (!change.is_empty()).then_some(change)
}

/// A reassignment completes once every target replica is in the ISR: the removed
/// replicas leave the replica set and the ISR (Kafka's `tryCompleteReassignment`).
fn complete_reassignment_if_done(target: &mut Target) {
    if target.adding.is_empty() && target.removing.is_empty() {
        return;
    }
    let removing = target.removing.clone();
    let final_replicas: Vec<i32> = target
        .replicas
        .iter()
        .copied()
        .filter(|b| !removing.contains(b))
        .collect();
    if final_replicas.iter().all(|b| target.isr.contains(b)) {
        target.isr.retain(|b| !removing.contains(b));
        target.replicas = final_replicas;
        target.adding.clear();
        target.removing.clear();
    }
}
