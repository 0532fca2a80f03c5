//! identity: who the operator and the brokers are to a secured cluster, and how the
//! operator's admin client reaches it (issue 14 items 5-7).
//!
//! On a secured cluster the operator connects to the `OPERATOR` listener over mutual
//! TLS with its own client certificate from the cluster CA (subject
//! `CN=tidewater-operator,O=tidewater.io`), trusting only the cluster CA, as Strimzi's
//! operators do. The certificate is issued and renewed by the runtimes' certificate
//! step (kube: kept in memory in [`Identities`]; local: files under the cluster's
//! `pki/`), with the same rules as a broker's ([`crate::pki::leaf_renewal`]). When the
//! cluster runs Kafka's authorizer, `super.users` names the brokers and this operator
//! ([`super_users`]), so no `User:ANONYMOUS` super user is needed.
//!
//! Must not: read or write files or Secrets (the runtimes do), or decide renewal itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tidewater_client::{ClientSecurity, ClientTls, TlsPemError};

use crate::pki::{self, CaPem, LeafPem, ORGANIZATION, PkiError, Renewal, Validity};
use crate::validate::ValidatedCluster;

/// Common name of the operator's client certificate.
pub const OPERATOR_COMMON_NAME: &str = "tidewater-operator";
/// The user config key that turns Kafka's authorizer on.
pub const AUTHORIZER_KEY: &str = "authorizer.class.name";
/// Kafka's list of principals the authorizer never checks.
pub const SUPER_USERS_KEY: &str = "super.users";

/// Common name of every broker certificate of `c` (one name for all nodes: the
/// brokers share one principal, which `super.users` lists).
pub fn broker_common_name(c: &ValidatedCluster) -> String {
    format!("{}-kafka", c.name)
}

/// Kafka's principal of a certificate [`pki::issue`] made for `common_name`: the
/// subject as RFC 2253 prints it (last RDN first), so `CN=...,O=tidewater.io`.
fn principal(common_name: &str) -> String {
    format!("User:CN={common_name},O={ORGANIZATION}")
}

/// The brokers' principal on the mTLS `REPLICATION` and `CONTROLLER` listeners.
pub fn broker_principal(c: &ValidatedCluster) -> String {
    principal(&broker_common_name(c))
}

/// The operator's principal on the `OPERATOR` listener.
pub fn operator_principal() -> String {
    principal(OPERATOR_COMMON_NAME)
}

/// `super.users` of a secured cluster running Kafka's authorizer: the brokers (they
/// fetch from each other and heartbeat to the controllers with ClusterAction) and the
/// operator, then the user's own `spec.config["super.users"]` entries; `;`-separated
/// as Kafka reads it, each principal once, in that order. `None` when the operator
/// adds nothing: no authorizer, or an unsecured cluster (there everyone, brokers
/// included, is `User:ANONYMOUS`, which the operator will not make a super user).
pub fn super_users(c: &ValidatedCluster) -> Option<String> {
    let authorizer = c.config.get(AUTHORIZER_KEY).is_some_and(|v| !v.is_empty());
    if !authorizer || !c.secured() {
        return None;
    }
    let mut seen = BTreeSet::new();
    let users: Vec<String> = [broker_principal(c), operator_principal()]
        .into_iter()
        .chain(
            c.config
                .get(SUPER_USERS_KEY)
                .into_iter()
                .flat_map(|v| v.split(';'))
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
        )
        .filter(|p| seen.insert(p.clone()))
        .collect();
    Some(users.join(";"))
}

/// Why the operator's certificate under `ca` must be (re)issued at `now`, if it must.
pub fn operator_cert_renewal(
    current: Option<&str>,
    ca: &CaPem,
    v: Validity,
    now: i64,
) -> Option<Renewal> {
    pki::leaf_renewal(current, ca, &[], v, now)
}

/// A new client certificate for the operator from the cluster CA `ca`.
pub fn issue_operator_cert(ca: &CaPem, v: Validity, now: i64) -> Result<LeafPem, PkiError> {
    pki::issue(ca, OPERATOR_COMMON_NAME, &[], v, now, false)
}

