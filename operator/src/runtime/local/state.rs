//! The local runtime's state directory: where each file lives, and reading/writing the
//! ones that outlive a process (ports and cluster id, desired spec, status, events, the
//! `up` pid file). Layout:
//!
//! ```text
//! <state-dir>/cluster.yaml        desired KafkaCluster (`up` writes it, `apply` replaces it)
//! <state-dir>/state.json          cluster id and ports per node, allocated once
//! <state-dir>/status.yaml         the status object (same shape the kube runtime writes)
//! <state-dir>/events.log          one line per action, like `kubectl get events`
//! <state-dir>/up.pid              pid of the running `local up`
//! <state-dir>/<cluster>/broker-<id>/{data/,server.properties,broker.log}
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build::config::{Addressing, Endpoints};
use crate::crd::KafkaClusterStatus;
use crate::validate::{NodeSpec, ValidatedCluster};

/// Errors reading or writing the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A state file is corrupt.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What failed to parse.
        message: String,
    },
    /// Another `local up` runs on this state dir.
    #[error("another `local up` (pid {0}) runs on this state dir; stop it with `local down`")]
    Locked(i32),
}

/// Ports of one node, allocated once and kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// PLAINTEXT listener.
    pub client: i32,
    /// CONTROLLER listener.
    pub controller: i32,
    /// `/healthz` `/readyz` `/metrics`.
    pub http: i32,
    /// Ports of listeners after the first (which is `client`), by spec-side name
    /// (client listeners, `replication`, `operator`); allocated when a listener appears.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<String, i32>,
}

impl Ports {
    /// Port of the listener named `name` in the spec (the first one is `client`).
    pub fn listener(&self, c: &ValidatedCluster, name: &str) -> Option<i32> {
        if c.listeners.first().is_some_and(|l| l.name == name) {
            return Some(self.client);
        }
        self.listeners.get(name).copied()
    }

