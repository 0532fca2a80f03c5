//! Static membership (KIP-345): a restarted static member takes over its previous
//! incarnation's place by `group.instance.id`. The old member id is fenced; in a
//! Stable group with unchanged protocols the assignment is kept without a
//! rebalance, answered once the new member id is stored and undone if it is not.

use kafka_protocol::ResponseError;

use super::join::JoinArgs;
use super::responses::{join_error, join_success, sync_error};
use super::{AfterPersist, Core, Effect, Reply, StaticReplacement, Timer, store_group_error};
use crate::group::GroupState;

impl Core {
    /// KIP-345: a static member restarted with a new member id. The old instance is
    /// fenced (its parked calls get FENCED_INSTANCE_ID); a Stable group whose
    /// protocol does not change keeps its assignment without a rebalance.
    pub(super) fn replace_static_member(
        &mut self,
        args: JoinArgs,
        old_member_id: &str,
        new_member_id: String,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let v = args.version;
        let group_id = args.group_id.clone();
        let Some(group) = self.groups.get_mut(&group_id) else {
            return Reply::Now(join_error(ResponseError::CoordinatorNotAvailable, "", v));
        };
        let Some(mut member) = group.members.get(old_member_id).cloned() else {
            return Reply::Now(join_error(ResponseError::UnknownMemberId, "", v));
        };
        let previous = member.clone();
        let mut fenced = Vec::new();
        if member.awaiting_join {
            fenced.push(Effect::Join {
                group: group_id.clone(),
                member_id: old_member_id.to_owned(),
                response: join_error(
                    ResponseError::FencedInstanceId,
                    old_member_id,
                    member.join_version,
                ),
            });
        }
        if member.awaiting_sync {
            fenced.push(Effect::Sync {
                group: group_id.clone(),
                member_id: old_member_id.to_owned(),
                response: sync_error(ResponseError::FencedInstanceId),
            });
        }
        let was_leader = group.is_leader(old_member_id);
        let old_protocol = group.protocol_name.clone();
        // Swap the member in place so join order (and thus leadership) is kept.
        let index = group.members.get_index_of(old_member_id);
        group.members.shift_remove(old_member_id);
        let token = self.next_token + 1;
        self.next_token = token;
        member.member_id = new_member_id.clone();
        member.protocols = args.protocols;
        member.rebalance_timeout_ms = args.rebalance_timeout_ms;
        member.session_timeout_ms = args.session_timeout_ms;
        member.join_version = v;
        member.awaiting_join = false;
        member.awaiting_sync = false;
        member.session_deadline_ms = now_ms + args.session_timeout_ms.max(0) as u64;
        member.timer_token = token;
        let deadline = member.session_deadline_ms;
        let group = match self.groups.get_mut(&group_id) {
            Some(g) => g,
            None => return Reply::Now(join_error(ResponseError::CoordinatorNotAvailable, "", v)),
        };
        let end = group.members.len();
        group.members.insert(new_member_id.clone(), member);
        if let Some(i) = index {
            group.members.move_index(end, i.min(end));
        }
        if let Some(instance) = &args.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), new_member_id.clone());
        }
        if was_leader {
            group.leader_id = Some(new_member_id.clone());
        }
        if group.pending_sync.remove(old_member_id) {
            group.pending_sync.insert(new_member_id.clone());
        }
        self.effects.extend(fenced);
        self.arm(
            &group_id,
            Timer::Session {
                member_id: new_member_id.clone(),
                token,
            },
            deadline,
        );

        let Some(group) = self.groups.get(&group_id) else {
            return Reply::Now(join_error(ResponseError::CoordinatorNotAvailable, "", v));
        };
        if group.is(GroupState::Stable) && group.select_protocol() == old_protocol {
            // Persist the new member id so a restart does not resurrect the old one,
            // and answer with the current generation; the leader may skip assigning.
            let is_leader = group.is_leader(&new_member_id);
            let response = join_success(group, &new_member_id, v, is_leader);
            let replacement = StaticReplacement {
                group: group_id.clone(),
                new_member_id: new_member_id.clone(),
                previous,
                index: index.unwrap_or(0),
                response,
                version: v,
            };
            self.store_group_then(
                &group_id,
                AfterPersist::StaticMemberReplaced(Box::new(replacement)),
            );
            return Reply::Parked {
                member_id: new_member_id,
            };
        }
        // Otherwise the replacement joins the (next) rebalance like any rejoin.
        if let Some(member) = self
            .groups
            .get_mut(&group_id)
            .and_then(|g| g.members.get_mut(&new_member_id))
        {
            member.awaiting_join = true;
        }
        self.rebalance_and_park(&group_id, new_member_id, now_ms)
    }

    /// The stored result of a static member replacement: answer the new instance,
    /// or put the previous member back and answer with the mapped append error.
    pub(super) fn on_static_member_stored(
        &mut self,
        r: StaticReplacement,
        result: Result<(), ResponseError>,
    ) {
        let response = match result {
            Ok(()) => r.response,
            Err(append_error) => {
                if let Some(group) = self.groups.get_mut(&r.group) {
                    group.members.shift_remove(&r.new_member_id);
                    let previous_id = r.previous.member_id.clone();
                    if let Some(instance) = &r.previous.group_instance_id {
                        group
                            .static_members
                            .insert(instance.clone(), previous_id.clone());
                    }
                    if group.is_leader(&r.new_member_id) {
                        group.leader_id = Some(previous_id.clone());
                    }
                    if group.pending_sync.remove(&r.new_member_id) {
                        group.pending_sync.insert(previous_id.clone());
                    }
                    let (token, deadline) =
                        (r.previous.timer_token, r.previous.session_deadline_ms);
                    let end = group.members.len();
                    group.members.insert(previous_id.clone(), r.previous);
                    group.members.move_index(end, r.index.min(end));
                    self.arm(
                        &r.group,
                        Timer::Session {
                            member_id: previous_id,
                            token,
                        },
                        deadline,
                    );
                }
                join_error(store_group_error(append_error), &r.new_member_id, r.version)
            }
        };
        self.effects.push(Effect::Join {
            group: r.group,
            member_id: r.new_member_id,
            response,
        });
    }
}
