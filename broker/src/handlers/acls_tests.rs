//! CreateAcls, DescribeAcls and DeleteAcls on a one-node broker: who may call them,
//! Kafka's validation codes, and the ACLs reaching the image before the answer.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::handlers::test_support::{broker, ctx};

const AUTHORIZER: (&str, &str) = (
    "authorizer.class.name",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.into())
}

/// ALLOW `User:alice` `op` on topic `name` with pattern type `pattern`.
fn creation(name: &str, pattern: i8, op: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(ResourceType::Topic.code())
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(PermissionType::Allow.code())
}

fn describe_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(ResourceType::Any.code())
        .with_resource_name_filter(None)
        .with_pattern_type_filter(PatternType::Any.code())
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(AclOperation::Any.code())
        .with_permission_type(PermissionType::Any.code())
}

fn as_user(principal: &str) -> RequestContext {
    RequestContext {
        principal: principal.into(),
        ..ctx()
    }
}

#[tokio::test]
async fn without_an_authorizer_every_call_is_security_disabled() {
    let tb = broker(&[]);
    let b = &tb.broker;
    let creations = CreateAclsRequest::default().with_creations(vec![creation(
        "a",
        PatternType::Literal.code(),
        AclOperation::Read.code(),
    )]);
    let r = create(b, &ctx(), creations).await;
    assert_eq!(r.results[0].error_code, SECURITY_DISABLED);
    assert_eq!(
        describe(b, &ctx(), describe_all()).error_code,
        SECURITY_DISABLED
    );
}

#[tokio::test]
async fn super_users_manage_acls_and_others_are_refused() {
    let tb = broker(&[AUTHORIZER, ("super.users", "User:admin")]);
    let b = &tb.broker;
    let admin = as_user("User:admin");
    let alice = as_user("User:alice");
    let creations = CreateAclsRequest::default().with_creations(vec![
        creation("a", PatternType::Literal.code(), AclOperation::Write.code()),
        creation(
            "pre-",
            PatternType::Prefixed.code(),
            AclOperation::Read.code(),
        ),
        creation("x", PatternType::Match.code(), AclOperation::Read.code()),
        creation("y", PatternType::Literal.code(), AclOperation::Any.code()),
    ]);
    let r = create(b, &alice, creations.clone()).await;
    assert!(
        r.results
            .iter()
            .all(|r| r.error_code == CLUSTER_AUTHORIZATION_FAILED)
    );
    assert!(b.cluster().image().acls.is_empty());
    let r = create(b, &admin, creations).await;
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 0, INVALID_REQUEST, INVALID_REQUEST]);
    assert_eq!(
        r.results[2].error_message.as_deref(),
        Some("Invalid patternType MATCH")
    );
    // Answered once this broker's image holds them.
    assert_eq!(b.cluster().image().acls.len(), 2);

    assert_eq!(
        describe(b, &alice, describe_all()).error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    let d = describe(b, &admin, describe_all());
    assert_eq!(d.error_code, 0);
    let names: Vec<&str> = d
        .resources
        .iter()
        .map(|r| r.resource_name.as_str())
        .collect();
    assert_eq!(names, ["a", "pre-"]);
    // MATCH: the ACLs that apply to a topic called pre-x.
    let matching = describe_all()
        .with_resource_type_filter(ResourceType::Topic.code())
        .with_resource_name_filter(Some(s("pre-x")))
        .with_pattern_type_filter(PatternType::Match.code());
    let d = describe(b, &admin, matching);
    assert_eq!(d.resources.len(), 1);
    assert_eq!(d.resources[0].pattern_type, PatternType::Prefixed.code());
    let unknown = describe_all().with_operation(AclOperation::Unknown.code());
    assert_eq!(describe(b, &admin, unknown).error_code, INVALID_REQUEST);

    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(ResourceType::Topic.code())
        .with_resource_name_filter(Some(s("a")))
        .with_pattern_type_filter(PatternType::Literal.code())
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(AclOperation::Any.code())
        .with_permission_type(PermissionType::Any.code());
    let del = DeleteAclsRequest::default().with_filters(vec![filter]);
    let r = delete(b, &alice, del.clone()).await;
    assert_eq!(r.filter_results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r = delete(b, &admin, del).await;
    assert_eq!(r.filter_results[0].error_code, 0);
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    assert_eq!(b.cluster().image().acls.len(), 1);
}
