//! The local runtime's certificates, as files: the CAs under
//! `<state-dir>/<cluster>/pki/` (`cluster-ca.crt|key`, `clients-ca.crt|key`), and in each
//! node's `tls/` the files its `server.properties` names (`keystore.pem`,
//! `cluster-ca.crt`, `clients-ca.crt`) plus `broker.crt`, the leaf alone, read back to
//! decide renewal. The operator's own client certificate ([`crate::identity`]) is
//! `pki/operator.pem` (certificate, then key: one file, so a crash never pairs a
//! certificate with another key). A CA the user brings (`generateCertificateAuthority: false`) is read
//! from `<state-dir>/secrets/<secretName>/ca.crt|ca.key`, the files a kube Secret of
//! that name would mount.
//!
//! Checked on every tick: a file is rewritten only when its content must change (a new
//! or renewed certificate), and the broker, which polls its keystore and truststore
//! files once a second, serves the new one without a restart. Decisions are
//! [`crate::pki`]'s; this module only reads and writes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::state::{StateDir, StateError, TLS_SUBDIR};
use crate::build::listeners::{CLIENTS_CA_FILE, CLUSTER_CA_FILE, KEYSTORE_FILE};
use crate::crd::CertificateAuthoritySpec;
use crate::identity::{self, AdminAccess};
use crate::pki::{self, CaPem, PkiError, Validity};
use crate::validate::ValidatedCluster;

/// The leaf certificate alone, next to the keystore.
pub const LEAF_FILE: &str = "broker.crt";
/// The operator's client certificate and key, in the cluster's `pki/`.
pub const OPERATOR_FILE: &str = "operator.pem";

/// Errors managing the local certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The operator's certificate does not make a TLS config.
    #[error("the operator's certificate: {0}")]
    OperatorTls(#[from] tidewater_client::TlsPemError),
    /// A certificate could not be made or read.
    #[error("{what}: {source}")]
    Pki {
        /// Which CA or certificate.
        what: String,
        /// Why.
        #[source]
        source: PkiError,
    },
}

/// What [`ensure`] changed, for events: `(reason, message)`.
pub type Changes = Vec<(&'static str, String)>;

/// Directory of the cluster's CAs.
pub fn pki_dir(state: &StateDir, cluster: &str) -> PathBuf {
    state.root().join(cluster).join("pki")
}

/// [`ensure`] at the wall-clock time, each change logged and recorded as an event.
pub fn ensure_now(state: &StateDir, c: &ValidatedCluster) -> Result<(), CertError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for (reason, message) in ensure(state, c, now)? {
        tracing::info!(cluster = %c.name, reason, "{message}");
        state.event("Normal", reason, &message)?;
    }
    Ok(())
}

/// Makes every CA and node certificate of `c` current at `now` (Unix seconds).
pub fn ensure(state: &StateDir, c: &ValidatedCluster, now: i64) -> Result<Changes, CertError> {
    let mut changes = Changes::new();
    if !c.secured() {
        return Ok(changes);
    }
    let dir = pki_dir(state, &c.name);
    let cluster_ca = ca(
        state,
        &dir,
        "cluster-ca",
        &c.cluster_ca,
        &c.name,
        now,
        &mut changes,
    )?;
    let clients_ca = ca(
        state,
        &dir,
        "clients-ca",
        &c.clients_ca,
        &c.name,
        now,
        &mut changes,
    )?;
    let v = Validity::from(&c.cluster_ca);
    for n in &c.nodes {
        let tls = state.node_dir(&c.name, n.id).join(TLS_SUBDIR);
        std::fs::create_dir_all(&tls).map_err(|source| StateError::Io {
            path: tls.clone(),
            source,
        })?;
        let sans = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let current = read_opt(&tls.join(LEAF_FILE))?;
        if let Some(why) = pki::leaf_renewal(current.as_deref(), &cluster_ca, &sans, v, now) {
            let leaf = pki::issue(
                &cluster_ca,
                &crate::identity::broker_common_name(c),
                &sans,
                v,
                now,
                true,
            )
            .map_err(|source| CertError::Pki {
                what: format!("node {} certificate", n.id),
                source,
            })?;
            write_if_changed(&tls.join(KEYSTORE_FILE), &leaf.keystore(&cluster_ca), true)?;
            write_if_changed(&tls.join(LEAF_FILE), &leaf.cert, false)?;
            changes.push((
                if why == pki::Renewal::Missing {
                    "CertificateIssued"
                } else {
                    "CertificateRenewed"
                },
                format!("node {}: certificate issued ({})", n.id, why.reason()),
            ));
        }
        write_if_changed(&tls.join(CLUSTER_CA_FILE), &cluster_ca.cert, false)?;
        write_if_changed(&tls.join(CLIENTS_CA_FILE), &clients_ca.cert, false)?;
    }
    let operator = dir.join(OPERATOR_FILE);
    let current = read_opt(&operator)?;
    if let Some(why) = identity::operator_cert_renewal(current.as_deref(), &cluster_ca, v, now) {
        let leaf = identity::issue_operator_cert(&cluster_ca, v, now).map_err(|source| {
            CertError::Pki {
                what: "the operator's certificate".to_owned(),
                source,
            }
        })?;
        std::fs::create_dir_all(&dir).map_err(|source| StateError::Io {
            path: dir.clone(),
            source,
        })?;
        write_if_changed(&operator, &format!("{}{}", leaf.cert, leaf.key), true)?;
        changes.push((
            if why == pki::Renewal::Missing {
                "CertificateIssued"
            } else {
                "CertificateRenewed"
            },
            format!("operator: client certificate issued ({})", why.reason()),
        ));
    }
    Ok(changes)
}

