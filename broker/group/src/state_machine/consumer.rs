//! ConsumerGroupHeartbeat (KIP-848, Kafka's `GroupMetadataManager.consumerGroupHeartbeat`):
//! joining, heartbeating and leaving a consumer group, with Kafka's validation and
//! fencing rules; the group epoch bumps on membership, subscription or topic
//! metadata changes, the target assignment is recomputed for a new group epoch, and
//! the member reconciles towards it. Session expiry removes a member.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ConsumerGroupHeartbeatResponse;
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};

use super::responses::str_bytes;
use super::{Core, Timer};
use crate::consumer::{
    Assignment, Assignor, ConsumerGroup, ConsumerMember, LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH, MemberState, TopicInfo, is_subset, normalized, reconcile,
    topic_partitions,
};
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group, GroupState};

/// A ConsumerGroupHeartbeat request, flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatArgs {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 when unchanged since the last heartbeat.
    pub rebalance_timeout_ms: i32,
    /// `None` when unchanged since the last heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns; `None` when unchanged.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
    pub version: i16,
}

/// Topic name -> id and partition count, as the broker's metadata knows it now.
pub type TopicLookup<'a> = &'a dyn Fn(&str) -> Option<TopicInfo>;

type Failure = (ResponseError, Option<String>);

fn fail(error: ResponseError, message: impl Into<String>) -> Failure {
    (error, Some(message.into()))
}

fn error_response((error, message): Failure) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(error.code())
        .with_error_message(message.map(|m| str_bytes(&m)))
        .with_member_epoch(-1)
}

impl Core {
    pub fn consumer_heartbeat(
        &mut self,
        args: HeartbeatArgs,
        now_ms: u64,
        topics: TopicLookup<'_>,
    ) -> ConsumerGroupHeartbeatResponse {
        let group_id = args.group_id.clone();
        let before = self.consumer_snapshot(&group_id);
        let result = self.try_consumer_heartbeat(args, now_ms, topics);
        self.store_consumer_group(&group_id, &before);
        match result {
            Ok(response) => response,
            Err(failure) => {
                tracing::debug!(error = ?failure.0, message = ?failure.1, "consumer group heartbeat refused");
                error_response(failure)
            }
        }
    }

