//! The Kafka side of a user reconcile, behind [`UserAdmin`] so the mocked API tests can
//! say what the brokers answer; the operator's [`crate::admin::KafkaAdmin`] runs the
//! real calls ([`kafka`]). Decisions (which ACLs to create or delete) are
//! [`super::acl`]'s.

pub mod kafka;

use std::future::Future;

use tidewater_client::kafka_protocol::ResponseError;
use tidewater_client::{AclBinding, ClientError};

use super::acl::AclDiff;
use super::secret::{Credentials, PASSWORD};
use super::{NotReady, ValidatedUser};
use crate::crd::UserAuthenticationType;
use crate::identity::AdminAccess;

/// What the cluster must hold for one user.
#[derive(Clone, PartialEq, Eq)]
pub struct DesiredUser {
    /// Kafka user name (`alice`, `CN=alice`).
    pub username: String,
    /// `User:<username>`.
    pub principal: String,
    /// SCRAM-SHA-512 password, for a SCRAM user.
    pub password: Option<String>,
    /// The password is new (the Secret was just written): upsert it even when a
    /// credential exists.
    pub password_changed: bool,
    /// The principal's ACLs; `None`: the user has no `spec.authorization`, so it must
    /// have none (an ACL-less cluster, `SECURITY_DISABLED`, then is fine).
    pub acls: Option<Vec<AclBinding>>,
    /// The Kafka user name the status last reported: when the authentication type
    /// changed, the old principal's credential and ACLs are removed.
    pub previous_username: Option<String>,
}

impl std::fmt::Debug for DesiredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("DesiredUser")
            .field("principal", &self.principal)
            .field("password_changed", &self.password_changed)
            .field("acls", &self.acls)
            .finish_non_exhaustive()
    }
}

impl DesiredUser {
    /// What user `v` with the Secret contents `creds` asks of the cluster;
    /// `previous_username` from the last status.
    pub fn of(v: &ValidatedUser, creds: &Credentials, previous_username: Option<String>) -> Self {
        let scram = v.authentication == UserAuthenticationType::ScramSha512;
        DesiredUser {
            username: v.username(),
            principal: v.principal(),
            password: creds.data.get(PASSWORD).cloned().filter(|_| scram),
            password_changed: creds.changed,
            acls: v.acls.clone(),
            previous_username,
        }
    }

    /// The previous Kafka user name when it is not this one (the user changed its
    /// authentication type): `(username, whether it was a SCRAM user)`.
    pub fn stale(&self) -> Option<(&str, bool)> {
        self.previous_username
            .as_deref()
            .filter(|p| *p != self.username)
            .map(|p| (p, !p.starts_with("CN=")))
    }
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// A SCRAM credential was written.
    pub credential_written: bool,
    /// ACLs created and deleted.
    pub acls: AclDiff,
}

impl Synced {
    /// The note of an Event when anything changed (`written`: the Secret was written).
    pub fn note(&self, written: bool) -> Option<String> {
        (written || !self.acls.is_empty()).then(|| {
            format!(
                "{}{} ACLs created, {} deleted",
                if written { "credentials written; " } else { "" },
                self.acls.create.len(),
                self.acls.delete.len()
            )
        })
    }
}

/// The Kafka calls of a user reconcile.
pub trait UserAdmin: Send + Sync {
    /// Makes the cluster behind `bootstrap` (reached as `access` says) hold `user`'s
    /// credential and exactly its ACLs.
    fn sync_user(
        &self,
        bootstrap: &str,
        access: &AdminAccess,
        user: &DesiredUser,
    ) -> impl Future<Output = Result<Synced, ClientError>> + Send {
        kafka::sync_user(bootstrap.to_owned(), access.clone(), user.clone())
    }

    /// Removes `username`'s SCRAM credential (when `scram`) and every ACL of `principal`.
    fn remove_user(
        &self,
        bootstrap: &str,
        access: &AdminAccess,
        username: &str,
        principal: &str,
        scram: bool,
    ) -> impl Future<Output = Result<(), ClientError>> + Send {
        kafka::remove_user(
            bootstrap.to_owned(),
            access.clone(),
            username.to_owned(),
            principal.to_owned(),
            scram,
        )
    }
}

impl UserAdmin for crate::admin::KafkaAdmin {}

/// The reason of a failed admin call: `AuthorizationNotEnabled` for a cluster without
/// an authorizer (Kafka's `SECURITY_DISABLED`), else `AdminFailed`; the message names
/// the Kafka error.
pub fn admin_failed(e: &ClientError) -> NotReady {
    let reason = if e.kafka_error() == Some(ResponseError::SecurityDisabled) {
        "AuthorizationNotEnabled"
    } else {
        "AdminFailed"
    };
    NotReady::new(reason, e.to_string())
}