/// How the operator reaches one cluster's admin API.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    /// mTLS with the operator's certificate, trusting the cluster CA (a secured
    /// cluster); `None`: plaintext (an unsecured cluster, whose admin listener is the
    /// first client listener).
    pub security: Option<ClientSecurity>,
    /// Admin addresses of brokers still running a config rendered before their
    /// `OPERATOR` listener became SSL (they have not rolled onto the current config
    /// yet): reached in plaintext when no broker answers over mTLS, so the operator
    /// keeps its view of the cluster during that one roll. Empty once every broker
    /// runs its current config.
    pub plaintext_until_rolled: BTreeSet<String>,
}

impl AdminAccess {
    /// Plaintext: an unsecured cluster.
    pub fn plaintext() -> AdminAccess {
        AdminAccess::default()
    }

    /// mTLS with `leaf` (the operator's certificate and key), trusting `cluster_ca`
    /// (PEM) alone.
    pub fn mtls(leaf: &LeafPem, cluster_ca: &str) -> Result<AdminAccess, TlsPemError> {
        let tls = ClientTls::from_pem(cluster_ca, Some((&leaf.cert, &leaf.key)))?;
        Ok(AdminAccess {
            security: Some(ClientSecurity {
                tls: Some(tls),
                sasl: None,
            }),
            plaintext_until_rolled: BTreeSet::new(),
        })
    }

    /// This access, also allowing plaintext to `addrs` (see
    /// [`AdminAccess::plaintext_until_rolled`]).
    pub fn with_plaintext_until_rolled(mut self, addrs: BTreeSet<String>) -> AdminAccess {
        if self.security.is_some() {
            self.plaintext_until_rolled = addrs;
        }
        self
    }
}

/// The operator's certificate of one cluster and the access it gives.
#[derive(Debug, Clone)]
struct Identity {
    leaf: LeafPem,
    access: AdminAccess,
}

/// The kube runtime's operator certificates, one per secured cluster
/// (`namespace/name`), in memory: a restarted operator issues itself new ones (the
/// cluster CA is what the brokers trust, not a particular certificate). Shared by the
/// cluster controller, which issues and renews them while it makes the cluster's
/// certificates current, and the user controller, which only reads them.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    by_cluster: Arc<Mutex<BTreeMap<String, Identity>>>,
}

/// Key of a cluster in [`Identities`].
fn key(c: &ValidatedCluster) -> String {
    format!("{}/{}", c.namespace, c.name)
}

/// Why the operator could not get a certificate of a cluster.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The certificate could not be issued.
    #[error("issuing the operator's certificate: {0}")]
    Issue(#[from] PkiError),
    /// The certificate or the CA do not make a TLS config.
    #[error("the operator's TLS config: {0}")]
    Tls(#[from] TlsPemError),
}

impl Identities {
    /// The operator's certificate of `c` from the cluster CA `ca`, issued when there is
    /// none or [`operator_cert_renewal`] says so; returns the reason when it issued one.
    pub fn ensure(
        &self,
        c: &ValidatedCluster,
        ca: &CaPem,
        v: Validity,
        now: i64,
    ) -> Result<Option<Renewal>, IdentityError> {
        let key = key(c);
        let current = self.lock().get(&key).map(|i| i.leaf.cert.clone());
        let Some(why) = operator_cert_renewal(current.as_deref(), ca, v, now) else {
            return Ok(None);
        };
        let leaf = issue_operator_cert(ca, v, now)?;
        let access = AdminAccess::mtls(&leaf, &ca.cert)?;
        self.lock().insert(key, Identity { leaf, access });
        Ok(Some(why))
    }

    /// How the operator reaches `c`: mTLS once its certificate was issued; plaintext on
    /// an unsecured cluster; `None` for a secured cluster without one yet.
    pub fn access(&self, c: &ValidatedCluster) -> Option<AdminAccess> {
        if !c.secured() {
            return Some(AdminAccess::plaintext());
        }
        self.lock().get(&key(c)).map(|i| i.access.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Identity>> {
        // A panic while holding the lock left a whole map behind: still usable.
        self.by_cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
