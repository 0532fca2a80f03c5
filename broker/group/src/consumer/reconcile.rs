//! Kafka's `CurrentAssignmentBuilder`: moves one member from its current
//! assignment towards its target, one safe step at a time. A partition leaves a
//! member first (it is revoked and the member keeps its epoch until it
//! acknowledges by no longer listing it), and reaches its new owner only once no
//! other member owns it or has it pending revocation.

use super::{Assignment, ConsumerGroup, ConsumerMember, MemberState, intersects};

/// The member's next state given the group's target; `owned` is what the
/// heartbeat said the member owns (`None` when the request did not say).
pub fn next_assignment(
    group: &ConsumerGroup,
    member: &ConsumerMember,
    owned: Option<&Assignment>,
) -> ConsumerMember {
    let target_epoch = group.assignment_epoch;
    match member.state {
        MemberState::Stable if member.member_epoch == target_epoch => member.clone(),
        MemberState::UnrevokedPartitions => {
            // Still listing a partition it must give up: wait for it.
            if owned.is_none_or(|o| intersects(o, &member.pending_revocation)) {
                return member.clone();
            }
            let mut acked = member.clone();
            acked.pending_revocation.clear();
            compute(group, &acked)
        }
        _ => compute(group, member),
    }
}

fn compute(group: &ConsumerGroup, member: &ConsumerMember) -> ConsumerMember {
    let empty = Assignment::new();
    let target = group.target.get(&member.member_id).unwrap_or(&empty);
    let mut kept = Assignment::new();
    let mut to_revoke = Assignment::new();
    for (topic, partitions) in &member.assigned {
        for p in partitions {
            let into = if target.get(topic).is_some_and(|t| t.contains(p)) {
                &mut kept
            } else {
                &mut to_revoke
            };
            into.entry(*topic).or_default().insert(*p);
        }
    }
    let mut next = member.clone();
    if !to_revoke.is_empty() {
        // Revocation first; the epoch stays until the member acknowledges it.
        next.assigned = kept;
        next.pending_revocation = to_revoke;
        next.state = MemberState::UnrevokedPartitions;
        return next;
    }
    let mut unreleased = false;
    for (topic, partitions) in target {
        for p in partitions {
            if kept.get(topic).is_some_and(|k| k.contains(p)) {
                continue;
            }
            if group.owner(*topic, *p, &member.member_id).is_some() {
                unreleased = true;
            } else {
                kept.entry(*topic).or_default().insert(*p);
            }
        }
    }
    next.assigned = kept;
    next.pending_revocation.clear();
    next.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    if next.member_epoch != group.assignment_epoch {
        next.previous_member_epoch = member.member_epoch;
        next.member_epoch = group.assignment_epoch;
    }
    next
}
