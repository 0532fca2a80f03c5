//! Listeners and the certificate authorities behind them, in Strimzi's shape: a named
//! listener with a port, `tls: true|false` and `authentication: {type: tls |
//! scram-sha-512}`; `clusterCa` / `clientsCa` with `validityDays`, `renewalDays` and
//! `generateCertificateAuthority: false` with `secretName` for a CA the user brings.
//! Wire shape only; `validate` resolves it and `build::listeners` renders it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DEFAULT_CLIENT_PORT;

/// Days a generated CA or issued certificate is valid unless the spec says otherwise
/// (Strimzi's default).
pub const DEFAULT_CA_VALIDITY_DAYS: i32 = 365;
/// Days before expiry a certificate is renewed unless the spec says otherwise
/// (Strimzi's default).
pub const DEFAULT_CA_RENEWAL_DAYS: i32 = 30;

/// A client listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Listener name; its Kafka listener name is the upper-cased name (a single
    /// plaintext listener without security keeps the name `PLAINTEXT`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]{0,24}$"))]
    pub name: String,
    /// Container port of the listener.
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
    /// Who can reach the listener; only `internal` (in-cluster) for now.
    #[serde(default, rename = "type")]
    pub kind: ListenerType,
    /// TLS with a broker certificate signed by the cluster CA.
    #[serde(default)]
    pub tls: bool,
    /// How clients authenticate; absent: they do not (principal `User:ANONYMOUS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ListenerAuthentication>,
}

impl Default for ListenerSpec {
    fn default() -> Self {
        Self {
            name: "plain".to_owned(),
            port: DEFAULT_CLIENT_PORT,
            kind: ListenerType::Internal,
            tls: false,
            authentication: None,
        }
    }
}

/// Reachability of a listener.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ListenerType {
    /// Reachable inside the Kubernetes cluster, through the broker's stable DNS name.
    #[default]
    Internal,
}

/// Client authentication on a listener (`{type: ...}`, as Strimzi's).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub struct ListenerAuthentication {
    /// The mechanism.
    #[serde(rename = "type")]
    pub kind: AuthenticationType,
}

/// How clients of a listener authenticate.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AuthenticationType {
    /// Mutual TLS: a client certificate signed by the clients CA (`ssl.client.auth=required`);
    /// the principal is the certificate's subject. Needs `tls: true`.
    #[serde(rename = "tls")]
    Tls,
    /// SASL SCRAM-SHA-512 with credentials stored in the cluster metadata
    /// (AlterUserScramCredentials): `SASL_SSL` with `tls: true`, else `SASL_PLAINTEXT`.
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
}

/// A certificate authority the operator generates (and renews), or one the user brings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthoritySpec {
    /// `false`: the CA is the user's, read from `secretName` (keys `ca.crt` and `ca.key`;
    /// on the local runtime the files `<state-dir>/secrets/<secretName>/ca.crt` and `ca.key`).
    #[serde(default = "default_true")]
    pub generate_certificate_authority: bool,
    /// The user's CA (see `generateCertificateAuthority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: Option<String>,
    /// Days a generated CA and each certificate it issues are valid.
    #[serde(default = "default_validity_days")]
    #[schemars(range(min = 1, max = 36500))]
    pub validity_days: i32,
    /// Days before expiry a certificate is renewed (broker certificates are rewritten in
    /// place and reloaded by the brokers without a restart).
    #[serde(default = "default_renewal_days")]
    #[schemars(range(min = 0, max = 36500))]
    pub renewal_days: i32,
}

impl Default for CertificateAuthoritySpec {
    fn default() -> Self {
        Self {
            generate_certificate_authority: true,
            secret_name: None,
            validity_days: DEFAULT_CA_VALIDITY_DAYS,
            renewal_days: DEFAULT_CA_RENEWAL_DAYS,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_validity_days() -> i32 {
    DEFAULT_CA_VALIDITY_DAYS
}

fn default_renewal_days() -> i32 {
    DEFAULT_CA_RENEWAL_DAYS
}

/// Where clients reach one listener (Strimzi's `status.listeners`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// `spec.listeners[].name`.
    pub name: String,
    /// `host:port` list clients bootstrap from.
    pub bootstrap_servers: String,
}
