//! The credentials a `KafkaUser`'s Secret holds, in Strimzi's keys: `password` and
//! `sasl.jaas.config` for SCRAM-SHA-512; `user.crt`, `user.key` and `ca.crt` (the
//! clients CA) for TLS. Decides what they must be from what they are: a password
//! stays until the user brings another, a certificate stays until
//! [`crate::pki::leaf_renewal`] says otherwise (expiring, another CA, another
//! validity), as the brokers' certificates. Pure but for the random password and key.

use std::collections::BTreeMap;

use ring::rand::SecureRandom;

use super::NotReady;
use crate::pki::{self, CaPem, Validity};

/// The SCRAM password.
pub const PASSWORD: &str = "password";
/// A JAAS line for Java clients (`sasl.jaas.config`).
pub const SASL_JAAS_CONFIG: &str = "sasl.jaas.config";
/// The user's certificate.
pub const USER_CRT: &str = "user.crt";
/// The certificate's private key (PKCS#8 PEM).
pub const USER_KEY: &str = "user.key";
/// The clients CA certificate (what signed `user.crt`).
pub const CA_CRT: &str = "ca.crt";
/// Length of a generated password (Strimzi's default).
const PASSWORD_LENGTH: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What the Secret must hold, and whether that differs from what it holds.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Key to text.
    pub data: BTreeMap<String, String>,
    /// `data` differs from the current contents: the Secret must be written (and a
    /// SCRAM credential upserted).
    pub changed: bool,
    /// Why a certificate was (re)issued, for an event.
    pub issued: Option<pki::Renewal>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password or key: this ends up in logs.
        f.debug_struct("Credentials")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

/// A random password of letters and digits.
pub fn generate_password() -> Result<String, NotReady> {
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(PASSWORD_LENGTH);
    let mut buf = [0u8; 64];
    while out.len() < PASSWORD_LENGTH {
        rng.fill(&mut buf)
            .map_err(|_| NotReady::new("PasswordFailed", "the system random generator failed"))?;
        // Rejection sampling: 248 = 4 x 62, so every character is equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() < PASSWORD_LENGTH {
                out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// The `sasl.jaas.config` line of `username` / `password` (quotes and backslashes
/// escaped as Java's JAAS parser reads them).
pub fn jaas_config(username: &str, password: &str) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
        q(username),
        q(password)
    )
}

/// A SCRAM user's Secret: the `provided` password (the user's own), else the one it
/// holds, else a new one.
pub fn scram(
    username: &str,
    current: &BTreeMap<String, String>,
    provided: Option<&str>,
) -> Result<Credentials, NotReady> {
    let password = match (provided, current.get(PASSWORD)) {
        (Some(p), _) => p.to_owned(),
        (None, Some(p)) if !p.is_empty() => p.clone(),
        (None, _) => generate_password()?,
    };
    let data = BTreeMap::from([
        (
            SASL_JAAS_CONFIG.to_owned(),
            jaas_config(username, &password),
        ),
        (PASSWORD.to_owned(), password),
    ]);
    Ok(Credentials {
        changed: &data != current,
        data,
        issued: None,
    })
}

/// A TLS user's Secret: its certificate from `clients_ca`, reissued when due.
pub fn tls(
    name: &str,
    current: &BTreeMap<String, String>,
    clients_ca: &CaPem,
    v: Validity,
    now: i64,
) -> Result<Credentials, NotReady> {
    let cert = current.get(USER_CRT).map(String::as_str);
    let due = pki::leaf_renewal(cert, clients_ca, &[], v, now);
    let (crt, key) = match (due, cert, current.get(USER_KEY)) {
        (None, Some(crt), Some(key)) => (crt.to_owned(), key.clone()),
        _ => {
            let leaf = pki::issue_user(clients_ca, name, v, now)
                .map_err(|e| NotReady::new("CertificateFailed", e.to_string()))?;
            (leaf.cert, leaf.key)
        }
    };
    let data = BTreeMap::from([
        (USER_CRT.to_owned(), crt),
        (USER_KEY.to_owned(), key),
        (CA_CRT.to_owned(), clients_ca.cert.clone()),
    ]);
    Ok(Credentials {
        changed: &data != current,
        data,
        issued: due,
    })
}
