//! How this broker secures its own connections to another node's listener: the
//! replica fetchers and transaction markers on the inter-broker listener
//! (`sasl.mechanism.inter.broker.protocol`) and the controller client and raft
//! traffic on the controller listener (`sasl.mechanism.controller.protocol`), as
//! Kafka's inter-broker `ChannelBuilders.clientChannelBuilder` does: TLS from the
//! listener's `ssl.*` keys (see `tls::client_config`), SASL credentials from the
//! `username`/`password` options of the listener's
//! `listener.name.<l>.<mechanism>.sasl.jaas.config`.
//!
//! Reads config only; refusals are [`ConfigError`]s naming the key, so a broker that
//! could not authenticate to its peers stops before it binds.

use std::collections::BTreeMap;

use tidewater_client::{ClientSasl, ClientSecurity, ClientTls, SaslMechanism};

use super::sasl::jaas;
use super::tls::{ListenerProps, client_config};
use crate::config::{ConfigError, SecurityProtocol};

/// Kafka's default for both `sasl.mechanism.*.protocol` keys.
const DEFAULT_MECHANISM: &str = "GSSAPI";

const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// The client side of listener `listener` (speaking `protocol`); `mechanism_key` names
/// the key that picks its SASL mechanism.
pub fn client_security(
    props: &BTreeMap<String, String>,
    listener: &str,
    protocol: SecurityProtocol,
    mechanism_key: &str,
) -> Result<ClientSecurity, ConfigError> {
    let tls = if protocol.uses_tls() {
        Some(ClientTls::new(client_config(props, listener)?))
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        Some(client_sasl(props, listener, mechanism_key)?)
    } else {
        None
    };
    Ok(ClientSecurity { tls, sasl })
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

pub(super) fn client_sasl(
    props: &BTreeMap<String, String>,
    listener: &str,
    mechanism_key: &str,
) -> Result<ClientSasl, ConfigError> {
    let name = props
        .get(mechanism_key)
        .map_or(DEFAULT_MECHANISM, |v| v.trim());
    let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
        invalid(
            mechanism_key,
            name,
            format!(
                "listener {listener} is SASL; its connections authenticate with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 only"
            ),
        )
    })?;
    let p = ListenerProps::new(props, listener);
    let prefixed = format!("{}.sasl.jaas.config", mechanism.name().to_ascii_lowercase());
    let (key, value) = p
        .get(&prefixed)
        .or_else(|| p.get("sasl.jaas.config"))
        .ok_or_else(|| ConfigError::Missing {
            key: format!(
                "listener.name.{}.{prefixed} (the {} credentials this broker authenticates to listener {listener} with)",
                listener.to_ascii_lowercase(),
                mechanism.name(),
            ),
        })?;
    // The value holds a password: never echo it.
    let entry = jaas::parse(value).map_err(|e| invalid(&key, "(hidden)", e.to_string()))?;
    let module = match mechanism {
        SaslMechanism::Plain => PLAIN_LOGIN_MODULE,
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => SCRAM_LOGIN_MODULE,
    };
    if entry.login_module != module {
        return Err(invalid(
            &key,
            "(hidden)",
            format!(
                "{} needs {module}, got {}",
                mechanism.name(),
                entry.login_module
            ),
        ));
    }
    let option = |o: &str| {
        entry.options.get(o).cloned().ok_or_else(|| {
            invalid(
                &key,
                "(hidden)",
                format!("no `{o}` option: the credentials this broker authenticates with"),
            )
        })
    };
    Ok(ClientSasl {
        mechanism,
        username: option("username")?,
        password: option("password")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::tls::tests::props;

    const KEY: &str = "sasl.mechanism.inter.broker.protocol";

    #[test]
    fn credentials_from_the_listeners_mechanism_jaas_config() {
        let p = props(&[
            (KEY, "SCRAM-SHA-512"),
            (
                "listener.name.internal.scram-sha-512.sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s3cret";"#,
            ),
        ]);
        let s = client_security(&p, "INTERNAL", SecurityProtocol::SaslPlaintext, KEY).unwrap();
        assert!(s.tls.is_none());
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(
            (sasl.username.as_str(), sasl.password.as_str()),
            ("broker", "s3cret")
        );
        // PLAINTEXT needs nothing.
        let s = client_security(&p, "INTERNAL", SecurityProtocol::Plaintext, KEY).unwrap();
        assert!(s.sasl.is_none() && s.tls.is_none());
    }

    #[test]
    fn refusals_name_the_key_and_hide_the_password() {
        // Kafka's default mechanism, GSSAPI, is refused by name.
        let err = client_security(&props(&[]), "L", SecurityProtocol::SaslPlaintext, KEY)
            .unwrap_err()
            .to_string();
        assert!(err.contains(KEY) && err.contains("GSSAPI"), "{err}");
        let missing = props(&[(KEY, "PLAIN")]);
        let err = client_security(&missing, "L", SecurityProtocol::SaslPlaintext, KEY)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listener.name.l.plain.sasl.jaas.config"),
            "{err}"
        );
        let wrong_module = props(&[
            (KEY, "PLAIN"),
            (
                "listener.name.l.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="pw1";"#,
            ),
        ]);
        let err = client_security(&wrong_module, "L", SecurityProtocol::SaslPlaintext, KEY)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PlainLoginModule") && !err.contains("pw1"),
            "{err}"
        );
        let no_password = props(&[
            (KEY, "PLAIN"),
            (
                "listener.name.l.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" user_u="pw2";"#,
            ),
        ]);
        let err = client_security(&no_password, "L", SecurityProtocol::SaslPlaintext, KEY)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`password`") && !err.contains("pw2"), "{err}");
    }
}
