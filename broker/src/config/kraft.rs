//! KRaft mode keys: `process.roles`, `controller.quorum.voters`,
//! `controller.listener.names` and the broker <-> controller timings.
//!
//! Owns the rules Kafka applies to them at startup (a controller must be a voter and
//! have a controller listener; a broker-only node must not bind one; every voter has a
//! distinct id). Without `process.roles` the node runs the single-node metadata store
//! of earlier releases instead (no quorum).

use super::ConfigError;
use super::listeners::{Listener, parse_listeners};
use super::properties::Props;

/// Which roles this node plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Roles {
    pub fn is_combined(&self) -> bool {
        self.broker && self.controller
    }
}

/// One `controller.quorum.voters` entry: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The validated KRaft settings of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KraftConfig {
    pub roles: Roles,
    pub voters: Vec<Voter>,
    /// `controller.listener.names`, upper-cased.
    pub controller_listener_names: Vec<String>,
    /// The listener this node's controller binds (controllers only).
    pub controller_listener: Option<Listener>,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `controller.quorum.election.timeout.ms` (lower bound of the randomized range).
    pub election_timeout_ms: u64,
    /// `controller.quorum.request.timeout.ms`.
    pub request_timeout_ms: u64,
    /// `inter.broker.protocol.version` as a `metadata.version` level: this node declares
    /// no support above it, so the cluster cannot finalize a newer level while the pin
    /// stays (the staged rolling upgrade's protocol pin).
    pub metadata_version_pin: Option<u16>,
}

/// Parses `inter.broker.protocol.version`: a level (`21`), Kafka's name of one
/// (`3.9-IV0`), or a release (`3.9`: its newest level).
pub fn parse_metadata_version(value: &str) -> Option<u16> {
    let value = value.trim();
    if let Ok(level) = value.parse::<u16>() {
        return (level >= 1).then_some(level);
    }
    let names =
        (1..=i16::MAX).map_while(|l| tidewater_client::metadata_version_name(l).map(|n| (l, n)));
    let mut found = None;
    for (level, name) in names {
        if name == value || name.split('-').next() == Some(value) {
            found = u16::try_from(level).ok();
        }
    }
    found
}

/// `controller.quorum.voters`: `1@host:9093,2@host:9093`.
pub fn parse_voters(value: &str) -> Result<Vec<Voter>, ConfigError> {
    let invalid = |entry: &str, reason: &str| ConfigError::Invalid {
        key: "controller.quorum.voters".into(),
        value: value.into(),
        reason: format!("`{entry}`: {reason}"),
    };
    let mut voters: Vec<Voter> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| invalid(entry, "expected id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| invalid(entry, "the id must be a non-negative integer"))?;
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| invalid(entry, "expected id@host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid(entry, "the host must not be empty"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(entry, "the port must be 1-65535"))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(invalid(entry, "duplicate voter id"));
        }
        voters.push(Voter {
            id,
            host: host.to_string(),
            port,
        });
    }
    if voters.is_empty() {
        return Err(invalid(value, "at least one voter is required"));
    }
    Ok(voters)
}

