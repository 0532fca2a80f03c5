//! The real [`super::UserAdmin`] calls over `tidewater-client`: DescribeUserScramCredentials
//! and AlterUserScramCredentials for the credential, DescribeAcls of the principal,
//! then DeleteAcls / CreateAcls of the difference only.

use std::time::Duration;

use tidewater_client::kafka_protocol::ResponseError;
use tidewater_client::{AclBinding, AdminClient, ClientConfig, ClientError, SCRAM_SHA_512};

use super::{DesiredUser, Synced};
use crate::identity::AdminAccess;
use crate::user::acl;

async fn connect(bootstrap: &str, access: &AdminAccess) -> Result<AdminClient, ClientError> {
    let config = ClientConfig {
        client_id: "tidewater-operator".to_owned(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    };
    crate::admin::connect(bootstrap, access, config).await
}

/// DescribeAcls of `principal`; a cluster without an authorizer (`SECURITY_DISABLED`)
/// holds none, which is what a user without `spec.authorization` wants.
async fn acls_of(
    admin: &AdminClient,
    principal: &str,
    required: bool,
) -> Result<Vec<AclBinding>, ClientError> {
    match admin.describe_acls_of(principal).await {
        Err(e) if !required && e.kafka_error() == Some(ResponseError::SecurityDisabled) => {
            Ok(Vec::new())
        }
        other => other,
    }
}

/// See [`super::UserAdmin::sync_user`].
pub async fn sync_user(
    bootstrap: String,
    access: AdminAccess,
    user: DesiredUser,
) -> Result<Synced, ClientError> {
    let admin = connect(&bootstrap, &access).await?;
    if let Some((old, scram)) = user.stale() {
        remove(&admin, old, &format!("User:{old}"), scram).await?;
    }
    let mut synced = Synced::default();
    if let Some(password) = &user.password {
        let present = || async {
            admin
                .describe_scram_credentials(&user.username)
                .await
                .map(|c| c.iter().any(|(m, _)| *m == SCRAM_SHA_512))
        };
        if user.password_changed || !present().await? {
            admin.upsert_scram_sha512(&user.username, password).await?;
            synced.credential_written = true;
        }
    }
    let desired = user.acls.clone().unwrap_or_default();
    let current = acls_of(&admin, &user.principal, user.acls.is_some()).await?;
    let diff = acl::diff(&desired, &current);
    // Deletions first: a rule changed from allow to deny never grants both at once.
    admin.delete_acls(&diff.delete).await?;
    admin.create_acls(&diff.create).await?;
    synced.acls = diff;
    Ok(synced)
}

/// See [`super::UserAdmin::remove_user`].
pub async fn remove_user(
    bootstrap: String,
    access: AdminAccess,
    username: String,
    principal: String,
    scram: bool,
) -> Result<(), ClientError> {
    let admin = connect(&bootstrap, &access).await?;
    remove(&admin, &username, &principal, scram).await
}

/// Removes `username`'s SCRAM credential (when `scram`) and every ACL of `principal`.
async fn remove(
    admin: &AdminClient,
    username: &str,
    principal: &str,
    scram: bool,
) -> Result<(), ClientError> {
    if scram {
        admin.delete_scram_sha512(username).await?;
    }
    let current = acls_of(admin, principal, false).await?;
    admin.delete_acls(&current).await
}
