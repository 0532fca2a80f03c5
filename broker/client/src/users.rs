//! Admin calls for users, as Kafka's `Admin` offers them and `kafka-configs --alter
//! --add-config SCRAM-SHA-512=[...]` / `kafka-acls` use them:
//! AlterUserScramCredentials (upsert, delete), DescribeUserScramCredentials, and
//! DescribeAcls / CreateAcls / DeleteAcls.
//!
//! An ACL travels as [`AclBinding`], Kafka's own codes (`AclOperation`,
//! `AclPermissionType`, `ResourceType`, `PatternType` as the protocol numbers them):
//! callers name them; this module only moves them. The SCRAM salt and salted password
//! are computed here (RFC 5802 `Hi`, as Kafka's `ScramFormatter`), so the password is
//! never sent. Any error code, top-level or per item, is `Err(ClientError::Protocol)`
//! naming the user or binding, except the answers that mean "already so" (a deletion
//! of a credential that does not exist).

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, CreateAclsRequest, DeleteAclsRequest,
    DescribeAclsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ring::rand::SecureRandom;

use crate::admin::AdminClient;
use crate::error::ClientError;
use crate::sasl::ScramHash;

/// `ScramMechanism.SCRAM_SHA_512`'s type code.
pub const SCRAM_SHA_512: i8 = 2;
/// Iterations of a credential this client creates: Kafka's minimum (and librdkafka's
/// and the Java client's default) for SCRAM-SHA-512.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// `RESOURCE_NOT_FOUND`: the user has no credential of that mechanism.
const RESOURCE_NOT_FOUND: i16 = 91;
/// `ANY` in every field of an ACL filter (Kafka's `AclOperation.ANY`, `ResourceType.ANY`,
/// `PatternType.ANY`, `AclPermissionType.ANY` are all 1).
const ANY: i8 = 1;

/// One ACL: a resource pattern and an access control entry, in Kafka's codes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    /// `ResourceType` code (2 topic, 3 group, 4 cluster, 5 transactional id).
    pub resource_type: i8,
    /// Resource name (`kafka-cluster` for the cluster).
    pub resource_name: String,
    /// `PatternType` code (3 literal, 4 prefixed).
    pub pattern_type: i8,
    /// Principal, e.g. `User:alice`.
    pub principal: String,
    /// Host, `*` for any.
    pub host: String,
    /// `AclOperation` code (3 read, 4 write, ...).
    pub operation: i8,
    /// `AclPermissionType` code (2 deny, 3 allow).
    pub permission_type: i8,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn text(m: Option<StrBytes>) -> Option<String> {
    m.map(|m| m.to_string())
}

