//! SASL on SASL_PLAINTEXT and SASL_SSL listeners: which mechanisms a listener enables
//! (`sasl.enabled.mechanisms`), its PLAIN users (the listener's `PlainLoginModule`
//! JAAS config), and one connection's exchange as a sans-IO state machine. SCRAM
//! credentials come from the replicated metadata through a lookup the caller passes;
//! the server owns the SaslHandshake/SaslAuthenticate frames around it.

pub mod fuzz;
pub mod jaas;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;

use tidewater_quorum::records::UserScramCredential;

use super::tls::ListenerProps;
use crate::config::ConfigError;
use scram::{ScramMechanism, ScramServer};

/// A SASL mechanism this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            other => ScramMechanism::from_name(other).map(Self::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Scram(m) => m.name(),
        }
    }
}

/// Kafka's `PlainLoginModule`, which a PLAIN listener's JAAS config must name.
const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// One SASL listener's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslListener {
    /// `sasl.enabled.mechanisms`, in the configured order (SaslHandshake lists them).
    pub enabled: Vec<Mechanism>,
    /// PLAIN users: name -> password (`user_<name>` options of the JAAS config).
    pub plain_users: BTreeMap<String, String>,
    /// KIP-368 `connections.max.reauth.ms`: how long an authentication holds before the
    /// client must re-authenticate on the connection; `None` (0, Kafka's default) never.
    pub max_reauth: Option<std::time::Duration>,
}

impl SaslListener {
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|m| m.name()).collect()
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Listener `name`'s SASL settings from the broker's properties; a mechanism this
/// broker cannot serve (Kafka's default GSSAPI, OAUTHBEARER) stops startup.
pub fn listener_sasl(
    props: &BTreeMap<String, String>,
    name: &str,
) -> Result<SaslListener, ConfigError> {
    let p = ListenerProps::new(props, name);
    let (key, value) = p
        .get("sasl.enabled.mechanisms")
        .unwrap_or_else(|| ("sasl.enabled.mechanisms".into(), "GSSAPI"));
    let mut enabled = Vec::new();
    for m in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let mechanism = Mechanism::from_name(m).ok_or_else(|| {
            invalid(
                &key,
                value,
                format!(
                    "mechanism {m} is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                ),
            )
        })?;
        if !enabled.contains(&mechanism) {
            enabled.push(mechanism);
        }
    }
    if enabled.is_empty() {
        return Err(invalid(&key, value, "no SASL mechanism enabled"));
    }
    let mut plain_users = BTreeMap::new();
    if enabled.contains(&Mechanism::Plain) {
        let (key, jaas) = p.get("plain.sasl.jaas.config").ok_or_else(|| {
            invalid(
                &format!(
                    "listener.name.{}.plain.sasl.jaas.config",
                    name.to_ascii_lowercase()
                ),
                "",
                "PLAIN is enabled but the listener has no PlainLoginModule JAAS config",
            )
        })?;
        // The value is a secret: never echo it.
        let entry = jaas::parse(jaas).map_err(|e| invalid(&key, "(hidden)", e.to_string()))?;
        if entry.login_module != PLAIN_LOGIN_MODULE {
            return Err(invalid(
                &key,
                "(hidden)",
                format!("expected {PLAIN_LOGIN_MODULE}, got {}", entry.login_module),
            ));
        }
        plain_users = entry
            .options
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v)))
            .collect();
    }
    let max_reauth = match p.get("connections.max.reauth.ms") {
        None => None,
        Some((k, v)) => match v.parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(std::time::Duration::from_millis(ms)),
            Err(_) => return Err(invalid(&k, v, "not a number of type LONG")),
        },
    };
    Ok(SaslListener {
        enabled,
        plain_users,
        max_reauth,
    })
}

/// What the client gets back from one SaslAuthenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A challenge: the exchange goes on.
    Continue(Vec<u8>),
    /// Authenticated as `user` (the principal is `User:<user>`); `token` is the
    /// mechanism's last message (empty for PLAIN).
    Done { user: String, token: Vec<u8> },
}

/// One connection's exchange for the mechanism its SaslHandshake chose.
#[derive(Debug)]
pub enum Exchange {
    Plain,
    /// Boxed: one exchange per connection, and only while it authenticates.
    Scram(Box<ScramServer>),
}

impl Exchange {
    pub fn new(mechanism: Mechanism) -> Self {
        match mechanism {
            Mechanism::Plain => Self::Plain,
            Mechanism::Scram(m) => Self::Scram(Box::new(ScramServer::new(m))),
        }
    }

    /// Takes the client's next token. `scram_credential` finds a user's credential
    /// (user, Kafka mechanism type) in the metadata image.
    pub fn step(
        &mut self,
        token: &[u8],
        listener: &SaslListener,
        scram_credential: impl FnOnce(&str, i8) -> Option<UserScramCredential>,
    ) -> Result<Step, SaslFailure> {
        match self {
            Self::Plain => plain::authenticate(token, &listener.plain_users)
                .map(|user| Step::Done {
                    user,
                    token: Vec::new(),
                })
                .map_err(|reason| SaslFailure {
                    client_message: reason.clone(),
                    reason,
                }),
            Self::Scram(server) => {
                let name = server.mechanism().name();
                let step = if server.started() {
                    server
                        .last(token)
                        .map(|(user, token)| Step::Done { user, token })
                } else {
                    let mechanism = server.mechanism().type_id();
                    scram::server_nonce().and_then(|nonce| {
                        server
                            .first(token, |user| scram_credential(user, mechanism), &nonce)
                            .map(Step::Continue)
                    })
                };
                step.map_err(|e| SaslFailure::scram(name, e.0))
            }
        }
    }
}

/// A failed exchange: what the client is told, and the reason logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslFailure {
    /// SaslAuthenticate's error message, worded as Kafka's.
    pub client_message: String,
    pub reason: String,
}

impl SaslFailure {
    /// Kafka passes its `SaslAuthenticationException`s ("Authentication failed: ...")
    /// to the client as they are and hides every other SCRAM failure behind one
    /// message, so a client learns nothing about what was wrong.
    fn scram(mechanism: &str, reason: String) -> Self {
        let client_message = if reason.starts_with("Authentication failed") {
            reason.clone()
        } else {
            format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
            )
        };
        Self {
            client_message,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tls::tests::props;

    #[test]
    fn listener_mechanisms_and_plain_users() {
        let p = props(&[
            ("sasl.enabled.mechanisms", "GSSAPI"),
            (
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "PLAIN, SCRAM-SHA-512",
            ),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" user_admin="a" user_alice="b";"#,
            ),
        ]);
        let l = listener_sasl(&p, "SASL_PLAINTEXT").unwrap();
        assert_eq!(l.enabled_names(), ["PLAIN", "SCRAM-SHA-512"]);
        assert_eq!(l.plain_users.len(), 2);
        assert_eq!(l.plain_users["alice"], "b");
        // Kafka's default, GSSAPI, is refused by name.
        let err = listener_sasl(&p, "OTHER").unwrap_err().to_string();
        assert!(err.contains("GSSAPI"), "{err}");
    }

    #[test]
    fn plain_needs_a_plain_login_module() {
        let p = props(&[("sasl.enabled.mechanisms", "PLAIN")]);
        assert!(listener_sasl(&p, "L").is_err());
        let p = props(&[
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.l.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ),
        ]);
        assert!(listener_sasl(&p, "L").is_err());
        let p = props(&[("sasl.enabled.mechanisms", "SCRAM-SHA-256")]);
        assert!(listener_sasl(&p, "L").unwrap().plain_users.is_empty());
    }
}
