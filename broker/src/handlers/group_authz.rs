//! The group APIs of KIP-848 and OffsetDelete as Kafka authorizes them, around the
//! group coordinator (which never sees what the principal may not touch):
//! - OffsetDelete: Delete on the group (else the group's GROUP_AUTHORIZATION_FAILED,
//!   nothing deleted), then Read on each topic (else its partitions'
//!   TOPIC_AUTHORIZATION_FAILED);
//! - ConsumerGroupHeartbeat: Read on the group (checked in the dispatch) and Describe on
//!   every subscribed topic name it sends, else TOPIC_AUTHORIZATION_FAILED (clients
//!   may not learn of topics they cannot describe);
//! - ConsumerGroupDescribe: Describe on each group, else its GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    OffsetDeleteRequest, OffsetDeleteResponse,
};
use tidewater_quorum::acl::{AclOperation, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

/// OffsetDelete's denials: `Err` with the whole answer when the group may not be
/// deleted from; else the topics without Read, taken out of `req`, answered.
pub fn offset_delete_split(
    broker: &Broker,
    ctx: &RequestContext,
    req: &mut OffsetDeleteRequest,
) -> Result<Vec<OffsetDeleteResponseTopic>, OffsetDeleteResponse> {
    if broker.authorizer().is_none() {
        return Ok(Vec::new());
    }
    let group = req.group_id.as_str();
    if !authz::allowed(
        broker,
        ctx,
        AclOperation::Delete,
        ResourceType::Group,
        group,
    ) {
        return Err(
            OffsetDeleteResponse::default().with_error_code(E::GroupAuthorizationFailed.code())
        );
    }
    let (ok, denied): (Vec<_>, Vec<_>) =
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            authz::allowed(
                broker,
                ctx,
                AclOperation::Read,
                ResourceType::Topic,
                &t.name,
            )
        });
    req.topics = ok;
    Ok(denied
        .into_iter()
        .map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(E::TopicAuthorizationFailed.code())
                        })
                        .collect(),
                )
        })
        .collect())
}

/// Appends the denied topics' answers to the coordinator's.
pub fn offset_delete_join(
    mut resp: OffsetDeleteResponse,
    denied: Vec<OffsetDeleteResponseTopic>,
) -> OffsetDeleteResponse {
    resp.topics.extend(denied);
    resp
}

/// Whether the heartbeat names a subscribed topic the principal may not Describe.
pub fn heartbeat_topics_denied(
    broker: &Broker,
    ctx: &RequestContext,
    req: &ConsumerGroupHeartbeatRequest,
) -> bool {
    let Some(topics) = req.subscribed_topic_names.as_ref() else {
        return false;
    };
    authz::denied_topics(
        broker,
        ctx,
        AclOperation::Describe,
        topics.iter().map(|t| t.as_str()),
    )
    .is_some_and(|denied| denied.contains(&true))
}

/// ConsumerGroupDescribe's groups without Describe, taken out of `req`, answered.
pub fn consumer_group_describe_split(
    broker: &Broker,
    ctx: &RequestContext,
    req: &mut ConsumerGroupDescribeRequest,
) -> Vec<DescribedGroup> {
    if broker.authorizer().is_none() {
        return Vec::new();
    }
    let (ok, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.group_ids)
        .into_iter()
        .partition(|g| authz::allowed(broker, ctx, AclOperation::Describe, ResourceType::Group, g));
    req.group_ids = ok;
    denied
        .into_iter()
        .map(|g| {
            DescribedGroup::default()
                .with_group_id(g)
                .with_error_code(E::GroupAuthorizationFailed.code())
        })
        .collect()
}

/// Appends the denied groups' answers (after the described ones, as Kafka lists them).
pub fn consumer_group_describe_join(
    mut resp: ConsumerGroupDescribeResponse,
    denied: Vec<DescribedGroup>,
) -> ConsumerGroupDescribeResponse {
    resp.groups.extend(denied);
    resp
}
