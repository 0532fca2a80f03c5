//! The one question handlers ask before acting on a resource: may this request's
//! principal perform the operation? Always yes without `authorizer.class.name`;
//! otherwise the StandardAuthorizer's answer over this broker's current image, so an
//! ACL change applies to a live connection's next request.

use std::collections::HashMap;

use tidewater_quorum::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::RequestContext;
use crate::broker_server::Broker;
use crate::security::acl::Caller;

pub fn allowed(
    broker: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    let Some(authorizer) = broker.authorizer() else {
        return true;
    };
    let caller = Caller {
        principal: &ctx.principal,
        host: &ctx.client_host,
    };
    authorizer.authorize(
        &broker.cluster().image().acls,
        caller,
        op,
        resource_type,
        name,
    )
}

/// Kafka's refusal of a topic operation (TOPIC_AUTHORIZATION_FAILED), or `Ok`.
pub fn topic(
    broker: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    topic: &str,
) -> Result<(), crate::kafka_error::KafkaError> {
    if allowed(broker, ctx, op, ResourceType::Topic, topic) {
        Ok(())
    } else {
        Err(crate::kafka_error::KafkaError::new(
            kafka_protocol::error::ResponseError::TopicAuthorizationFailed,
            "Authorization failed.".to_string(),
        ))
    }
}

/// A config resource of Describe/Alter/IncrementalAlterConfigs (`resource_type` as
/// the request codes it): `op` on the topic (TOPIC_AUTHORIZATION_FAILED), on the
/// cluster for a broker or broker logger (CLUSTER_AUTHORIZATION_FAILED), on the group
/// for a group; other types are left to the handler's validation.
pub fn config_resource(
    broker: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), crate::kafka_error::KafkaError> {
    use super::describe_configs::{RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_TOPIC};
    use kafka_protocol::error::ResponseError as E;
    /// Kafka's BROKER_LOGGER config resource.
    const RESOURCE_BROKER_LOGGER: i8 = 8;
    let (rt, resource, denied) = match resource_type {
        RESOURCE_TOPIC => (ResourceType::Topic, name, E::TopicAuthorizationFailed),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => (
            ResourceType::Cluster,
            CLUSTER_NAME,
            E::ClusterAuthorizationFailed,
        ),
        RESOURCE_GROUP => (ResourceType::Group, name, E::GroupAuthorizationFailed),
        _ => return Ok(()),
    };
    if allowed(broker, ctx, op, rt, resource) {
        Ok(())
    } else {
        Err(crate::kafka_error::KafkaError::new(
            denied,
            "Authorization failed.".to_string(),
        ))
    }
}

/// Read on consumer group `group` (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
/// ConsumerGroupHeartbeat, as Kafka checks them).
pub fn group_read(broker: &Broker, ctx: &RequestContext, group: &str) -> bool {
    allowed(broker, ctx, AclOperation::Read, ResourceType::Group, group)
}

/// ClusterAction on the cluster: what Kafka asks of a follower's Fetch (and of the
/// other requests brokers send each other). Brokers' own principal must therefore be
/// in `super.users` (or granted it) once the authorizer is on, as in Kafka.
pub fn cluster_action(broker: &Broker, ctx: &RequestContext) -> bool {
    allowed(
        broker,
        ctx,
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER_NAME,
    )
}

/// For each of `topics` (in order): whether `op` on it is denied. Each distinct topic
/// is asked once; `None` without an authorizer (nothing is denied).
pub fn denied_topics<'a>(
    broker: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    topics: impl Iterator<Item = &'a str>,
) -> Option<Vec<bool>> {
    broker.authorizer()?;
    let mut seen: HashMap<&str, bool> = HashMap::new();
    Some(
        topics
            .map(|t| {
                *seen
                    .entry(t)
                    .or_insert_with(|| !allowed(broker, ctx, op, ResourceType::Topic, t))
            })
            .collect(),
    )
}

/// Write on transactional id `id` (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
/// TxnOffsetCommit, a transactional InitProducerId).
pub fn txn_write(broker: &Broker, ctx: &RequestContext, id: &str) -> bool {
    allowed(
        broker,
        ctx,
        AclOperation::Write,
        ResourceType::TransactionalId,
        id,
    )
}

/// An idempotent (non-transactional) InitProducerId, as Kafka 4 authorizes it:
/// IdempotentWrite on the cluster, or Write on at least one topic.
pub fn idempotent_write(broker: &Broker, ctx: &RequestContext) -> bool {
    let Some(authorizer) = broker.authorizer() else {
        return true;
    };
    if allowed(
        broker,
        ctx,
        AclOperation::IdempotentWrite,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) {
        return true;
    }
    let caller = Caller {
        principal: &ctx.principal,
        host: &ctx.client_host,
    };
    authorizer.authorize_by_resource_type(
        &broker.cluster().image().acls,
        caller,
        AclOperation::Write,
        ResourceType::Topic,
    )
}

/// `op` (Describe, Alter) on the cluster: the cluster-level admin APIs.
pub fn cluster(broker: &Broker, ctx: &RequestContext, op: AclOperation) -> bool {
    allowed(broker, ctx, op, ResourceType::Cluster, CLUSTER_NAME)
}
