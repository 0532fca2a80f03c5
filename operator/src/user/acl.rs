//! The ACLs of a `KafkaUser` in Kafka's codes, and the difference to what the cluster
//! holds for the principal: the operator creates what is missing and deletes what is
//! no longer desired, nothing else (Strimzi's `SimpleAclOperator` does the same).
//! Sans-IO.

use std::collections::BTreeSet;

use tidewater_client::AclBinding;

use crate::crd::{AclOperation, AclPatternType, AclResourceType, AclRule, AclRuleType};

/// Kafka's name of the cluster resource.
pub const CLUSTER_RESOURCE: &str = "kafka-cluster";

/// `ResourceType` code.
fn resource_type(t: AclResourceType) -> i8 {
    match t {
        AclResourceType::Topic => 2,
        AclResourceType::Group => 3,
        AclResourceType::Cluster => 4,
        AclResourceType::TransactionalId => 5,
    }
}

/// `PatternType` code.
fn pattern_type(p: AclPatternType) -> i8 {
    match p {
        AclPatternType::Literal => 3,
        AclPatternType::Prefix => 4,
    }
}

/// `AclOperation` code.
fn operation(o: AclOperation) -> i8 {
    match o {
        AclOperation::All => 2,
        AclOperation::Read => 3,
        AclOperation::Write => 4,
        AclOperation::Create => 5,
        AclOperation::Delete => 6,
        AclOperation::Alter => 7,
        AclOperation::Describe => 8,
        AclOperation::ClusterAction => 9,
        AclOperation::DescribeConfigs => 10,
        AclOperation::AlterConfigs => 11,
        AclOperation::IdempotentWrite => 12,
    }
}

/// `AclPermissionType` code.
fn permission(t: AclRuleType) -> i8 {
    match t {
        AclRuleType::Deny => 2,
        AclRuleType::Allow => 3,
    }
}

/// Every binding `rules` give `principal`: one per rule and operation, deduplicated and
/// sorted.
pub fn bindings(principal: &str, rules: &[AclRule]) -> Vec<AclBinding> {
    let set: BTreeSet<AclBinding> = rules
        .iter()
        .flat_map(|r| {
            let name = match r.resource.kind {
                AclResourceType::Cluster => CLUSTER_RESOURCE.to_owned(),
                _ => r.resource.name.clone().unwrap_or_default(),
            };
            // The cluster resource is only ever literal in Kafka.
            let pattern = match r.resource.kind {
                AclResourceType::Cluster => 3,
                _ => pattern_type(r.resource.pattern_type),
            };
            r.operations.iter().map(move |o| AclBinding {
                resource_type: resource_type(r.resource.kind),
                resource_name: name.clone(),
                pattern_type: pattern,
                principal: principal.to_owned(),
                host: r.host.clone(),
                operation: operation(*o),
                permission_type: permission(r.kind),
            })
        })
        .collect();
    set.into_iter().collect()
}

/// What to change so the cluster holds exactly `desired` for a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclDiff {
    /// Desired and missing.
    pub create: Vec<AclBinding>,
    /// Present and no longer desired.
    pub delete: Vec<AclBinding>,
}

impl AclDiff {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

/// The difference between `desired` and `current` (DescribeAcls of the principal).
pub fn diff(desired: &[AclBinding], current: &[AclBinding]) -> AclDiff {
    let want: BTreeSet<&AclBinding> = desired.iter().collect();
    let have: BTreeSet<&AclBinding> = current.iter().collect();
    AclDiff {
        create: want.difference(&have).map(|b| (*b).clone()).collect(),
        delete: have.difference(&want).map(|b| (*b).clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AclResource;

    fn rule(
        kind: AclResourceType,
        name: &str,
        pattern: AclPatternType,
        ops: &[AclOperation],
    ) -> AclRule {
        AclRule {
            resource: AclResource {
                kind,
                name: Some(name.to_owned()),
                pattern_type: pattern,
            },
            operations: ops.to_vec(),
            host: "*".to_owned(),
            kind: AclRuleType::Allow,
        }
    }

    #[test]
    fn one_binding_per_operation_in_kafka_codes() {
        let rules = [
            rule(
                AclResourceType::Topic,
                "orders",
                AclPatternType::Prefix,
                &[AclOperation::Write, AclOperation::Describe],
            ),
            // The same binding twice is one binding.
            rule(
                AclResourceType::Topic,
                "orders",
                AclPatternType::Prefix,
                &[AclOperation::Write],
            ),
            rule(
                AclResourceType::Cluster,
                "ignored",
                AclPatternType::Prefix,
                &[AclOperation::IdempotentWrite],
            ),
        ];
        let b = bindings("User:alice", &rules);
        let got: Vec<(i8, &str, i8, i8, i8)> = b
            .iter()
            .map(|b| {
                (
                    b.resource_type,
                    b.resource_name.as_str(),
                    b.pattern_type,
                    b.operation,
                    b.permission_type,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "orders", 4, 4, 3),
                (2, "orders", 4, 8, 3),
                (4, "kafka-cluster", 3, 12, 3)
            ]
        );
        assert!(
            b.iter()
                .all(|b| b.principal == "User:alice" && b.host == "*")
        );
    }

    #[test]
    fn diff_creates_the_missing_and_deletes_the_undesired_only() {
        let desired = bindings(
            "User:alice",
            &[rule(
                AclResourceType::Topic,
                "orders",
                AclPatternType::Prefix,
                &[AclOperation::Write, AclOperation::Read],
            )],
        );
        let stale = bindings(
            "User:alice",
            &[rule(
                AclResourceType::Group,
                "g",
                AclPatternType::Literal,
                &[AclOperation::Read],
            )],
        );
        let current = vec![desired[0].clone(), stale[0].clone()];
        let d = diff(&desired, &current);
        assert_eq!(d.create, [desired[1].clone()]);
        assert_eq!(d.delete, [stale[0].clone()]);
        assert!(diff(&desired, &desired).is_empty());
        // No desired ACLs: every current one goes (the user's rules were removed).
        assert_eq!(diff(&[], &current).delete, current);
    }
}
