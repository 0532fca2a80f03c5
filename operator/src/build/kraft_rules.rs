//! Test support: the startup rules Kafka's `KafkaConfig` applies to KRaft settings,
//! checked over the `server.properties` of every node of a cluster at once, so both
//! runtimes' rendered configs are held to what a Kafka (and the Tidewater) broker will
//! accept. Written from Kafka's documented rules, not from either implementation:
//!
//! - `node.id` is unique across controllers and brokers;
//! - `process.roles` is `broker`, `controller` or `broker,controller`;
//! - every node lists the same `controller.quorum.voters`, with distinct voter ids,
//!   each a node of the cluster; a node is a voter exactly when it has the controller
//!   role, except a controller joining through `controller.quorum.bootstrap.servers`
//!   (KIP-853);
//! - `controller.listener.names` is set; a controller binds a listener of that name and
//!   a controller-only node binds nothing else; a broker-only node binds none of them
//!   and advertises none of them;
//! - each voter entry points at the host and port its controller listener binds;
//! - no two nodes share a port or a log dir (the local runtime runs them on one host).

use std::collections::{BTreeMap, BTreeSet};

/// A listener entry of `listeners`: (name, host, port).
fn listeners(value: &str) -> Vec<(String, String, String)> {
    value
        .split(',')
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once("://")?;
            let (host, port) = rest.rsplit_once(':')?;
            Some((name.to_owned(), host.to_owned(), port.to_owned()))
        })
        .collect()
}

