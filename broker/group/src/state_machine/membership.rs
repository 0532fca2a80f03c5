//! Heartbeat, LeaveGroup and the expiry of sessions and of MEMBER_ID_REQUIRED
//! members: everything that keeps a member in the group or takes it out.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{HeartbeatResponse, LeaveGroupResponse};

use super::join::validate_member;
use super::responses::{NO_ERROR, error_code, join_error, str_bytes, sync_error};
use super::{Core, Effect, Timer};
use crate::group::GroupState;

/// One member named in a LeaveGroup (v3+ batch, or the v0-2 single member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl Core {
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        now_ms: u64,
    ) -> HeartbeatResponse {
        let checked = self.heartbeat_error(group_id, member_id, instance, generation_id, now_ms);
        HeartbeatResponse::default().with_error_code(error_code(checked))
    }

    fn heartbeat_error(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        self.check_coordinator(group_id)?;
        let Some(group) = self.groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        validate_member(group, member_id, instance)?;
        if generation_id != group.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        let state = group.state;
        if state == GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        if let Some(member) = group.members.get_mut(member_id) {
            member.session_deadline_ms = now_ms + member.session_timeout_ms.max(0) as u64;
        }
        if state == GroupState::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup: v0-2 carry one member (its error becomes the top-level error),
    /// v3+ a batch with per-member errors.
    pub fn leave(
        &mut self,
        group_id: &str,
        leaving: Vec<LeavingMember>,
        version: i16,
        now_ms: u64,
    ) -> LeaveGroupResponse {
        let top =
            |error: ResponseError| LeaveGroupResponse::default().with_error_code(error.code());
        if group_id.is_empty() {
            return top(ResponseError::InvalidGroupId);
        }
        if let Err(error) = self.check_coordinator(group_id) {
            return top(error);
        }
        if self
            .groups
            .get(group_id)
            .is_some_and(|g| g.is(GroupState::Dead))
        {
            return top(ResponseError::CoordinatorNotAvailable);
        }
        let mut results = Vec::with_capacity(leaving.len());
        for member in &leaving {
            let error = error_code(self.leave_one(group_id, member, now_ms));
            results.push(
                MemberResponse::default()
                    .with_member_id(str_bytes(&member.member_id))
                    .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
                    .with_error_code(error),
            );
        }
        if version < 3 {
            let error = results.first().map_or(NO_ERROR, |r| r.error_code);
            return LeaveGroupResponse::default().with_error_code(error);
        }
        LeaveGroupResponse::default().with_members(results)
    }

    fn leave_one(
        &mut self,
        group_id: &str,
        leaving: &LeavingMember,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        let target = match &leaving.group_instance_id {
            Some(instance) => match group.static_member_id(instance) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(registered)
                    if !leaving.member_id.is_empty() && registered != leaving.member_id =>
                {
                    return Err(ResponseError::FencedInstanceId);
                }
                Some(registered) => registered.to_owned(),
            },
            None => {
                if group.pending_members.remove(&leaving.member_id).is_some() {
                    self.maybe_complete_join(group_id, now_ms);
                    return Ok(());
                }
                if !group.members.contains_key(&leaving.member_id) {
                    return Err(ResponseError::UnknownMemberId);
                }
                leaving.member_id.clone()
            }
        };
        tracing::info!(group = group_id, member = %target, "member left the group");
        self.remove_member_and_update(group_id, &target, now_ms);
        Ok(())
    }

    /// Kafka's `removeMemberAndUpdateGroup`: parked calls of the member are answered
    /// with UNKNOWN_MEMBER_ID, and the group rebalances (or finishes its join phase).
    pub(crate) fn remove_member_and_update(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: u64,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(member) = group.remove_member(member_id) else {
            return;
        };
        if member.awaiting_join {
            self.effects.push(Effect::Join {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
                response: join_error(
                    ResponseError::UnknownMemberId,
                    member_id,
                    member.join_version,
                ),
            });
        }
        if member.awaiting_sync {
            self.effects.push(Effect::Sync {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
                response: sync_error(ResponseError::UnknownMemberId),
            });
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(group_id, now_ms)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(group_id, now_ms),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// A timer fired for `group_id`.
    pub fn on_timer(&mut self, group_id: &str, timer: Timer, now_ms: u64) {
        match timer {
            Timer::Session { member_id, token } => {
                self.on_session_timer(group_id, &member_id, token, now_ms)
            }
            Timer::PendingMember { member_id, token } => {
                let Some(group) = self.groups.get_mut(group_id) else {
                    return;
                };
                if group.pending_members.get(&member_id) == Some(&token) {
                    group.pending_members.remove(&member_id);
                    tracing::info!(group = group_id, member = %member_id, "pending member expired");
                    self.maybe_complete_join(group_id, now_ms);
                }
            }
            Timer::Join { token } => self.on_join_timer(group_id, token, now_ms),
            Timer::Sync { token } => self.on_sync_timer(group_id, token, now_ms),
            Timer::ConsumerSession { member_id, token } => {
                self.on_consumer_session_timer(group_id, &member_id, token, now_ms)
            }
            Timer::ConsumerRevocation { member_id, token } => {
                self.on_consumer_revocation_timer(group_id, &member_id, token, now_ms)
            }
        }
    }

    fn on_session_timer(&mut self, group_id: &str, member_id: &str, token: u64, now_ms: u64) {
        let Some(member) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(member_id))
        else {
            return;
        };
        if member.timer_token != token {
            return;
        }
        if member.is_alive_at(now_ms) {
            if member.session_deadline_ms <= now_ms {
                // Parked in a join or sync: alive, check again a session later.
                member.session_deadline_ms = now_ms + member.session_timeout_ms.max(1) as u64;
            }
            let deadline = member.session_deadline_ms;
            self.arm(
                group_id,
                Timer::Session {
                    member_id: member_id.to_owned(),
                    token,
                },
                deadline,
            );
            return;
        }
        tracing::info!(
            group = group_id,
            member = member_id,
            "member session expired"
        );
        self.remove_member_and_update(group_id, member_id, now_ms);
    }
}
