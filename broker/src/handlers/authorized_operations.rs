//! The `authorized_operations` bit sets of Metadata (topics, cluster),
//! DescribeCluster and DescribeGroups (KIP-430): bit N set = Kafka's
//! `AclOperation` with code N is allowed.
//!
//! There is no authorizer yet, so every caller may do everything: each resource
//! reports every operation Kafka supports on its type (`AclEntry.supportedOperations`),
//! as Kafka does without `authorizer.class.name`. When ACLs arrive, this is the one
//! place that asks the authorizer for the principal's real set.

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
/// else the operations the caller may perform (all of them, without an authorizer).
pub fn authorized_operations(resource: Resource, requested: bool) -> i32 {
    if !requested {
        return NOT_REQUESTED;
    }
    supported(resource)
        .iter()
        .fold(0i32, |bits, code| bits | (1 << code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets_match_kafka() {
        // The values a Kafka 4 broker without an authorizer returns.
        assert_eq!(authorized_operations(Resource::Topic, true), 3576);
        assert_eq!(authorized_operations(Resource::Group, true), 3400);
        assert_eq!(authorized_operations(Resource::Cluster, true), 8096);
        assert_eq!(authorized_operations(Resource::Topic, false), i32::MIN);
    }
}