/// Reads the KRaft keys; `Ok(None)` when `process.roles` is not set.
pub(super) fn kraft_config(
    p: &Props<'_>,
    node_id: i32,
) -> Result<Option<KraftConfig>, ConfigError> {
    let Some(raw_roles) = p.get("process.roles") else {
        return Ok(None);
    };
    let invalid = |key: &str, value: &str, reason: String| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason,
    };
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for r in raw_roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        match r {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            other => {
                return Err(invalid(
                    "process.roles",
                    raw_roles,
                    format!("unknown role `{other}`; expected broker, controller or both"),
                ));
            }
        }
    }
    if !roles.broker && !roles.controller {
        return Err(invalid(
            "process.roles",
            raw_roles,
            "expected broker, controller or broker,controller".into(),
        ));
    }
    let voters = match (
        p.get("controller.quorum.voters"),
        p.get("controller.quorum.bootstrap.servers"),
    ) {
        (Some(v), _) => parse_voters(v)?,
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "controller.quorum.bootstrap.servers".into(),
                value: p.get("controller.quorum.bootstrap.servers").unwrap_or("").into(),
                reason: "dynamic quorums (KIP-853) are not supported; list the voters in controller.quorum.voters".into(),
            });
        }
        (None, None) => {
            return Err(ConfigError::Missing {
                key: "controller.quorum.voters".into(),
            });
        }
    };
    let is_voter = voters.iter().any(|v| v.id == node_id);
    if roles.controller && !is_voter {
        return Err(invalid(
            "controller.quorum.voters",
            p.get("controller.quorum.voters").unwrap_or(""),
            format!("this node has the controller role, so node.id {node_id} must be a voter"),
        ));
    }
    if !roles.controller && is_voter {
        return Err(invalid(
            "controller.quorum.voters",
            p.get("controller.quorum.voters").unwrap_or(""),
            format!("node.id {node_id} is a voter but process.roles has no controller role"),
        ));
    }
    let names: Vec<String> = p
        .get("controller.listener.names")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ConfigError::Missing {
            key: "controller.listener.names".into(),
        });
    }
    let all = parse_listeners("listeners", p.get("listeners").unwrap_or(""))?;
    let controller_listener = all.iter().find(|l| names.contains(&l.name)).cloned();
    if roles.controller && controller_listener.is_none() {
        return Err(invalid(
            "listeners",
            p.get("listeners").unwrap_or(""),
            format!(
                "a controller must bind its controller listener ({}) in listeners",
                names.join(",")
            ),
        ));
    }
    if !roles.controller && controller_listener.is_some() {
        return Err(invalid(
            "listeners",
            p.get("listeners").unwrap_or(""),
            "a broker-only node must not bind a controller listener".into(),
        ));
    }
    let session = p.int("broker.session.timeout.ms", 9000u64, 1, u64::MAX)?;
    let heartbeat = p.int("broker.heartbeat.interval.ms", 2000u64, 1, u64::MAX)?;
    if heartbeat >= session {
        return Err(invalid(
            "broker.heartbeat.interval.ms",
            &heartbeat.to_string(),
            "must be less than broker.session.timeout.ms".into(),
        ));
    }
    let metadata_version_pin = match p.get("inter.broker.protocol.version") {
        None => None,
        Some(v) => Some(parse_metadata_version(v).ok_or_else(|| {
            invalid(
                "inter.broker.protocol.version",
                v,
                "expected a metadata.version level (e.g. 21), its name (3.9-IV0) or a release (3.9)".into(),
            )
        })?),
    };
    Ok(Some(KraftConfig {
        metadata_version_pin,
        roles,
        voters,
        controller_listener_names: names,
        controller_listener,
        broker_session_timeout_ms: session,
        broker_heartbeat_interval_ms: heartbeat,
        election_timeout_ms: p.int(
            "controller.quorum.election.timeout.ms",
            1000u64,
            10,
            u64::MAX,
        )?,
        request_timeout_ms: p.int(
            "controller.quorum.request.timeout.ms",
            2000u64,
            10,
            u64::MAX,
        )?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn kraft(pairs: &[(&str, &str)], node_id: i32) -> Result<Option<KraftConfig>, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        kraft_config(&Props(&map), node_id)
    }

    const COMBINED: &[(&str, &str)] = &[
        ("process.roles", "broker,controller"),
        ("controller.quorum.voters", "1@127.0.0.1:9093,2@[::1]:9094"),
        ("controller.listener.names", "controller"),
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093"),
    ];

    #[test]
    fn combined_node_is_read_with_kafka_defaults() {
        let k = kraft(COMBINED, 1).unwrap().unwrap();
        assert!(k.roles.is_combined());
        assert_eq!(k.voters.len(), 2);
        assert_eq!(k.voters[1].host, "::1");
        assert_eq!(k.controller_listener.unwrap().port, 9093);
        assert_eq!(k.broker_session_timeout_ms, 9000);
        assert_eq!(k.broker_heartbeat_interval_ms, 2000);
        assert!(kraft(&[], 1).unwrap().is_none());
        assert_eq!(parse_metadata_version("3.9-IV0"), Some(21));
        assert_eq!(parse_metadata_version("3.7"), Some(19));
        assert_eq!(parse_metadata_version("14"), Some(14));
        assert_eq!(parse_metadata_version("2.8"), None);
        let mut pinned = COMBINED.to_vec();
        pinned.push(("inter.broker.protocol.version", "3.8"));
        assert_eq!(
            kraft(&pinned, 1).unwrap().unwrap().metadata_version_pin,
            Some(20)
        );
        pinned.push(("inter.broker.protocol.version", "bogus"));
        assert!(kraft(&pinned, 1).is_err());
    }

    #[test]
    fn kafka_rules_are_enforced_with_the_key_named() {
        let err = |pairs: &[(&str, &str)], id| kraft(pairs, id).unwrap_err().to_string();
        assert!(err(COMBINED, 3).contains("must be a voter"));
        let mut broker_only = COMBINED.to_vec();
        broker_only[0] = ("process.roles", "broker");
        assert!(err(&broker_only, 5).contains("must not bind a controller listener"));
        assert!(err(&broker_only, 1).contains("no controller role"));
        let mut bad = COMBINED.to_vec();
        bad[0] = ("process.roles", "leader");
        assert!(err(&bad, 1).contains("unknown role"));
        for voters in ["1@h", "x@h:1", "1@:9093", "1@h:1,1@h:2", "1@h:0"] {
            let mut v = COMBINED.to_vec();
            v[1] = ("controller.quorum.voters", voters);
            assert!(err(&v, 1).contains("controller.quorum.voters"), "{voters}");
        }
        let mut no_names = COMBINED.to_vec();
        no_names.remove(2);
        assert!(err(&no_names, 1).contains("controller.listener.names"));
        let mut hb = COMBINED.to_vec();
        hb.push(("broker.heartbeat.interval.ms", "9000"));
        assert!(err(&hb, 1).contains("broker.session.timeout.ms"));
    }
}