    fn try_consumer_heartbeat(
        &mut self,
        mut args: HeartbeatArgs,
        now_ms: u64,
        topics: TopicLookup<'_>,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        validate(&args)?;
        self.check_coordinator(&args.group_id)
            .map_err(|e| (e, None))?;
        if args.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
            || args.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
        {
            return self.consumer_leave(&args, now_ms);
        }
        let group_id = args.group_id.clone();
        match self.groups.get(&group_id) {
            Some(g)
                if g.consumer.is_none() && !(g.is(GroupState::Empty) && g.members.is_empty()) =>
            {
                return Err(fail(
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} is not a consumer group."),
                ));
            }
            None if args.member_epoch != 0 => {
                return Err(fail(
                    ResponseError::GroupIdNotFound,
                    format!("Group {group_id} not found."),
                ));
            }
            _ => {}
        }
        if args.member_id.is_empty() {
            // Version 0: the coordinator names new members.
            args.member_id = uuid::Uuid::new_v4().to_string();
        }
        let max_size = usize::try_from(self.config.consumer_max_size).unwrap_or(0);
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, now_ms as i64));
        group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_owned());
        let consumer = group.consumer.get_or_insert_with(ConsumerGroup::default);
        let mut bump = false;
        let previous = if args.member_epoch == 0 {
            bump |= join_member(consumer, &args, max_size)?;
            consumer.members.get(&args.member_id).cloned()
        } else {
            Some(fence_member(consumer, &args)?)
        };
        let Some(previous) = previous else {
            return Err(fail(ResponseError::UnknownMemberId, "member vanished"));
        };
        let mut member = previous.clone();
        update_member(&mut member, &args);
        bump |= member.subscribed_topic_names != previous.subscribed_topic_names
            || member.server_assignor != previous.server_assignor;
        consumer.members.insert(member.member_id.clone(), member);
        let metadata = subscribed_metadata(consumer, topics);
        if metadata != consumer.topics {
            consumer.topics = metadata;
            bump = true;
        }
        if bump {
            consumer.group_epoch += 1;
        }
        if consumer.group_epoch > consumer.assignment_epoch {
            consumer.compute_target();
        }
        let current = consumer.members[&args.member_id].clone();
        let mut next = reconcile::next_assignment(consumer, &current, args.owned.as_ref());
        if next.state == MemberState::UnrevokedPartitions
            && previous.state != MemberState::UnrevokedPartitions
        {
            next.revocation_token = self.arm_revocation(
                &group_id,
                &next.member_id,
                next.rebalance_timeout_ms,
                now_ms,
            );
        }
        let token = self.token();
        next.timer_token = token;
        let session = self.config.consumer_session_timeout_ms.max(0) as u64;
        next.session_deadline_ms = now_ms + session;
        let changed =
            next.assigned != previous.assigned || next.member_epoch != previous.member_epoch;
        let send_assignment = args.member_epoch == 0
            || changed
            || args
                .owned
                .as_ref()
                .is_some_and(|o| normalized(o) != next.assigned);
        let response = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&next.member_id)))
            .with_member_epoch(next.member_epoch)
            .with_heartbeat_interval_ms(self.config.consumer_heartbeat_interval_ms)
            .with_assignment(send_assignment.then(|| wire_assignment(&next.assigned)));
        let member_id = next.member_id.clone();
        if let Some(consumer) = self
            .groups
            .get_mut(&group_id)
            .and_then(|g| g.consumer.as_mut())
        {
            consumer.members.insert(member_id.clone(), next);
        }
        self.arm(
            &group_id,
            Timer::ConsumerSession { member_id, token },
            now_ms + session,
        );
        Ok(response)
    }

    /// Epoch -1 leaves for good; epoch -2 (a static member) keeps its partitions
    /// reserved until its session expires or its instance rejoins.
    fn consumer_leave(
        &mut self,
        args: &HeartbeatArgs,
        now_ms: u64,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        let consumer = self
            .groups
            .get_mut(&args.group_id)
            .and_then(|g| g.consumer.as_mut())
            .ok_or_else(|| {
                fail(
                    ResponseError::GroupIdNotFound,
                    format!("Group {} not found.", args.group_id),
                )
            })?;
        let member_id = match &args.instance_id {
            Some(instance) => consumer
                .static_members
                .get(instance)
                .cloned()
                .ok_or_else(|| {
                    fail(
                        ResponseError::UnknownMemberId,
                        format!("Instance id {instance} is unknown."),
                    )
                })?,
            None => args.member_id.clone(),
        };
        if member_id != args.member_id {
            return Err(fail(
                ResponseError::FencedInstanceId,
                format!("Instance id belongs to member {member_id}."),
            ));
        }
        if !consumer.members.contains_key(&member_id) {
            return Err(fail(
                ResponseError::UnknownMemberId,
                format!(
                    "Member {member_id} is not a member of group {}.",
                    args.group_id
                ),
            ));
        }
        if args.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            if let Some(m) = consumer.members.get_mut(&member_id) {
                m.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            }
        } else {
            self.remove_consumer_member(&args.group_id, &member_id, now_ms);
        }
        Ok(ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&member_id)))
            .with_member_epoch(args.member_epoch)
            .with_heartbeat_interval_ms(0))
    }

    pub(super) fn remove_consumer_member(&mut self, group_id: &str, member_id: &str, now_ms: u64) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(consumer) = group.consumer.as_mut() else {
            return;
        };
        if consumer.remove_member(member_id).is_some() {
            consumer.group_epoch += 1;
            tracing::info!(
                group = group_id,
                member = member_id,
                "consumer member removed"
            );
        }
        if consumer.members.is_empty() {
            // The classic side's Empty timestamp is where KIP-211 expiry counts from.
            group.state_timestamp_ms = now_ms as i64;
        }
    }
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
fn validate(args: &HeartbeatArgs) -> Result<(), Failure> {
    let invalid = |m: &str| Err(fail(ResponseError::InvalidRequest, m));
    if args.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if args.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if args.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if args.version >= 1 && args.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    // librdkafka 2.x sends an empty regex alongside topic names.
    if args
        .subscribed_topic_regex
        .as_deref()
        .is_some_and(|r| !r.is_empty())
    {
        return invalid("SubscribedTopicRegex is not supported by this broker.");
    }
    match args.member_epoch {
        0 => {
            if args.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            // Kafka insists on an empty list; librdkafka 2.x sends none at all.
            if args.owned.as_ref().is_some_and(|o| !o.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if args.subscribed_topic_names.is_none() {
                return invalid("SubscribedTopicNames must be set in first request.");
            }
        }
        LEAVE_GROUP_STATIC_MEMBER_EPOCH if args.instance_id.is_none() => {
            return invalid("InstanceId can't be null when leaving as a static member.");
        }
        e if e < LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
            return invalid(&format!("MemberEpoch {e} is invalid."));
        }
        e if e != 0 && args.member_id.is_empty() => {
            return invalid("MemberId can't be empty.");
        }
        _ => {}
    }
    if let Some(name) = &args.server_assignor
        && Assignor::parse(name).is_none()
    {
        return Err(fail(
            ResponseError::UnsupportedAssignor,
            format!("ServerAssignor {name} is not supported. Supported assignors: uniform, range."),
        ));
    }
    Ok(())
}

