//! KRaft mode keys: `process.roles`, `controller.quorum.voters`,
//! `controller.listener.names` and the broker <-> controller timings.
//!
//! Owns the rules Kafka applies to them at startup (a controller must be a voter and
//! have a controller listener; a broker-only node must not bind one; every voter has a
//! distinct id). Without `process.roles` the node is a one-voter combined node (broker
//! and controller, itself the only voter): Kafka 4 has no other mode, and this keeps the
//! one-command start. Its controller listener is the one `controller.listener.names`
//! (default `CONTROLLER`) names in `listeners`, as Kafka's quickstart configures it
//! (`CONTROLLER://:9093`); without one, `127.0.0.1` on a port the kernel picks: only this
//! process talks to its own controller, so nothing else needs to know the port.

use tidewater_quorum::controller::MINIMUM_METADATA_VERSION;

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
    /// No `process.roles` was given: the node is the whole cluster (broker, controller
    /// and only voter), so replication factors above 1 are capped to 1.
    pub single_node: bool,
    /// `inter.broker.protocol.version` as a `metadata.version` level: this node declares
    /// no support above it, so the cluster cannot finalize a newer level while the pin
    /// stays (the staged rolling upgrade's protocol pin).
    pub metadata_version_pin: Option<u16>,
}

/// Parses `inter.broker.protocol.version`: a level (`21`), Kafka's name of one
/// (`3.9-IV0`), or a release (`3.9`: its newest level); none below Kafka 4's lowest
/// level, 3.3-IV3, which no node supports any more.
pub fn parse_metadata_version(value: &str) -> Option<u16> {
    let value = value.trim();
    if let Ok(level) = value.parse::<u16>() {
        return (level >= MINIMUM_METADATA_VERSION).then_some(level);
    }
    let names =
        (1..=i16::MAX).map_while(|l| tidewater_client::metadata_version_name(l).map(|n| (l, n)));
    let mut found = None;
    for (level, name) in names {
        if name == value || name.split('-').next() == Some(value) {
            found = u16::try_from(level)
                .ok()
                .filter(|l| *l >= MINIMUM_METADATA_VERSION);
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
        let (host, port) = host_port(addr).map_err(|reason| {
            invalid(entry, reason.replace("host:port", "id@host:port").as_str())
        })?;
        if voters.iter().any(|v| v.id == id) {
            return Err(invalid(entry, "duplicate voter id"));
        }
        voters.push(Voter { id, host, port });
    }
    if voters.is_empty() {
        return Err(invalid(value, "at least one voter is required"));
    }
    Ok(voters)
}

/// `host:port` (IPv6 hosts may be bracketed), or why not.
fn host_port(addr: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = addr.rsplit_once(':').ok_or("expected host:port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host must not be empty");
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or("the port must be 1-65535")?;
    Ok((host.to_string(), port))
}

/// `controller.quorum.bootstrap.servers` (KIP-853): `host:port,...`. Given next to
/// `controller.quorum.voters`, it marks the quorum as dynamic: a controller that is
/// not among the initial voters starts as an observer and joins through AddRaftVoter.
pub fn parse_bootstrap_servers(value: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    let invalid = |entry: &str, reason: &str| ConfigError::Invalid {
        key: "controller.quorum.bootstrap.servers".into(),
        value: value.into(),
        reason: format!("`{entry}`: {reason}"),
    };
    let mut servers = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        servers.push(host_port(entry).map_err(|reason| invalid(entry, reason))?);
    }
    if servers.is_empty() {
        return Err(invalid(value, "at least one server is required"));
    }
    Ok(servers)
}

/// The default `controller.listener.names` of a node without `process.roles`.
const SINGLE_NODE_CONTROLLER_LISTENER: &str = "CONTROLLER";

