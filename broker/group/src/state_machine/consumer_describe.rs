//! ConsumerGroupDescribe (API 69): consumer groups as `kafka-consumer-groups
//! --describe` and AdminClient's `describeConsumerGroups` read them. A classic
//! group answers GROUP_ID_NOT_FOUND, which makes AdminClient fall back to
//! DescribeGroups, as against Kafka.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as WireAssignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeResponse, GroupId, TopicName};

use super::Core;
use super::responses::str_bytes;
use crate::consumer::{Assignment, ConsumerGroup, topic_partitions};

/// KIP-1099's member type of a consumer-protocol member.
const MEMBER_TYPE_CONSUMER: i8 = 1;

impl Core {
    pub fn consumer_group_describe(&self, group_ids: &[GroupId]) -> ConsumerGroupDescribeResponse {
        let groups = group_ids
            .iter()
            .map(|id| self.describe_consumer_group(id))
            .collect();
        ConsumerGroupDescribeResponse::default().with_groups(groups)
    }

    /// The consumer group state of `group_id` (`None` for a classic or unknown group).
    pub fn consumer_group_state(&self, group_id: &str) -> Option<&'static str> {
        self.groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .map(|c| c.state_name())
    }

    fn describe_consumer_group(&self, id: &GroupId) -> DescribedGroup {
        let base = DescribedGroup::default()
            .with_group_id(id.clone())
            .with_authorized_operations(i32::MIN);
        let group_id = id.as_str();
        if let Err(error) = self.check_coordinator(group_id) {
            return base.with_error_code(error.code());
        }
        let consumer = self.groups.get(group_id).and_then(|g| g.consumer.as_ref());
        let Some(consumer) = consumer else {
            let message = match self.groups.get(group_id) {
                Some(_) => format!("Group {group_id} is not a consumer group."),
                None => format!("Group {group_id} not found."),
            };
            return base
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(str_bytes(&message)));
        };
        let members = consumer
            .members
            .values()
            .map(|m| {
                let empty = Assignment::new();
                Member::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                    .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                    .with_member_epoch(m.member_epoch)
                    .with_client_id(str_bytes(&m.client_id))
                    .with_client_host(str_bytes(&m.client_host))
                    .with_subscribed_topic_names(
                        m.subscribed_topic_names
                            .iter()
                            .map(|t| TopicName(str_bytes(t)))
                            .collect(),
                    )
                    .with_assignment(wire(consumer, &m.assigned))
                    .with_target_assignment(wire(
                        consumer,
                        consumer.target.get(&m.member_id).unwrap_or(&empty),
                    ))
                    .with_member_type(MEMBER_TYPE_CONSUMER)
            })
            .collect();
        base.with_group_state(str_bytes(consumer.state_name()))
            .with_group_epoch(consumer.group_epoch)
            .with_assignment_epoch(consumer.assignment_epoch)
            .with_assignor_name(str_bytes(consumer.assignor().name()))
            .with_members(members)
    }
}

fn wire(consumer: &ConsumerGroup, assignment: &Assignment) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        topic_partitions(assignment)
            .map(|(id, ps)| {
                let name = consumer.topic_name(id).unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partitions(ps)
            })
            .collect(),
    )
}