/// A member joining (epoch 0): new, a static instance taking over the member it
/// replaces, or a known member rejoining with nothing owned. Returns whether the
/// group epoch must bump.
fn join_member(
    consumer: &mut ConsumerGroup,
    args: &HeartbeatArgs,
    max_size: usize,
) -> Result<bool, Failure> {
    if let Some(instance) = &args.instance_id
        && let Some(old_id) = consumer.static_members.get(instance).cloned()
        && old_id != args.member_id
    {
        let Some(old) = consumer.members.get(&old_id) else {
            return Ok(false);
        };
        if !old.left_static() {
            return Err(fail(
                ResponseError::UnreleasedInstanceId,
                format!(
                    "Static member {old_id} with instance id {instance} is still in the group."
                ),
            ));
        }
        // KIP-848 static membership: the new member takes the old one's place, its
        // epoch and assignment, without a rebalance.
        let mut replacement = old.clone();
        replacement.member_id = args.member_id.clone();
        replacement.member_epoch = old.previous_member_epoch.max(0);
        if let Some(target) = consumer.target.remove(&old_id) {
            consumer.target.insert(args.member_id.clone(), target);
        }
        consumer.members.remove(&old_id);
        consumer.members.insert(args.member_id.clone(), replacement);
        consumer
            .static_members
            .insert(instance.clone(), args.member_id.clone());
        return Ok(false);
    }
    if let Some(existing) = consumer.members.get_mut(&args.member_id) {
        // A member rejoining after it was fenced: it gave everything up.
        existing.assigned.clear();
        existing.pending_revocation.clear();
        existing.previous_member_epoch = existing.member_epoch;
        existing.member_epoch = 0;
        existing.state = crate::consumer::MemberState::Stable;
        return Ok(true);
    }
    if consumer.members.len() >= max_size {
        return Err(fail(
            ResponseError::GroupMaxSizeReached,
            format!("The consumer group has reached its maximum capacity of {max_size} members."),
        ));
    }
    let mut member = ConsumerMember::new(args.member_id.clone());
    member.instance_id = args.instance_id.clone();
    if let Some(instance) = &args.instance_id {
        consumer
            .static_members
            .insert(instance.clone(), args.member_id.clone());
    }
    consumer.members.insert(args.member_id.clone(), member);
    Ok(true)
}

/// Kafka's `throwIfMemberEpochIsInvalid`: a member ahead of the coordinator, or
/// behind it other than by a retried heartbeat of its previous epoch, is fenced.
fn fence_member(consumer: &ConsumerGroup, args: &HeartbeatArgs) -> Result<ConsumerMember, Failure> {
    let member = consumer.members.get(&args.member_id).ok_or_else(|| {
        fail(
            ResponseError::UnknownMemberId,
            format!("Member {} is not a member of the group.", args.member_id),
        )
    })?;
    if let Some(instance) = &args.instance_id
        && consumer.static_members.get(instance) != Some(&args.member_id)
    {
        return Err(fail(
            ResponseError::FencedInstanceId,
            format!("Instance id {instance} belongs to another member."),
        ));
    }
    let received = args.member_epoch;
    let fenced = received > member.member_epoch
        || (received < member.member_epoch
            && !(received == member.previous_member_epoch
                && args
                    .owned
                    .as_ref()
                    .is_some_and(|o| is_subset(o, &member.assigned))));
    if fenced {
        return Err(fail(
            ResponseError::FencedMemberEpoch,
            format!(
                "The consumer group member has a smaller member epoch ({received}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                member.member_epoch
            ),
        ));
    }
    Ok(member.clone())
}

fn update_member(member: &mut ConsumerMember, args: &HeartbeatArgs) {
    if args.rebalance_timeout_ms != -1 {
        member.rebalance_timeout_ms = args.rebalance_timeout_ms;
    }
    if let Some(names) = &args.subscribed_topic_names {
        member.subscribed_topic_names = names.iter().cloned().collect();
    }
    if args.server_assignor.is_some() {
        member.server_assignor = args.server_assignor.clone();
    }
    if args.rack_id.is_some() {
        member.rack_id = args.rack_id.clone();
    }
    member.client_id = args.client_id.clone();
    member.client_host = args.client_host.clone();
}

fn subscribed_metadata(
    consumer: &ConsumerGroup,
    topics: TopicLookup<'_>,
) -> BTreeMap<String, TopicInfo> {
    consumer
        .subscribed_topics()
        .into_iter()
        .filter_map(|name| topics(&name).map(|info| (name, info)))
        .collect()
}

fn wire_assignment(assigned: &Assignment) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        topic_partitions(assigned)
            .map(|(id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_partitions(ps)
            })
            .collect(),
    )
}
