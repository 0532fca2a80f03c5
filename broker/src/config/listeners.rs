//! `listeners` / `advertised.listeners` parsing (`NAME://host:port,...`).
//!
//! Owns the listener syntax; which protocol each speaks is
//! [`super::security_protocol`]'s, binding sockets the server's job.

use std::collections::BTreeMap;

use super::ConfigError;
use super::properties::Props;
use super::security_protocol::{SecurityProtocol, listener_protocols, protocol_map};

/// One `NAME://host:port` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name (`PLAINTEXT`, `INTERNAL`, ...), upper-cased as Kafka does.
    pub name: String,
    /// Host to bind or advertise; empty means all interfaces (bind) / this host.
    pub host: String,
    /// Port; 0 binds an ephemeral port (advertised as the port actually bound).
    pub port: u16,
}

impl Listener {
    /// `host:port`, bracketing IPv6 literals.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Parses a comma-separated listener list for config `key`.
pub fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let invalid = |reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: format!("`{entry}`: {reason}"),
        };
        let (name, rest) = entry
            .split_once("://")
            .ok_or_else(|| invalid("expected NAME://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected NAME://host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("port must be a number from 0 to 65535"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid("listener name must be letters, digits, '_' or '-'"));
        }
        let name = name.to_ascii_uppercase();
        if out.iter().any(|l| l.name == name) {
            return Err(invalid("each listener name may appear only once"));
        }
        out.push(Listener {
            name,
            host: host.to_string(),
            port,
        });
    }
    Ok(out)
}

/// `advertised.listeners` (defaults to `listeners`): routable, and each one's name
/// also a listener this broker binds.
pub(super) fn advertised_listeners(
    p: &Props<'_>,
    listeners: &[Listener],
) -> Result<Vec<Listener>, ConfigError> {
    let advertised = match p.get("advertised.listeners") {
        Some(v) => parse_listeners("advertised.listeners", v)?,
        None => listeners.to_vec(),
    };
    for a in &advertised {
        if a.host == "0.0.0.0" || a.host == "::" {
            return Err(ConfigError::Invalid {
                key: "advertised.listeners".into(),
                value: a.host_port(),
                reason: "cannot advertise the non-routable meta-address; set advertised.listeners"
                    .into(),
            });
        }
        if !listeners.iter().any(|l| l.name == a.name) {
            return Err(ConfigError::Invalid {
                key: "advertised.listeners".into(),
                value: a.name.clone(),
                reason: "every advertised listener name must also be in listeners".into(),
            });
        }
    }
    Ok(advertised)
}

/// Listeners to bind: `listeners` minus controller listeners, each with the
/// security protocol `listener.security.protocol.map` gives it. Controller
/// listeners are checked against the map too, as Kafka checks every listener.
pub(super) fn broker_listeners(
    p: &Props<'_>,
    controller_names: &[String],
    controller_only: bool,
) -> Result<(Vec<Listener>, BTreeMap<String, SecurityProtocol>), ConfigError> {
    let all = parse_listeners(
        "listeners",
        p.get("listeners").unwrap_or("PLAINTEXT://:9092"),
    )?;
    let map = protocol_map(p, controller_names)?;
    let protocols = listener_protocols(&map, &all)?;
    let out: Vec<Listener> = all
        .into_iter()
        .filter(|l| !controller_names.contains(&l.name))
        .collect();
    if out.is_empty() && !controller_only {
        return Err(ConfigError::Invalid {
            key: "listeners".into(),
            value: p.get("listeners").unwrap_or_default().into(),
            reason: "no broker listener left (all are controller listeners)".into(),
        });
    }
    Ok((out, protocols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_hosts_and_ports() {
        let l = parse_listeners(
            "listeners",
            "PLAINTEXT://127.0.0.1:9092, internal://[::1]:0,EXT://:9094",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[0],
            Listener {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092
            }
        );
        assert_eq!(l[1].name, "INTERNAL");
        assert_eq!(l[1].host, "::1");
        assert_eq!(l[1].host_port(), "[::1]:0");
        assert_eq!(l[2].host, "");
    }

    #[test]
    fn rejects_bad_entries_naming_the_key() {
        for bad in [
            "127.0.0.1:9092",
            "PLAINTEXT://h:99999",
            "PLAINTEXT://h",
            "A://h:1,A://h:2",
        ] {
            let err = parse_listeners("listeners", bad).unwrap_err().to_string();
            assert!(err.contains("listeners"), "{bad}: {err}");
        }
    }
}