/// Every rule broken by a cluster whose nodes render `configs`, one message each;
/// `shared_host` when all nodes run on one host (their ports must then differ).
pub fn violations(configs: &[BTreeMap<String, String>], shared_host: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    let mut ports: BTreeMap<String, String> = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    let voters_of_first = configs
        .first()
        .and_then(|p| p.get("controller.quorum.voters"))
        .cloned()
        .unwrap_or_default();
    let mut voters: BTreeMap<String, String> = BTreeMap::new();
    for entry in voters_of_first.split(',').filter(|e| !e.is_empty()) {
        match entry.split_once('@') {
            Some((id, addr)) if voters.insert(id.to_owned(), addr.to_owned()).is_none() => {}
            Some((id, _)) => out.push(format!("voter id {id} listed twice")),
            None => out.push(format!("voter `{entry}` is not id@host:port")),
        }
    }
    if voters.is_empty() {
        out.push("controller.quorum.voters is empty".to_owned());
    }
    for p in configs {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
        let id = get("node.id");
        let me = format!("node {id}");
        if id.parse::<i32>().is_err() || !ids.insert(id.to_owned()) {
            out.push(format!("{me}: node.id missing, invalid or not unique"));
        }
        let roles = get("process.roles");
        let (broker, controller) = match roles {
            "broker" => (true, false),
            "controller" => (false, true),
            "broker,controller" => (true, true),
            other => {
                out.push(format!("{me}: process.roles `{other}`"));
                continue;
            }
        };
        if get("controller.quorum.voters") != voters_of_first {
            out.push(format!("{me}: a different controller.quorum.voters"));
        }
        // KIP-853: a controller outside the initial voters joins through the bootstrap
        // servers (AddRaftVoter makes it a voter).
        let joining = controller && !get("controller.quorum.bootstrap.servers").is_empty();
        if voters.contains_key(id) != controller && !joining {
            out.push(format!(
                "{me}: voter={} but controller role={controller}",
                voters.contains_key(id)
            ));
        }
        let names: Vec<&str> = get("controller.listener.names")
            .split(',')
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            out.push(format!("{me}: controller.listener.names is not set"));
        }
        let bound = listeners(get("listeners"));
        let (ctrl, other): (Vec<_>, Vec<_>) =
            bound.iter().partition(|l| names.contains(&l.0.as_str()));
        if controller && ctrl.is_empty() {
            out.push(format!("{me}: a controller binds no controller listener"));
        }
        if !broker && !other.is_empty() {
            out.push(format!("{me}: a controller-only node binds {other:?}"));
        }
        if !controller && !ctrl.is_empty() {
            out.push(format!("{me}: a broker-only node binds {ctrl:?}"));
        }
        if broker && other.is_empty() {
            out.push(format!("{me}: a broker binds no client listener"));
        }
        if listeners(get("advertised.listeners"))
            .iter()
            .any(|l| names.contains(&l.0.as_str()))
        {
            out.push(format!("{me}: advertises a controller listener"));
        }
        if let (Some(addr), Some((_, host, port))) = (voters.get(id), ctrl.first()) {
            let ok = addr.ends_with(&format!(":{port}"))
                && (host.is_empty() || addr.starts_with(&format!("{host}:")));
            if !ok {
                out.push(format!("{me}: voter entry {addr} but binds {host}:{port}"));
            }
        }
        if shared_host {
            let http = get("tidewater.http.listener").rsplit(':').next();
            let mine = bound.iter().map(|l| l.2.as_str()).chain(http);
            for port in mine {
                if let Some(owner) = ports.insert(port.to_owned(), id.to_owned()) {
                    out.push(format!("{me}: port {port} is also node {owner}'s"));
                }
            }
        }
        if !dirs.insert(get("log.dirs").to_owned()) && shared_host {
            out.push(format!("{me}: log.dirs shared with another node"));
        }
    }
    for id in voters.keys().filter(|id| !ids.contains(*id)) {
        out.push(format!("voter {id} is no node of the cluster"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn controller(id: &str, port: &str) -> BTreeMap<String, String> {
        node(&[
            ("node.id", id),
            ("process.roles", "controller"),
            ("controller.quorum.voters", "1000@h:1"),
            ("controller.listener.names", "CONTROLLER"),
            ("listeners", &format!("CONTROLLER://h:{port}")),
            ("tidewater.http.listener", "h:3"),
            ("log.dirs", "/c"),
        ])
    }

    fn broker(id: &str, listeners: &str) -> BTreeMap<String, String> {
        node(&[
            ("node.id", id),
            ("process.roles", "broker"),
            ("controller.quorum.voters", "1000@h:1"),
            ("controller.listener.names", "CONTROLLER"),
            ("listeners", listeners),
            ("tidewater.http.listener", "h:4"),
            ("log.dirs", "/b"),
        ])
    }

    #[test]
    fn a_well_formed_cluster_passes() {
        let ok = [controller("1000", "1"), broker("0", "PLAINTEXT://h:2")];
        assert_eq!(violations(&ok, true), Vec::<String>::new());
    }

    /// The checker must be able to fail: each broken rule is caught.
    #[test]
    fn each_rule_catches_its_break() {
        let cases: [(&[BTreeMap<String, String>], &str); 7] = [
            (
                &[controller("1000", "1"), broker("1000", "PLAINTEXT://h:2")],
                "not unique",
            ),
            (
                &[controller("1000", "1"), broker("0", "CONTROLLER://h:2")],
                "broker-only node binds",
            ),
            (&[controller("1000", "7")], "voter entry h:1 but binds h:7"),
            (
                &[controller("1000", "1"), broker("1000", "PLAINTEXT://h:1")],
                "port 1 is also node 1000's",
            ),
            (&[broker("0", "PLAINTEXT://h:2")], "voter 1000 is no node"),
            (
                &[controller("1000", "1"), broker("1000", "PLAINTEXT://h:2")],
                "voter=true but controller role=false",
            ),
            (
                &[{
                    let mut c = controller("1000", "1");
                    c.insert(
                        "listeners".into(),
                        "CONTROLLER://h:1,PLAINTEXT://h:2".into(),
                    );
                    c
                }],
                "controller-only node binds",
            ),
        ];
        for (configs, expected) in cases {
            let found = violations(configs, true);
            assert!(
                found.iter().any(|v| v.contains(expected)),
                "expected `{expected}` in {found:?}"
            );
        }
    }
}
