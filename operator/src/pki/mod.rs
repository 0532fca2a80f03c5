//! pki: the cluster CA and clients CA, and the certificates they issue — pure functions
//! of PEM text and a clock passed in (no IO, no `now()`), so both runtimes share them
//! and tests drive renewal by moving the clock.
//!
//! A generated CA is a self-signed ECDSA P-256 certificate. It is renewed by re-signing
//! the same key and subject with a new validity (Strimzi's "renew certificate, keep
//! key"): every certificate it issued stays valid, and clients that trust the CA keep
//! trusting it. A broker certificate is reissued (new key) when it is missing, within
//! `renewalDays` of expiry, for other names, from another CA, or issued for another
//! validity than the spec's (a changed `validityDays` reissues at once).
//!
//! Must not: read or write files or Secrets (the runtimes do), or decide where a
//! certificate goes.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[cfg(test)]
mod tests;

/// Seconds a certificate's `notBefore` lies before its issue, so a node whose clock is
/// slightly behind the operator's accepts it.
pub const BACKDATE_SECONDS: i64 = 3600;
const DAY: i64 = 86_400;
/// Organization of every subject the operator issues.
pub const ORGANIZATION: &str = "tidewater.io";

/// Errors making or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to make or sign a certificate.
    #[error("{what}: {source}")]
    Rcgen {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: rcgen::Error,
    },
    /// A PEM certificate could not be read.
    #[error("{0}: not a readable PEM certificate")]
    Unreadable(&'static str),
    /// A time outside what a certificate can carry.
    #[error("certificate validity out of range")]
    Time,
}

fn rc(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { what, source }
}

/// A certificate and its private key, PEM: a CA ([`CaPem`]) or one it issued
/// ([`LeafPem`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CertAndKey {
    /// The certificate alone (a CA's is what truststores hold).
    pub cert: String,
    /// Its PKCS#8 private key.
    pub key: String,
}

/// A CA's certificate and key.
pub type CaPem = CertAndKey;
/// An issued certificate and its key.
pub type LeafPem = CertAndKey;

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: this ends up in logs.
        f.debug_struct("CertAndKey")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl CertAndKey {
    /// Kafka's PEM keystore (`ssl.keystore.type=PEM`): key, then the leaf, then the CA.
    pub fn keystore(&self, ca: &CaPem) -> String {
        format!("{}{}{}", self.key, self.cert, ca.cert)
    }
}

/// How long certificates live and when they are renewed (`spec.clusterCa` /
/// `spec.clientsCa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Days from issue to expiry.
    pub days: i64,
    /// Renew this many days before expiry.
    pub renewal_days: i64,
}

impl From<&crate::crd::CertificateAuthoritySpec> for Validity {
    fn from(s: &crate::crd::CertificateAuthoritySpec) -> Self {
        Validity {
            days: i64::from(s.validity_days),
            renewal_days: i64::from(s.renewal_days),
        }
    }
}

fn at(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PkiError::Time)
}

fn set_validity(p: &mut CertificateParams, v: Validity, now: i64) -> Result<(), PkiError> {
    p.not_before = at(now - BACKDATE_SECONDS)?;
    p.not_after = at(now + v.days * DAY)?;
    Ok(())
}

/// A new self-signed CA named `common_name`, valid from `now` (Unix seconds).
pub fn generate_ca(common_name: &str, v: Validity, now: i64) -> Result<CaPem, PkiError> {
    let key = KeyPair::generate().map_err(rc("generating the CA key"))?;
    self_sign(ca_params(common_name), &key, v, now)
}

/// A generated CA's parameters: the same name gives the same subject, byte for byte,
/// which is what lets a renewed certificate stand in for the old one.
fn ca_params(common_name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn self_sign(
    mut p: CertificateParams,
    key: &KeyPair,
    v: Validity,
    now: i64,
) -> Result<CaPem, PkiError> {
    set_validity(&mut p, v, now)?;
    // A renewed CA has the same key and subject: a fresh serial tells them apart.
    p.serial_number = Some(SerialNumber::from(u64::try_from(now).unwrap_or_default()));
    let cert = p.self_signed(key).map_err(rc("self-signing the CA"))?;
    Ok(CaPem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The generated CA `common_name` (see [`generate_ca`]) re-signed with its key `ca.key`
/// and the same subject, valid from `now`.
pub fn renew_ca(ca: &CaPem, common_name: &str, v: Validity, now: i64) -> Result<CaPem, PkiError> {
    let key = KeyPair::from_pem(&ca.key).map_err(rc("reading the CA key"))?;
    self_sign(ca_params(common_name), &key, v, now)
}

/// Whether `ca`'s certificate and key can issue certificates (they parse, match, and
/// the certificate is a CA).
pub fn check_usable_ca(ca: &CaPem) -> Result<(), PkiError> {
    // Issue a throwaway certificate and verify it against the CA: a key that does not
    // belong to the certificate fails here instead of on every client.
    let leaf = issue(
        ca,
        "check",
        &[],
        Validity {
            days: 1,
            renewal_days: 0,
        },
        0,
        false,
    )?;
    if verify_issued(&leaf.cert, &ca.cert) {
        Ok(())
    } else {
        Err(PkiError::Unreadable(
            "the CA key does not belong to the CA certificate",
        ))
    }
}

/// A certificate for `common_name` (subject `O=tidewater.io, CN=...`) with the DNS names
/// and IP addresses `sans`, signed by `ca`. `server`: usable as a TLS server and client
/// certificate (brokers); otherwise a client certificate only.
pub fn issue(
    ca: &CaPem,
    common_name: &str,
    sans: &[String],
    v: Validity,
    now: i64,
    server: bool,
) -> Result<LeafPem, PkiError> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    issue_for(ca, dn, sans, v, now, server)
}

/// A client certificate for a `KafkaUser`: subject `CN=<user>` alone (Strimzi's), so
/// Kafka's default `ssl.principal.mapping.rules` makes the principal `User:CN=<user>`.
pub fn issue_user(ca: &CaPem, user: &str, v: Validity, now: i64) -> Result<LeafPem, PkiError> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, user);
    issue_for(ca, dn, &[], v, now, false)
}