impl AdminClient {
    /// Creates or replaces `user`'s SCRAM-SHA-512 credential for `password` (a fresh
    /// random salt, [`SCRAM_ITERATIONS`]).
    pub async fn upsert_scram_sha512(&self, user: &str, password: &str) -> Result<(), ClientError> {
        let mut salt = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| ClientError::Decode {
                api: ApiKey::AlterUserScramCredentials,
                version: -1,
                reason: "the system random generator failed".to_owned(),
            })?;
        let iterations =
            std::num::NonZeroU32::new(SCRAM_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN);
        let salted = ScramHash::Sha512.salted_password(password.as_bytes(), &salt, iterations);
        let up = ScramCredentialUpsertion::default()
            .with_name(s(user))
            .with_mechanism(SCRAM_SHA_512)
            .with_iterations(i32::try_from(SCRAM_ITERATIONS).unwrap_or(i32::MAX))
            .with_salt(Bytes::copy_from_slice(&salt))
            .with_salted_password(Bytes::from(salted));
        self.alter_scram(
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![up]),
            user,
            false,
        )
        .await
    }

    /// Deletes `user`'s SCRAM-SHA-512 credential; one that does not exist is not an error.
    pub async fn delete_scram_sha512(&self, user: &str) -> Result<(), ClientError> {
        let del = ScramCredentialDeletion::default()
            .with_name(s(user))
            .with_mechanism(SCRAM_SHA_512);
        self.alter_scram(
            AlterUserScramCredentialsRequest::default().with_deletions(vec![del]),
            user,
            true,
        )
        .await
    }

    async fn alter_scram(
        &self,
        req: AlterUserScramCredentialsRequest,
        user: &str,
        missing_ok: bool,
    ) -> Result<(), ClientError> {
        let resp = self.send(req).await?;
        for r in resp.results {
            if missing_ok && r.error_code == RESOURCE_NOT_FOUND {
                continue;
            }
            let message = text(r.error_message).or_else(|| Some(format!("user '{user}'")));
            ClientError::check(r.error_code, ApiKey::AlterUserScramCredentials, message)?;
        }
        Ok(())
    }

    /// `(mechanism, iterations)` of every SCRAM credential `user` has; empty when none.
    pub async fn describe_scram_credentials(
        &self,
        user: &str,
    ) -> Result<Vec<(i8, i32)>, ClientError> {
        let req = DescribeUserScramCredentialsRequest::default()
            .with_users(Some(vec![UserName::default().with_name(s(user))]));
        let resp = self.send(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::DescribeUserScramCredentials,
            text(resp.error_message),
        )?;
        let mut out = Vec::new();
        for r in resp.results {
            if r.error_code == RESOURCE_NOT_FOUND {
                continue;
            }
            let message = text(r.error_message).or_else(|| Some(format!("user '{user}'")));
            ClientError::check(r.error_code, ApiKey::DescribeUserScramCredentials, message)?;
            out.extend(
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations)),
            );
        }
        Ok(out)
    }

    /// DescribeAcls of every ACL whose principal is `principal`, on any resource.
    pub async fn describe_acls_of(&self, principal: &str) -> Result<Vec<AclBinding>, ClientError> {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(Some(s(principal)))
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        let resp = self.send(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::DescribeAcls,
            text(resp.error_message),
        )?;
        let mut out = Vec::new();
        for r in resp.resources {
            for a in r.acls {
                out.push(AclBinding {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.to_string(),
                    pattern_type: r.pattern_type,
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: a.operation,
                    permission_type: a.permission_type,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// CreateAcls of `acls` (creating one that exists is a no-op in Kafka).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), ClientError> {
        if acls.is_empty() {
            return Ok(());
        }
        let creations = acls
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(s(&b.resource_name))
                    .with_resource_pattern_type(b.pattern_type)
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission_type)
            })
            .collect();
        let resp = self
            .send(CreateAclsRequest::default().with_creations(creations))
            .await?;
        for (r, b) in resp.results.into_iter().zip(acls) {
            let message = text(r.error_message).or_else(|| Some(format!("{b:?}")));
            ClientError::check(r.error_code, ApiKey::CreateAcls, message)?;
        }
        Ok(())
    }

    /// DeleteAcls of exactly `acls` (each a filter matching only itself).
    pub async fn delete_acls(&self, acls: &[AclBinding]) -> Result<(), ClientError> {
        if acls.is_empty() {
            return Ok(());
        }
        let filters = acls
            .iter()
            .map(|b| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(b.resource_type)
                    .with_resource_name_filter(Some(s(&b.resource_name)))
                    .with_pattern_type_filter(b.pattern_type)
                    .with_principal_filter(Some(s(&b.principal)))
                    .with_host_filter(Some(s(&b.host)))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission_type)
            })
            .collect();
        let resp = self
            .send(DeleteAclsRequest::default().with_filters(filters))
            .await?;
        for (r, b) in resp.filter_results.into_iter().zip(acls) {
            let message = text(r.error_message).or_else(|| Some(format!("{b:?}")));
            ClientError::check(r.error_code, ApiKey::DeleteAcls, message)?;
            for m in r.matching_acls {
                let message = text(m.error_message).or_else(|| Some(format!("{b:?}")));
                ClientError::check(m.error_code, ApiKey::DeleteAcls, message)?;
            }
        }
        Ok(())
    }
}
