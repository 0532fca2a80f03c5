//! The kube runtime's certificates: before anything else of a secured cluster is
//! applied, each CA is read from its Secret (generated and written when absent, renewed
//! when due, or read from the user's Secret), and each node's Secret is (re)issued when
//! [`crate::pki::leaf_renewal`] says so, or rewritten when only a CA certificate in it
//! changed. A rewritten Secret reaches the running broker through its Secret volume,
//! which the broker polls (no restart). Requests in a fixed order: per CA one GET (and
//! an apply of its Secrets when it changed), then per node one GET (and an apply).
//!
//! The operator's own client certificate ([`crate::identity`]) is issued from the
//! cluster CA read here and kept in memory, never in a Secret: nothing else needs it,
//! and a restarted operator issues itself a new one at its first reconcile.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;

use super::requests::api_err;
use super::{KubeRuntime, KubeRuntimeError};
use std::collections::BTreeSet;

use crate::build::secrets::{self, Ca, LEAF_CERT, LEAF_KEY, text};
use crate::identity::AdminAccess;
use crate::pki::{self, CaPem, LeafPem, Validity};
use crate::runtime::AdminSource;
use crate::validate::ValidatedCluster;

impl<A: AdminSource> KubeRuntime<A> {
    /// Makes every CA and node certificate of `c` current; a no-op when unsecured.
    pub(super) async fn ensure_certs(&self, c: &ValidatedCluster) -> Result<(), KubeRuntimeError> {
        if !c.secured() {
            return Ok(());
        }
        let now = Timestamp::now().as_second();
        let cluster_ca = self.ca(c, Ca::Cluster, now).await?;
        let clients_ca = self.ca(c, Ca::Clients, now).await?;
        let v = Validity::from(&c.cluster_ca);
        if let Some(why) = self.identities.ensure(c, &cluster_ca, v, now)? {
            tracing::info!(cluster = %c.name, reason = why.reason(), "issuing the operator's client certificate");
        }
        for n in &c.nodes {
            let name = secrets::node_secret_name(c, n);
            let current = self.get_secret(c, &name).await?;
            let stored = current.as_ref().and_then(|s| {
                Some(LeafPem {
                    cert: text(s, LEAF_CERT)?,
                    key: text(s, LEAF_KEY)?,
                })
            });
            let sans = secrets::node_sans(c, n);
            let due = pki::leaf_renewal(
                stored.as_ref().map(|l| l.cert.as_str()),
                &cluster_ca,
                &sans,
                v,
                now,
            );
            let leaf = match (due, stored) {
                (None, Some(leaf)) => leaf,
                (why, _) => {
                    tracing::info!(cluster = %c.name, broker = n.id, reason = why.map_or("Missing", pki::Renewal::reason), "issuing a broker certificate");
                    let cn = crate::identity::broker_common_name(c);
                    pki::issue(&cluster_ca, &cn, &sans, v, now, true).map_err(|source| {
                        pki_err(format!("certificate of node {}", n.id), source)
                    })?
                }
            };
            let desired = secrets::node_secret(c, n, &leaf, &cluster_ca, &clients_ca.cert);
            if current.as_ref().map(|s| &s.data) != Some(&desired.data) {
                self.ssa(c, "Secret", &desired, &name).await?;
            }
        }
        Ok(())
    }

    /// How the admin client reaches `c`'s brokers: plaintext on an unsecured cluster;
    /// mTLS with the operator's certificate on a secured one, and plaintext to `stale`
    /// (brokers not yet rolled onto their current config) only as its fallback. Before
    /// the certificate step first ran in this process there is no certificate: then
    /// plaintext, which only brokers that have not rolled onto an SSL `OPERATOR`
    /// listener accept (the next reconcile has the certificate).
    pub(super) fn admin_access_at(
        &self,
        c: &ValidatedCluster,
        stale: BTreeSet<String>,
    ) -> AdminAccess {
        self.identities
            .access(c)
            .unwrap_or_else(AdminAccess::plaintext)
            .with_plaintext_until_rolled(stale)
    }

    /// CA `which`: the user's (`generateCertificateAuthority: false`), or the operator's
    /// from its Secret, generated or renewed (and written) when due.
    async fn ca(
        &self,
        c: &ValidatedCluster,
        which: Ca,
        now: i64,
    ) -> Result<CaPem, KubeRuntimeError> {
        let spec = match which {
            Ca::Cluster => &c.cluster_ca,
            Ca::Clients => &c.clients_ca,
        };
        if !spec.generate_certificate_authority {
            let name = spec.secret_name.clone().unwrap_or_default();
            let s = self.get_secret(c, &name).await?;
            let ca = s
                .as_ref()
                .and_then(|s| {
                    Some(CaPem {
                        cert: text(s, secrets::CA_CERT)?,
                        key: text(s, secrets::CA_KEY)?,
                    })
                })
                .ok_or_else(|| {
                    pki_err(
                        format!("{} Secret {name}", which.slug()),
                        pki::PkiError::Unreadable(
                            "the Secret must exist and hold ca.crt and ca.key",
                        ),
                    )
                })?;
            pki::check_usable_ca(&ca)
                .map_err(|e| pki_err(format!("{} Secret {name}", which.slug()), e))?;
            let cert = secrets::ca_cert_secret(c, which, &ca.cert);
            self.ssa(c, "Secret", &cert, &secrets::ca_cert_secret_name(c, which))
                .await?;
            return Ok(ca);
        }
        let name = secrets::ca_secret_name(c, which);
        let stored = self.get_secret(c, &name).await?.and_then(|s| {
            Some(CaPem {
                cert: text(&s, secrets::CA_CERT)?,
                key: text(&s, secrets::CA_KEY)?,
            })
        });
        let v = Validity::from(spec);
        let common_name = format!("{} {}", c.name, which.slug());
        let ca = match stored {
            Some(ca) => match pki::ca_renewal(&ca, v, now) {
                None => return Ok(ca),
                Some(_) => pki::renew_ca(&ca, &common_name, v, now),
            },
            None => pki::generate_ca(&common_name, v, now),
        }
        .map_err(|e| pki_err(which.slug().to_owned(), e))?;
        for s in secrets::ca_secrets(c, which, &ca) {
            let n = s.metadata.name.clone().unwrap_or_default();
            self.ssa(c, "Secret", &s, &n).await?;
        }
        Ok(ca)
    }

    async fn get_secret(
        &self,
        c: &ValidatedCluster,
        name: &str,
    ) -> Result<Option<Secret>, KubeRuntimeError> {
        self.api::<Secret>(c)
            .get_opt(name)
            .await
            .map_err(|source| api_err("get", "Secret", name, source))
    }
}

fn pki_err(what: String, source: pki::PkiError) -> KubeRuntimeError {
    KubeRuntimeError::Certificates { what, source }
}