/// Reads the KRaft keys; without `process.roles`, a one-voter combined node.
pub(super) fn kraft_config(p: &Props<'_>, node_id: i32) -> Result<KraftConfig, ConfigError> {
    let Some(raw_roles) = p.get("process.roles") else {
        return single_node(p, node_id);
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
        (Some(v), bootstrap) => {
            if let Some(b) = bootstrap {
                parse_bootstrap_servers(b)?;
            }
            parse_voters(v)?
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "controller.quorum.bootstrap.servers".into(),
                value: p.get("controller.quorum.bootstrap.servers").unwrap_or("").into(),
                reason: "also list the quorum's initial voters in controller.quorum.voters (id@host:port): node ids are needed to reach the active controller".into(),
            });
        }
        (None, None) => {
            return Err(ConfigError::Missing {
                key: "controller.quorum.voters".into(),
            });
        }
    };
    let is_voter = voters.iter().any(|v| v.id == node_id);
    let dynamic = p.get("controller.quorum.bootstrap.servers").is_some();
    if roles.controller && !is_voter && !dynamic {
        return Err(invalid(
            "controller.quorum.voters",
            p.get("controller.quorum.voters").unwrap_or(""),
            format!(
                "this node has the controller role, so node.id {node_id} must be a voter (or set controller.quorum.bootstrap.servers to join the quorum and be added with AddRaftVoter)"
            ),
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
    timings(p, roles, voters, names, controller_listener, false)
}

/// A node without `process.roles`: broker and controller, its own only voter.
fn single_node(p: &Props<'_>, node_id: i32) -> Result<KraftConfig, ConfigError> {
    if let Some(voters) = p.get("controller.quorum.voters") {
        return Err(ConfigError::Invalid {
            key: "controller.quorum.voters".into(),
            value: voters.into(),
            reason: "a quorum needs process.roles (broker, controller or both); without it the node is a single combined node and its own only voter".into(),
        });
    }
    let mut names: Vec<String> = p
        .get("controller.listener.names")
        .unwrap_or(SINGLE_NODE_CONTROLLER_LISTENER)
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        names.push(SINGLE_NODE_CONTROLLER_LISTENER.into());
    }
    let all = parse_listeners("listeners", p.get("listeners").unwrap_or(""))?;
    let listener = all
        .iter()
        .find(|l| names.contains(&l.name))
        .cloned()
        .unwrap_or_else(|| Listener {
            name: names[0].clone(),
            host: "127.0.0.1".into(),
            port: 0,
        });
    // Port 0: the voter address is the bound one (see `kraft::Cluster::start`).
    let voter = Voter {
        id: node_id,
        host: if listener.host.is_empty() {
            "127.0.0.1".into()
        } else {
            listener.host.clone()
        },
        port: listener.port,
    };
    let roles = Roles {
        broker: true,
        controller: true,
    };
    timings(p, roles, vec![voter], names, Some(listener), true)
}

/// The timing keys and the protocol pin, shared by both kinds of node.
fn timings(
    p: &Props<'_>,
    roles: Roles,
    voters: Vec<Voter>,
    names: Vec<String>,
    controller_listener: Option<Listener>,
    single_node: bool,
) -> Result<KraftConfig, ConfigError> {
    let invalid = |key: &str, value: &str, reason: String| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason,
    };
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
                "expected a metadata.version level from 7 (e.g. 21), its name (3.9-IV0) or a release (3.9)".into(),
            )
        })?),
    };
    Ok(KraftConfig {
        single_node,
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn kraft(pairs: &[(&str, &str)], node_id: i32) -> Result<KraftConfig, ConfigError> {
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
        let k = kraft(COMBINED, 1).unwrap();
        assert!(k.roles.is_combined());
        assert_eq!(k.voters.len(), 2);
        assert_eq!(k.voters[1].host, "::1");
        assert_eq!(k.controller_listener.unwrap().port, 9093);
        assert_eq!(k.broker_session_timeout_ms, 9000);
        assert_eq!(k.broker_heartbeat_interval_ms, 2000);
        assert!(!k.single_node);
        assert_eq!(parse_metadata_version("3.9-IV0"), Some(21));
        assert_eq!(parse_metadata_version("3.7"), Some(19));
        assert_eq!(parse_metadata_version("14"), Some(14));
        assert_eq!(parse_metadata_version("2.8"), None);
        assert_eq!(parse_metadata_version("3.3-IV3"), Some(7));
        assert_eq!(parse_metadata_version("3.3-IV2"), None);
        assert_eq!(parse_metadata_version("3.0"), None);
        assert_eq!(parse_metadata_version("6"), None);
        let mut pinned = COMBINED.to_vec();
        pinned.push(("inter.broker.protocol.version", "3.8"));
        assert_eq!(kraft(&pinned, 1).unwrap().metadata_version_pin, Some(20));
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

    #[test]
    fn bootstrap_servers_let_a_controller_outside_the_voters_join() {
        let mut joining = COMBINED.to_vec();
        joining.push((
            "controller.quorum.bootstrap.servers",
            "127.0.0.1:9093,[::1]:9094",
        ));
        let k = kraft(&joining, 3).unwrap();
        assert!(k.roles.controller && !k.voters.iter().any(|v| v.id == 3));
        assert_eq!(
            parse_bootstrap_servers("h:1, [::1]:2").unwrap(),
            [("h".to_string(), 1), ("::1".to_string(), 2)]
        );
        for bad in ["h", "h:0", ":1", ""] {
            let mut v = COMBINED.to_vec();
            v.push(("controller.quorum.bootstrap.servers", bad));
            let err = kraft(&v, 1).unwrap_err().to_string();
            assert!(
                err.contains("controller.quorum.bootstrap.servers"),
                "{bad}: {err}"
            );
        }
        let only_bootstrap: Vec<_> = joining
            .iter()
            .copied()
            .filter(|(k, _)| *k != "controller.quorum.voters")
            .collect();
        let err = kraft(&only_bootstrap, 3).unwrap_err().to_string();
        assert!(err.contains("initial voters"), "{err}");
    }

    #[test]
    fn without_process_roles_the_node_is_its_own_only_voter() {
        let k = kraft(&[("listeners", "PLAINTEXT://:9092")], 4).unwrap();
        assert!(k.single_node && k.roles.is_combined());
        assert_eq!(
            k.voters,
            vec![Voter {
                id: 4,
                host: "127.0.0.1".into(),
                port: 0
            }]
        );
        let l = k.controller_listener.unwrap();
        assert_eq!(
            (l.name.as_str(), l.host.as_str(), l.port),
            ("CONTROLLER", "127.0.0.1", 0)
        );
        // Kafka's quickstart layout: the CONTROLLER listener in `listeners` is used.
        let k = kraft(&[("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093")], 4).unwrap();
        assert_eq!(k.voters[0].port, 9093);
        assert_eq!(k.controller_listener.unwrap().port, 9093);
        let err = kraft(&[("controller.quorum.voters", "4@h:9093")], 4).unwrap_err();
        assert!(err.to_string().contains("process.roles"), "{err}");
    }
}
