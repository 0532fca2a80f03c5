//! JoinGroup (Kafka's `classicGroupJoin`): validation, new dynamic members
//! (MEMBER_ID_REQUIRED from v4), static members (KIP-345) replacing their previous
//! instance, and known members rejoining.

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::responses::{join_error, join_success};
use super::{Core, Reply, Timer};
use crate::config::NEW_MEMBER_JOIN_TIMEOUT_MS;
use crate::group::{Group, GroupState, Member};

/// A JoinGroup request, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinArgs {
    pub group_id: String,
    /// Empty for a member's first join.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    pub version: i16,
}

impl Core {
    pub fn join(
        &mut self,
        args: JoinArgs,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let v = args.version;
        let fail =
            |error: ResponseError, member_id: &str| Reply::Now(join_error(error, member_id, v));
        if args.group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId, &args.member_id);
        }
        if let Err(error) = self.check_coordinator(&args.group_id) {
            return fail(error, &args.member_id);
        }
        if args.session_timeout_ms < self.config.min_session_timeout_ms
            || args.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout, &args.member_id);
        }
        let is_new_group = !self.groups.contains_key(&args.group_id);
        if is_new_group {
            if !args.member_id.is_empty() {
                return fail(ResponseError::UnknownMemberId, &args.member_id);
            }
            self.groups.insert(
                args.group_id.clone(),
                Group::new(&args.group_id, now_ms as i64),
            );
        }
        let group_id = args.group_id.clone();
        if let Some(group) = self.groups.get_mut(&group_id) {
            if group.has_consumer_members() {
                return fail(ResponseError::InconsistentGroupProtocol, &args.member_id);
            }
            // An empty consumer group becomes a classic one again.
            group.consumer = None;
        }
        let reply = match self.groups.get(&group_id) {
            Some(group) if !self.accepts_joining_member(group, &args.member_id) => {
                fail(ResponseError::GroupMaxSizeReached, &args.member_id)
            }
            Some(_) if args.member_id.is_empty() => self.join_new_member(args, now_ms),
            Some(_) => self.join_existing_member(args, now_ms),
            None => fail(ResponseError::CoordinatorNotAvailable, &args.member_id),
        };
        // A group created by a join that failed must not linger.
        if is_new_group
            && let Some(group) = self.groups.get(&group_id)
            && group.is(GroupState::Empty)
            && group.members.is_empty()
            && group.pending_members.is_empty()
            && group.offsets.is_empty()
        {
            self.groups.remove(&group_id);
        }
        reply
    }

    /// Kafka's `acceptJoiningMember`: `group.max.size` counts members that will be in
    /// the next generation.
    fn accepts_joining_member(&self, group: &Group, member_id: &str) -> bool {
        let max = usize::try_from(self.config.max_size).unwrap_or(0);
        let known = group.members.get(member_id);
        match group.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                known.is_some_and(|m| m.awaiting_join)
                    || group.members.values().filter(|m| m.awaiting_join).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                known.is_some()
                    || group.pending_members.contains_key(member_id)
                    || group.members.len() < max
            }
        }
    }

    fn join_new_member(
        &mut self,
        args: JoinArgs,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let v = args.version;
        let Some(group) = self.groups.get(&args.group_id) else {
            return Reply::Now(join_error(ResponseError::CoordinatorNotAvailable, "", v));
        };
        if !group.supports_protocols(&args.protocol_type, &args.protocols) {
            return Reply::Now(join_error(ResponseError::InconsistentGroupProtocol, "", v));
        }
        let prefix = args.group_instance_id.as_deref().unwrap_or(&args.client_id);
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance) = args.group_instance_id.clone() {
            return match group.static_member_id(&instance).map(str::to_owned) {
                Some(old_member_id) => {
                    self.replace_static_member(args, &old_member_id, member_id, now_ms)
                }
                None => self.add_member_and_rebalance(args, member_id, now_ms),
            };
        }
        if v >= 4 {
            // KIP-394: hand out the id first; the member joins for real with it.
            let token = self.token();
            let deadline = now_ms + args.session_timeout_ms.max(0) as u64;
            if let Some(group) = self.groups.get_mut(&args.group_id) {
                group.pending_members.insert(member_id.clone(), token);
            }
            self.arm(
                &args.group_id,
                Timer::PendingMember {
                    member_id: member_id.clone(),
                    token,
                },
                deadline,
            );
            return Reply::Now(join_error(ResponseError::MemberIdRequired, &member_id, v));
        }
        self.add_member_and_rebalance(args, member_id, now_ms)
    }

    fn join_existing_member(
        &mut self,
        args: JoinArgs,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let v = args.version;
        let Some(group) = self.groups.get(&args.group_id) else {
            return Reply::Now(join_error(
                ResponseError::CoordinatorNotAvailable,
                &args.member_id,
                v,
            ));
        };
        if !group.supports_protocols(&args.protocol_type, &args.protocols) {
            return Reply::Now(join_error(
                ResponseError::InconsistentGroupProtocol,
                &args.member_id,
                v,
            ));
        }
        if group.pending_members.contains_key(&args.member_id) {
            let member_id = args.member_id.clone();
            return self.add_member_and_rebalance(args, member_id, now_ms);
        }
        if let Err(error) =
            validate_member(group, &args.member_id, args.group_instance_id.as_deref())
        {
            return Reply::Now(join_error(error, &args.member_id, v));
        }
        let Some(member) = group.members.get(&args.member_id) else {
            return Reply::Now(join_error(
                ResponseError::UnknownMemberId,
                &args.member_id,
                v,
            ));
        };
        let unchanged = member.matches(&args.protocols);
        match group.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(args, now_ms),
            GroupState::CompletingRebalance if unchanged => {
                // A retried join: answer with the generation it already belongs to.
                Reply::Now(join_success(group, &args.member_id, v, false))
            }
            GroupState::Stable if unchanged && !group.is_leader(&args.member_id) => {
                Reply::Now(join_success(group, &args.member_id, v, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(args, now_ms)
            }
            GroupState::Empty | GroupState::Dead => Reply::Now(join_error(
                ResponseError::UnknownMemberId,
                &args.member_id,
                v,
            )),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        args: JoinArgs,
        member_id: String,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let token = self.token();
        // KIP-394: a new member that never completes the join is dropped after
        // NewMemberJoinTimeoutMs rather than its (possibly long) session timeout.
        let deadline = now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS;
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: args.group_instance_id.clone(),
            client_id: args.client_id.clone(),
            client_host: args.client_host.clone(),
            rebalance_timeout_ms: args.rebalance_timeout_ms,
            session_timeout_ms: args.session_timeout_ms,
            protocols: args.protocols,
            assignment: Bytes::new(),
            join_version: args.version,
            awaiting_join: true,
            awaiting_sync: false,
            is_new: true,
            session_deadline_ms: deadline,
            timer_token: token,
        };
        if let Some(group) = self.groups.get_mut(&args.group_id) {
            if group.members.is_empty() {
                group.protocol_type = Some(args.protocol_type.clone());
            }
            if group.is(GroupState::PreparingRebalance)
                && group.initial_delay_remaining_ms.is_some()
            {
                group.new_member_added = true;
            }
            group.add_member(member);
        }
        self.arm(
            &args.group_id,
            Timer::Session {
                member_id: member_id.clone(),
                token,
            },
            deadline,
        );
        self.rebalance_and_park(&args.group_id, member_id, now_ms)
    }

    fn update_member_and_rebalance(
        &mut self,
        args: JoinArgs,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        let member_id = args.member_id.clone();
        if let Some(member) = self
            .groups
            .get_mut(&args.group_id)
            .and_then(|g| g.members.get_mut(&member_id))
        {
            member.protocols = args.protocols;
            member.rebalance_timeout_ms = args.rebalance_timeout_ms;
            member.session_timeout_ms = args.session_timeout_ms;
            member.join_version = args.version;
            member.awaiting_join = true;
        }
        self.rebalance_and_park(&args.group_id, member_id, now_ms)
    }

    /// After a member (re)joins: start a rebalance if none is preparing, complete
    /// the join phase if that was the last member, and park the member's JoinGroup.
    pub(super) fn rebalance_and_park(
        &mut self,
        group_id: &str,
        member_id: String,
        now_ms: u64,
    ) -> Reply<kafka_protocol::messages::JoinGroupResponse> {
        self.maybe_prepare_rebalance(group_id, now_ms);
        self.maybe_complete_join(group_id, now_ms);
        Reply::Parked { member_id }
    }
}

/// Kafka's `validateCurrentMember`: a fenced static instance, an unknown member, or
/// a member id used with another instance id.
pub(crate) fn validate_member(
    group: &Group,
    member_id: &str,
    instance: Option<&str>,
) -> Result<(), ResponseError> {
    if group.is_static_member_fenced(instance, member_id) {
        return Err(ResponseError::FencedInstanceId);
    }
    let Some(member) = group.members.get(member_id) else {
        return Err(ResponseError::UnknownMemberId);
    };
    if instance.is_some() && member.group_instance_id.as_deref() != instance {
        return Err(ResponseError::FencedInstanceId);
    }
    Ok(())
}