    /// Allocates a port for every listener of `c` that has none; whether any was new.
    pub fn ensure_listeners(&mut self, c: &ValidatedCluster) -> Result<bool, StateError> {
        let mut changed = false;
        for name in crate::build::listeners::kube_listener_ports(c).into_keys() {
            if self.listener(c, &name).is_none() {
                self.listeners.insert(name, i32::from(free_listen_port()?));
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// What survives restarts of `local up`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    /// Kafka cluster id the data dirs are formatted with.
    pub cluster_id: Option<String>,
    /// Ports by node id.
    pub ports: BTreeMap<i32, Ports>,
}

impl Persisted {
    /// `host:port` of listener `name` (spec-side) on every broker of `c`.
    pub fn listener_bootstrap(&self, c: &ValidatedCluster, name: &str) -> String {
        c.brokers()
            .filter_map(|n| self.ports.get(&n.id)?.listener(c, name))
            .map(|port| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Paths of one state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// The state directory at `root` (created when missing).
    pub fn open(root: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Desired spec file.
    pub fn cluster_file(&self) -> PathBuf {
        self.root.join("cluster.yaml")
    }
    /// Status file.
    pub fn status_file(&self) -> PathBuf {
        self.root.join("status.yaml")
    }
    /// Events file.
    pub fn events_file(&self) -> PathBuf {
        self.root.join("events.log")
    }
    /// Pid file of `up`.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("up.pid")
    }
    fn persisted_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// Directory of a node: `<cluster>/broker-<id>`.
    pub fn node_dir(&self, cluster: &str, id: i32) -> PathBuf {
        self.root.join(cluster).join(format!("broker-{id}"))
    }

    /// Every node dir (`<cluster>/broker-<id>`) with its node id.
    pub fn node_dirs(&self) -> Vec<(i32, PathBuf)> {
        let Ok(clusters) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        clusters
            .flatten()
            .filter_map(|c| std::fs::read_dir(c.path()).ok())
            .flat_map(|d| d.flatten().map(|e| e.path()))
            .filter_map(|dir| {
                let id = dir
                    .file_name()?
                    .to_str()?
                    .strip_prefix("broker-")?
                    .parse()
                    .ok()?;
                Some((id, dir))
            })
            .collect()
    }

    /// Reads `state.json` (empty when absent).
    pub fn load(&self) -> Result<Persisted, StateError> {
        let path = self.persisted_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, p: &Persisted) -> Result<(), StateError> {
        let text = serde_json::to_string_pretty(p).map_err(|e| StateError::Corrupt {
            path: self.persisted_file(),
            message: e.to_string(),
        })?;
        write_atomic(&self.persisted_file(), text.as_bytes())
    }

    /// Reads the status file, if any.
    pub fn read_status(&self) -> Result<Option<KafkaClusterStatus>, StateError> {
        let path = self.status_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml::from_str(&text)
                .map(Some)
                .map_err(|e| StateError::Corrupt {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Writes the status file atomically (readers never see half a file).
    pub fn write_status(&self, s: &KafkaClusterStatus) -> Result<(), StateError> {
        let text = serde_yaml::to_string(s).map_err(|e| StateError::Corrupt {
            path: self.status_file(),
            message: e.to_string(),
        })?;
        write_atomic(&self.status_file(), text.as_bytes())
    }

    /// Appends an event line: `<time> <Normal|Warning> <Reason> <message>`.
    pub fn event(&self, type_: &str, reason: &str, message: &str) -> Result<(), StateError> {
        let path = self.events_file();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let now = k8s_openapi::jiff::Timestamp::now();
        writeln!(f, "{now} {type_} {reason} {message}").map_err(io(&path))
    }

    /// Takes the pid file for this process; fails if a live `up` holds it.
    pub fn lock(&self) -> Result<(), StateError> {
        let path = self.pid_file();
        if let Some(pid) = self.running_pid()? {
            return Err(StateError::Locked(pid));
        }
        write_atomic(&path, std::process::id().to_string().as_bytes())
    }

    /// Removes the pid file if it is ours.
    pub fn unlock(&self) {
        if self.running_pid().ok().flatten() == i32::try_from(std::process::id()).ok() {
            let _ = std::fs::remove_file(self.pid_file());
        }
    }

    /// Pid of the live `up` process, if one runs (a stale pid file counts as none).
    pub fn running_pid(&self) -> Result<Option<i32>, StateError> {
        let path = self.pid_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return Ok(None);
        };
        Ok(super::process::is_alive(pid).then_some(pid))
    }
}

/// Writes via a temporary file and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Three free 127.0.0.1 ports, below the kernel's ephemeral range.
///
/// A port the OS hands out for `bind(127.0.0.1:0)` comes from the ephemeral range
/// (`net.ipv4.ip_local_port_range`), which every outgoing connection takes its source port
/// from: while a node is down (a restart, a roll) any client could take its listener port
/// and the node would not start again ("Address already in use"). Ports below that range
/// are only ever bound on purpose, so nodes get theirs from there: a per-process sequence
/// from a pid-derived start, skipping ports in use.
pub fn free_ports() -> Result<Ports, StateError> {
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(i32::from(free_listen_port()?));
    }
    Ok(Ports {
        client: got[0],
        controller: got[1],
        http: got[2],
        listeners: BTreeMap::new(),
    })
}

/// Lowest port [`free_ports`] hands out (above the well-known and most registered ones).
const LOW_PORT: u32 = 10_000;

fn free_listen_port() -> Result<u16, StateError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let any = Path::new("127.0.0.1:0");
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .min(65_536);
    if high <= LOW_PORT + 1_000 {
        // No room below the ephemeral range: let the OS pick.
        let l = TcpListener::bind("127.0.0.1:0").map_err(io(any))?;
        return Ok(l.local_addr().map_err(io(any))?.port());
    }
    let span = high - LOW_PORT;
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let Ok(port) = u16::try_from(LOW_PORT + (start + n % span) % span) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io(any)(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free 127.0.0.1 port in {LOW_PORT}..{high}"),
    )))
}

/// A node's TLS files (keystore, CA certificates) under its node dir.
pub const TLS_SUBDIR: &str = "tls";

/// 127.0.0.1 addressing with per-node ports.
pub(super) struct LocalAddressing<'a> {
    pub(super) state: &'a StateDir,
    pub(super) ports: &'a BTreeMap<i32, Ports>,
}

impl Addressing for LocalAddressing<'_> {
    fn endpoints(&self, c: &ValidatedCluster, n: &NodeSpec) -> Endpoints {
        let p = self.ports.get(&n.id).cloned().unwrap_or_default();
        let dir = self.state.node_dir(&c.name, n.id);
        Endpoints {
            host: "127.0.0.1".to_owned(),
            bind: "127.0.0.1".to_owned(),
            client_port: p.client,
            listener_ports: crate::build::listeners::kube_listener_ports(c)
                .into_keys()
                .filter_map(|name| Some((name.clone(), p.listener(c, &name)?)))
                .collect(),
            tls_dir: dir.join(TLS_SUBDIR).display().to_string(),
            controller_port: p.controller,
            http_port: p.http,
            log_dir: dir.join("data").display().to_string(),
        }
    }
}
