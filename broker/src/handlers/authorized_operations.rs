//! The `authorized_operations` bit sets of Metadata (topics, cluster),
//! DescribeCluster and DescribeGroups (KIP-430): bit N set = Kafka's
//! `AclOperation` with code N is allowed.
//!
//! Each resource reports the operations Kafka supports on its type
//! (`AclEntry.supportedOperations`) that the caller may perform, as Kafka's
//! `AuthHelper.authorizedOperations` asks its authorizer one operation at a time:
//! without `authorizer.class.name` that is all of them.

use tidewater_quorum::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

/// Kafka's value for "the client did not ask" (the field's default in every schema).
pub const NOT_REQUESTED: i32 = i32::MIN;

/// Kafka's `AclOperation` codes.
mod op {
    pub const READ: u8 = 3;
    pub const WRITE: u8 = 4;
    pub const CREATE: u8 = 5;
    pub const DELETE: u8 = 6;
    pub const ALTER: u8 = 7;
    pub const DESCRIBE: u8 = 8;
    pub const CLUSTER_ACTION: u8 = 9;
    pub const DESCRIBE_CONFIGS: u8 = 10;
    pub const ALTER_CONFIGS: u8 = 11;
    pub const IDEMPOTENT_WRITE: u8 = 12;
}

/// The resource kinds that report authorized operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Topic,
    Group,
    Cluster,
}

/// Every operation Kafka supports on `resource` (its `AclEntry.supportedOperations`).
fn supported(resource: Resource) -> &'static [u8] {
    use op::*;
    match resource {
        Resource::Topic => &[
            READ,
            WRITE,
            CREATE,
            DESCRIBE,
            DELETE,
            ALTER,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
        ],
        Resource::Group => &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        Resource::Cluster => &[
            CREATE,
            CLUSTER_ACTION,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            IDEMPOTENT_WRITE,
            ALTER,
            DESCRIBE,
        ],
    }
}

/// The bit set to report for `resource`: [`NOT_REQUESTED`] unless the client asked,
/// else the supported operations `may` allows.
pub fn authorized_operations(
    resource: Resource,
    requested: bool,
    may: impl Fn(AclOperation) -> bool,
) -> i32 {
    if !requested {
        return NOT_REQUESTED;
    }
    supported(resource)
        .iter()
        .filter(|&&code| may(AclOperation::from_code(code as i8)))
        .fold(0i32, |bits, code| bits | (1 << code))
}

/// [`for_caller`] on the cluster (Metadata v8-10, DescribeCluster).
pub fn cluster_for_caller(broker: &Broker, ctx: &RequestContext, requested: bool) -> i32 {
    for_caller(broker, ctx, Resource::Cluster, CLUSTER_NAME, requested)
}

/// [`authorized_operations`] for this request's principal on the resource `name` (the
/// cluster's name is implied for [`Resource::Cluster`]).
pub fn for_caller(
    broker: &Broker,
    ctx: &RequestContext,
    resource: Resource,
    name: &str,
    requested: bool,
) -> i32 {
    let (resource_type, name) = match resource {
        Resource::Topic => (ResourceType::Topic, name),
        Resource::Group => (ResourceType::Group, name),
        Resource::Cluster => (ResourceType::Cluster, CLUSTER_NAME),
    };
    authorized_operations(resource, requested, |op| {
        authz::allowed(broker, ctx, op, resource_type, name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets_match_kafka() {
        // The values a Kafka 4 broker without an authorizer returns.
        let all = |_| true;
        assert_eq!(authorized_operations(Resource::Topic, true, all), 3576);
        assert_eq!(authorized_operations(Resource::Group, true, all), 3400);
        assert_eq!(authorized_operations(Resource::Cluster, true, all), 8096);
        assert_eq!(authorized_operations(Resource::Topic, false, all), i32::MIN);
    }

    #[test]
    fn only_the_allowed_operations_are_set() {
        // Read implies Describe in the authorizer; here the answer is taken as given.
        let read_describe = |op| matches!(op, AclOperation::Read | AclOperation::Describe);
        assert_eq!(
            authorized_operations(Resource::Topic, true, read_describe),
            (1 << 3) | (1 << 8)
        );
        assert_eq!(authorized_operations(Resource::Cluster, true, |_| false), 0);
    }
}
