//! `listener.security.protocol.map` and the inter-broker listener: which security
//! protocol each listener speaks, as Kafka's `KafkaConfig` resolves them.
//!
//! Owns the protocol names and Kafka's defaulting rules; it knows nothing about
//! TLS or SASL themselves (see `crate::security`).

use std::collections::BTreeMap;

use super::ConfigError;
use super::listeners::Listener;
use super::properties::Props;

/// Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name (`SecurityProtocol.name`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// `SecurityProtocol.forName`: case-insensitive, as Kafka upper-cases it.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        let upper = name.trim().to_ascii_uppercase();
        Self::ALL.into_iter().find(|p| p.name() == upper)
    }

    /// The connection is wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Clients must authenticate with SaslHandshake/SaslAuthenticate first.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const MAP_KEY: &str = "listener.security.protocol.map";

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`), refusing an
/// unknown protocol or a listener named twice.
pub fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let invalid = |reason: String| ConfigError::Invalid {
            key: MAP_KEY.into(),
            value: value.into(),
            reason: format!("`{entry}`: {reason}"),
        };
        let (name, proto) = entry
            .split_once(':')
            .ok_or_else(|| invalid("expected NAME:PROTOCOL".into()))?;
        let name = name.trim().to_ascii_uppercase();
        let protocol = SecurityProtocol::from_name(proto).ok_or_else(|| {
            invalid(format!(
                "unknown security protocol `{}`; expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
                proto.trim()
            ))
        })?;
        if name.is_empty() {
            return Err(invalid("listener name is empty".into()));
        }
        if map.insert(name, protocol).is_some() {
            return Err(invalid("each listener name may appear only once".into()));
        }
    }
    Ok(map)
}

/// The effective map: the configured one, or Kafka's default (each protocol mapped
/// to itself, and — only when the map is not set — controller listeners not named
/// after a protocol mapped to PLAINTEXT, as KRaft's `effectiveListenerSecurityProtocolMap`).
pub(super) fn protocol_map(
    p: &Props<'_>,
    controller_names: &[String],
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    if let Some(v) = p.get(MAP_KEY) {
        return parse_protocol_map(v);
    }
    let mut map: BTreeMap<String, SecurityProtocol> = SecurityProtocol::ALL
        .into_iter()
        .map(|s| (s.name().to_string(), s))
        .collect();
    for name in controller_names {
        map.entry(name.clone())
            .or_insert(SecurityProtocol::Plaintext);
    }
    Ok(map)
}

/// The protocol of every listener in `listeners`, refusing one the map lacks
/// (Kafka: "No security protocol defined for listener").
pub(super) fn listener_protocols(
    map: &BTreeMap<String, SecurityProtocol>,
    listeners: &[Listener],
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    listeners
        .iter()
        .map(|l| match map.get(&l.name) {
            Some(proto) => Ok((l.name.clone(), *proto)),
            None => Err(ConfigError::Invalid {
                key: MAP_KEY.into(),
                value: map
                    .iter()
                    .map(|(n, p)| format!("{n}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
                reason: format!(
                    "no security protocol defined for listener {} (listeners: {}://{})",
                    l.name,
                    l.name,
                    l.host_port()
                ),
            }),
        })
        .collect()
}

/// `inter.broker.listener.name`, or the listener named after
/// `security.inter.broker.protocol` (default PLAINTEXT); setting both is refused
/// as Kafka refuses it.
pub(super) fn inter_broker_listener_name(p: &Props<'_>) -> Result<String, ConfigError> {
    match (
        p.get("inter.broker.listener.name"),
        p.get("security.inter.broker.protocol"),
    ) {
        (Some(name), Some(_)) => Err(ConfigError::Invalid {
            key: "inter.broker.listener.name".into(),
            value: name.into(),
            reason: "only one of inter.broker.listener.name and security.inter.broker.protocol should be set".into(),
        }),
        (Some(name), None) => Ok(name.trim().to_ascii_uppercase()),
        (None, Some(proto)) => SecurityProtocol::from_name(proto)
            .map(|s| s.name().to_string())
            .ok_or_else(|| ConfigError::Invalid {
                key: "security.inter.broker.protocol".into(),
                value: proto.into(),
                reason: "expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL".into(),
            }),
        (None, None) => Ok(SecurityProtocol::Plaintext.name().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `key=value` lines, as a `server.properties` would hold them.
    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        crate::config::parse_properties(&text)
    }

    #[test]
    fn default_map_is_each_protocol_to_itself_plus_controller_listeners() {
        let map = protocol_map(&Props(&props(&[])), &["CONTROLLER".into()]).unwrap();
        assert_eq!(map["SSL"], SecurityProtocol::Ssl);
        assert_eq!(map["SASL_SSL"], SecurityProtocol::SaslSsl);
        assert_eq!(map["CONTROLLER"], SecurityProtocol::Plaintext);
        assert!(!map.contains_key("INTERNAL"));
        // A controller listener named after a protocol keeps that protocol.
        let map = protocol_map(&Props(&props(&[])), &["SSL".into()]).unwrap();
        assert_eq!(map["SSL"], SecurityProtocol::Ssl);
    }

    #[test]
    fn an_explicit_map_replaces_the_default() {
        let p = props(&[(MAP_KEY, "internal:ssl, EXTERNAL:SASL_SSL")]);
        let map = protocol_map(&Props(&p), &["CONTROLLER".into()]).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["INTERNAL"], SecurityProtocol::Ssl);
        assert_eq!(map["EXTERNAL"], SecurityProtocol::SaslSsl);
    }

    #[test]
    fn bad_maps_name_the_key_and_the_entry() {
        for (bad, reason) in [
            ("A:TLS", "unknown security protocol `TLS`"),
            ("A", "expected NAME:PROTOCOL"),
            ("A:SSL,a:PLAINTEXT", "only once"),
            (":SSL", "empty"),
        ] {
            let err = parse_protocol_map(bad).unwrap_err().to_string();
            assert!(
                err.contains(MAP_KEY) && err.contains(reason),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_listener_missing_from_the_map_is_refused() {
        let map = parse_protocol_map("PLAINTEXT:PLAINTEXT").unwrap();
        let l = Listener {
            name: "INTERNAL".into(),
            host: "h".into(),
            port: 1,
        };
        let err = listener_protocols(&map, &[l]).unwrap_err().to_string();
        assert!(
            err.contains(MAP_KEY)
                && err.contains("no security protocol defined for listener INTERNAL"),
            "{err}"
        );
    }

    #[test]
    fn inter_broker_listener_from_either_key_but_not_both() {
        let name = |pairs: &[(&str, &str)]| inter_broker_listener_name(&Props(&props(pairs)));
        assert_eq!(name(&[]).unwrap(), "PLAINTEXT");
        assert_eq!(
            name(&[("security.inter.broker.protocol", "ssl")]).unwrap(),
            "SSL"
        );
        assert_eq!(
            name(&[("inter.broker.listener.name", "internal")]).unwrap(),
            "INTERNAL"
        );
        let both = name(&[
            ("inter.broker.listener.name", "INTERNAL"),
            ("security.inter.broker.protocol", "SSL"),
        ])
        .unwrap_err()
        .to_string();
        assert!(both.contains("only one of"), "{both}");
        let bad = name(&[("security.inter.broker.protocol", "TLS")])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("security.inter.broker.protocol"), "{bad}");
    }
}