/// How the operator reaches `c`'s brokers: plaintext on an unsecured cluster, else mTLS
/// with `pki/operator.pem` ([`ensure`] writes it), trusting the cluster CA.
pub fn operator_access(state: &StateDir, c: &ValidatedCluster) -> Result<AdminAccess, CertError> {
    if !c.secured() {
        return Ok(AdminAccess::plaintext());
    }
    let pem = read(&pki_dir(state, &c.name).join(OPERATOR_FILE))?;
    let ca = read(&cluster_ca_path(state, c))?;
    // The file holds the certificate and then its key: each is read by its PEM label.
    let leaf = pki::LeafPem {
        cert: pem.clone(),
        key: pem,
    };
    Ok(AdminAccess::mtls(&leaf, &ca)?)
}

/// The cluster CA certificate: the operator's (`pki/`) or the one the user brings.
fn cluster_ca_path(state: &StateDir, c: &ValidatedCluster) -> PathBuf {
    if c.cluster_ca.generate_certificate_authority {
        pki_dir(state, &c.name).join("cluster-ca.crt")
    } else {
        user_ca_dir(state, &c.cluster_ca).join("ca.crt")
    }
}

/// Where a CA the user brings lies: the files its kube Secret would mount.
fn user_ca_dir(state: &StateDir, spec: &CertificateAuthoritySpec) -> PathBuf {
    state
        .root()
        .join("secrets")
        .join(spec.secret_name.as_deref().unwrap_or_default())
}

/// The CA `name` (`cluster-ca` / `clients-ca`): the user's, or generated and renewed here.
fn ca(
    state: &StateDir,
    dir: &Path,
    name: &str,
    spec: &CertificateAuthoritySpec,
    cluster: &str,
    now: i64,
    changes: &mut Changes,
) -> Result<CaPem, CertError> {
    let pki_err = |source| CertError::Pki {
        what: name.to_owned(),
        source,
    };
    if !spec.generate_certificate_authority {
        let secret = user_ca_dir(state, spec);
        let ca = CaPem {
            cert: read(&secret.join("ca.crt"))?,
            key: read(&secret.join("ca.key"))?,
        };
        pki::check_usable_ca(&ca).map_err(pki_err)?;
        return Ok(ca);
    }
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let v = Validity::from(spec);
    let common_name = format!("{cluster} {name}");
    let stored = match (read_opt(&cert_path)?, read_opt(&key_path)?) {
        (Some(cert), Some(key)) => Some(CaPem { cert, key }),
        _ => None,
    };
    let ca = match stored {
        None => {
            let ca = pki::generate_ca(&common_name, v, now).map_err(pki_err)?;
            changes.push(("CaGenerated", format!("{name} generated")));
            ca
        }
        Some(ca) => match pki::ca_renewal(&ca, v, now) {
            None => return Ok(ca),
            Some(why) => {
                let ca = pki::renew_ca(&ca, &common_name, v, now).map_err(pki_err)?;
                changes.push(("CaRenewed", format!("{name} renewed ({})", why.reason())));
                ca
            }
        },
    };
    std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // Key first: a crash between the two leaves a key without its certificate, which
    // the next tick replaces with a new CA rather than a certificate nobody can sign with.
    write_if_changed(&key_path, &ca.key, true)?;
    write_if_changed(&cert_path, &ca.cert, false)?;
    Ok(ca)
}

fn read(path: &Path) -> Result<String, StateError> {
    std::fs::read_to_string(path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, StateError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `text` to `path` through a rename (the broker never reads half a file) when
/// it differs; `secret` files are created owner-only.
pub(crate) fn write_if_changed(path: &Path, text: &str, secret: bool) -> Result<(), StateError> {
    if read_opt(path)?.as_deref() == Some(text) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StateError::Io { path: p, source }
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