fn issue_for(
    ca: &CaPem,
    dn: DistinguishedName,
    sans: &[String],
    v: Validity,
    now: i64,
    server: bool,
) -> Result<LeafPem, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key).map_err(rc("reading the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, &ca_key).map_err(rc("reading the CA"))?;
    let mut p = CertificateParams::new(sans.to_vec()).map_err(rc("naming the certificate"))?;
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = if server {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    set_validity(&mut p, v, now)?;
    let key = KeyPair::generate().map_err(rc("generating a certificate key"))?;
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(rc("signing a certificate"))?;
    Ok(LeafPem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Why a certificate must be (re)issued; `None` from [`leaf_renewal`] when it is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// There is none, or it does not parse.
    Missing,
    /// It expires within the renewal window (or has expired).
    Expiring,
    /// It names other hosts than the node has now.
    Names,
    /// Another CA signed it (the CA was replaced).
    OtherCa,
    /// It was issued for another validity than the spec's.
    Validity,
}

impl Renewal {
    /// CamelCase reason for events and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Renewal::Missing => "Missing",
            Renewal::Expiring => "Expiring",
            Renewal::Names => "NamesChanged",
            Renewal::OtherCa => "CaChanged",
            Renewal::Validity => "ValidityChanged",
        }
    }
}

/// The parts of a certificate renewal depends on.
struct Seen {
    not_before: i64,
    not_after: i64,
    sans: Vec<String>,
}

fn der_of(pem: &str) -> Option<Vec<u8>> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    Some(p.contents)
}

fn seen(pem: &str) -> Option<Seen> {
    let der = der_of(pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let mut sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(b) => ip_text(b),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    sans.sort();
    Some(Seen {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sans,
    })
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| std::net::Ipv4Addr::from(a).to_string()),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| std::net::Ipv6Addr::from(a).to_string()),
        _ => None,
    }
}

/// Whether `ca_pem`'s key signed `cert_pem`.
pub fn verify_issued(cert_pem: &str, ca_pem: &str) -> bool {
    let (Some(leaf), Some(ca)) = (der_of(cert_pem), der_of(ca_pem)) else {
        return false;
    };
    let (Ok((_, leaf)), Ok((_, ca))) = (
        X509Certificate::from_der(&leaf),
        X509Certificate::from_der(&ca),
    ) else {
        return false;
    };
    leaf.verify_signature(Some(ca.public_key())).is_ok()
}

/// `notAfter` of a PEM certificate (Unix seconds).
pub fn not_after(cert_pem: &str) -> Option<i64> {
    seen(cert_pem).map(|s| s.not_after)
}

/// Why the certificate `cert_pem` (if any) must be reissued for `sans` by `ca` under
/// `v` at `now`, or `None` when it can stay.
pub fn leaf_renewal(
    cert_pem: Option<&str>,
    ca: &CaPem,
    sans: &[String],
    v: Validity,
    now: i64,
) -> Option<Renewal> {
    let Some(s) = cert_pem.and_then(seen) else {
        return Some(Renewal::Missing);
    };
    if !verify_issued(cert_pem.unwrap_or_default(), &ca.cert) {
        return Some(Renewal::OtherCa);
    }
    let mut want: Vec<String> = sans.to_vec();
    want.sort();
    if s.sans != want {
        return Some(Renewal::Names);
    }
    if s.not_after - s.not_before != v.days * DAY + BACKDATE_SECONDS {
        return Some(Renewal::Validity);
    }
    expiring(s.not_after, v, now).then_some(Renewal::Expiring)
}

/// Whether a generated CA must be renewed (re-signed) at `now`.
pub fn ca_renewal(ca: &CaPem, v: Validity, now: i64) -> Option<Renewal> {
    let Some(s) = seen(&ca.cert) else {
        return Some(Renewal::Missing);
    };
    if s.not_after - s.not_before != v.days * DAY + BACKDATE_SECONDS {
        return Some(Renewal::Validity);
    }
    expiring(s.not_after, v, now).then_some(Renewal::Expiring)
}

fn expiring(not_after: i64, v: Validity, now: i64) -> bool {
    now + v.renewal_days * DAY >= not_after
}
