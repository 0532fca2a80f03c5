//! The user admin calls against the real `tidewater-broker` (KRaft, StandardAuthorizer,
//! `User:ANONYMOUS` a super user): a SCRAM-SHA-512 credential is upserted, described and
//! deleted (a second delete is not an error); ACLs are created, described for their
//! principal only, and deleted exactly; without an authorizer DescribeAcls is
//! SECURITY_DISABLED, as in Kafka.

mod common;

use common::broker::Broker;
use kafka_protocol::ResponseError;
use tidewater_client::{AclBinding, SCRAM_ITERATIONS, SCRAM_SHA_512};

const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
                          super.users=User:ANONYMOUS\n";

fn topic_acl(principal: &str, name: &str, operation: i8) -> AclBinding {
    AclBinding {
        resource_type: 2,
        resource_name: name.to_owned(),
        pattern_type: 4,
        principal: principal.to_owned(),
        host: "*".to_owned(),
        operation,
        permission_type: 3,
    }
}

#[tokio::test]
async fn scram_credentials_are_upserted_described_and_deleted() {
    let broker = Broker::start_kraft_with(AUTHORIZER).await;
    let admin = broker.admin().await.unwrap();
    assert_eq!(admin.describe_scram_credentials("alice").await.unwrap(), []);
    admin.upsert_scram_sha512("alice", "s3cret").await.unwrap();
    let iterations = i32::try_from(SCRAM_ITERATIONS).unwrap();
    assert_eq!(
        admin.describe_scram_credentials("alice").await.unwrap(),
        [(SCRAM_SHA_512, iterations)]
    );
    admin.delete_scram_sha512("alice").await.unwrap();
    assert_eq!(admin.describe_scram_credentials("alice").await.unwrap(), []);
    // Already gone: not an error (the operator's finalizer may run twice).
    admin.delete_scram_sha512("alice").await.unwrap();
}

#[tokio::test]
async fn acls_are_created_described_by_principal_and_deleted_exactly() {
    let broker = Broker::start_kraft_with(AUTHORIZER).await;
    let admin = broker.admin().await.unwrap();
    let write = topic_acl("User:alice", "orders", 4);
    let read = topic_acl("User:alice", "orders", 3);
    let other = topic_acl("User:bob", "orders", 3);
    admin
        .create_acls(&[write.clone(), read.clone(), other.clone()])
        .await
        .unwrap();
    let mut want = vec![write.clone(), read.clone()];
    want.sort();
    assert_eq!(admin.describe_acls_of("User:alice").await.unwrap(), want);
    admin
        .delete_acls(std::slice::from_ref(&write))
        .await
        .unwrap();
    assert_eq!(admin.describe_acls_of("User:alice").await.unwrap(), [read]);
    assert_eq!(admin.describe_acls_of("User:bob").await.unwrap(), [other]);
}

#[tokio::test]
async fn without_an_authorizer_describe_acls_is_security_disabled() {
    let broker = Broker::start_kraft().await;
    let admin = broker.admin().await.unwrap();
    let err = admin.describe_acls_of("User:alice").await.unwrap_err();
    assert_eq!(
        err.kafka_error(),
        Some(ResponseError::SecurityDisabled),
        "{err}"
    );
}
