//! The one question handlers ask before acting on a resource: may this request's
//! principal perform the operation? Always yes without `authorizer.class.name`;
//! otherwise the StandardAuthorizer's answer over this broker's current image, so an
//! ACL change applies to a live connection's next request.

use tidewater_quorum::acl::{AclOperation, ResourceType};

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

/// Read on consumer group `group` (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
/// ConsumerGroupHeartbeat, as Kafka checks them).
pub fn group_read(broker: &Broker, ctx: &RequestContext, group: &str) -> bool {
    allowed(broker, ctx, AclOperation::Read, ResourceType::Group, group)
}
