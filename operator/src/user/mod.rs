//! user: the `KafkaUser` reconcile shared by both runtimes (issue 14 item 7), in
//! Strimzi's User Operator's shape: validate the user ([`validate_user`]), check its
//! cluster offers the authentication ([`check_cluster`]), decide the Secret's contents
//! ([`secret`]), then make the cluster match through the Kafka admin API ([`admin`]:
//! SCRAM credential upsert, ACL diff) and report it ([`status`]).
//!
//! Everything here but [`admin::kafka`] is sans-IO: the kube controller
//! (`crate::controller::user`) and the local `user` commands
//! (`crate::runtime::local::user`) read and write the Secrets and files.

pub mod acl;
pub mod admin;
pub mod secret;
pub mod status;

use tidewater_client::AclBinding;

use crate::crd::{
    AuthorizationType, CLUSTER_LABEL, KafkaUser, SecretKeyRef, UserAuthenticationType,
};
use crate::validate::ValidatedCluster;

/// Why a user is not ready: a PascalCase reason for the `Ready` condition and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct NotReady {
    /// PascalCase reason, e.g. `ClusterNotFound`.
    pub reason: &'static str,
    /// What exactly.
    pub message: String,
}

impl NotReady {
    /// A `reason` with its message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// A `KafkaUser` as the reconcile needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedUser {
    /// `metadata.name`: the SCRAM user name, the certificate's CN, the Secret's name.
    pub name: String,
    /// The `KafkaCluster` of the label [`CLUSTER_LABEL`].
    pub cluster: String,
    /// How the user authenticates.
    pub authentication: UserAuthenticationType,
    /// A password the user brings (scram-sha-512).
    pub password_ref: Option<SecretKeyRef>,
    /// The user's ACLs, in Kafka's codes; `None` when `spec.authorization` is absent.
    pub acls: Option<Vec<AclBinding>>,
}

impl ValidatedUser {
    /// The Kafka user name (the principal without `User:`): the name for SCRAM, the
    /// certificate subject `CN=<name>` for TLS (what the broker's default
    /// `ssl.principal.mapping.rules` makes of it).
    pub fn username(&self) -> String {
        username(&self.name, self.authentication)
    }

    /// `User:<username>`.
    pub fn principal(&self) -> String {
        format!("User:{}", self.username())
    }
}

/// The Kafka user name of a user called `name`.
pub fn username(name: &str, authentication: UserAuthenticationType) -> String {
    match authentication {
        UserAuthenticationType::ScramSha512 => name.to_owned(),
        UserAuthenticationType::Tls => format!("CN={name}"),
    }
}

/// Checks what the schema cannot (the label, names the local runtime gets unchecked)
/// and resolves the ACLs.
pub fn validate_user(u: &KafkaUser) -> Result<ValidatedUser, NotReady> {
    let name = u.metadata.name.clone().unwrap_or_default();
    let cluster = u
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CLUSTER_LABEL))
        .filter(|c| !c.is_empty())
        .cloned()
        .ok_or_else(|| {
            NotReady::new(
                "InvalidSpec",
                format!("the label {CLUSTER_LABEL} must name the user's KafkaCluster"),
            )
        })?;
    // SCRAM user names are sent in SCRAM attributes, where `,` and `=` are escaped; a
    // Kubernetes name has neither, a local file's might.
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(NotReady::new(
            "InvalidSpec",
            format!("metadata.name `{name}` must be a Kubernetes name (a-z, 0-9, - and .)"),
        ));
    }
    let auth = &u.spec.authentication;
    if auth.password.is_some() && auth.kind != UserAuthenticationType::ScramSha512 {
        return Err(NotReady::new(
            "InvalidSpec",
            "spec.authentication.password is for type scram-sha-512 only",
        ));
    }
    let acls = match &u.spec.authorization {
        None => None,
        Some(a) => {
            let AuthorizationType::Simple = a.kind;
            if let Some(i) = a.acls.iter().position(|r| {
                r.resource.kind != crate::crd::AclResourceType::Cluster
                    && r.resource.name.as_deref().unwrap_or_default().is_empty()
            }) {
                return Err(NotReady::new(
                    "InvalidSpec",
                    format!(
                        "spec.authorization.acls[{i}].resource needs a name, except type cluster"
                    ),
                ));
            }
            Some(acl::bindings(
                &format!("User:{}", username(&name, auth.kind)),
                &a.acls,
            ))
        }
    };
    Ok(ValidatedUser {
        name,
        cluster,
        authentication: auth.kind,
        password_ref: auth
            .password
            .as_ref()
            .map(|p| p.value_from.secret_key_ref.clone()),
        acls,
    })
}

/// Whether cluster `c` has a listener with the user's authentication (a user nobody
/// can log in as is not ready).
pub fn check_cluster(c: &ValidatedCluster, u: &ValidatedUser) -> Result<(), NotReady> {
    let want = match u.authentication {
        UserAuthenticationType::ScramSha512 => crate::crd::AuthenticationType::ScramSha512,
        UserAuthenticationType::Tls => crate::crd::AuthenticationType::Tls,
    };
    if c.listeners.iter().any(|l| l.authentication == Some(want)) {
        Ok(())
    } else {
        let kind = match u.authentication {
            UserAuthenticationType::ScramSha512 => "scram-sha-512",
            UserAuthenticationType::Tls => "tls",
        };
        Err(NotReady::new(
            "AuthenticationNotEnabled",
            format!(
                "no listener of KafkaCluster {} has authentication type {kind}",
                c.name
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
