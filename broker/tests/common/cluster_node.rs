//! `Node`: one node of a test KRaft [`Cluster`](super::cluster::Cluster), its roles,
//! listeners and temporary directory (config, log dir, stderr of every run), with its
//! process controlled through a [`NodeProcess`]. Writes no config: the cluster does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use tempfile::TempDir;

use super::http;
use super::node_process::NodeProcess;

/// How long a node may take to start.
const STARTUP: Duration = Duration::from_secs(60);
/// Lines of each node's stderr printed when a test fails.
const TAIL_LINES: usize = 60;

/// One node's roles (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Combined,
    Controller,
    Broker,
}

impl Role {
    pub fn process_roles(self) -> &'static str {
        match self {
            Role::Combined => "broker,controller",
            Role::Controller => "controller",
            Role::Broker => "broker",
        }
    }

    pub fn is_broker(self) -> bool {
        self != Role::Controller
    }

    pub fn is_controller(self) -> bool {
        self != Role::Broker
    }
}

/// One node process of a [`Cluster`].
pub struct Node {
    pub id: i32,
    pub role: Role,
    /// Declared before `dir` so it drops (and is killed) before the dir is deleted.
    process: NodeProcess,
    /// Holds the config, the log dir and the stderr of every run.
    dir: TempDir,
    /// The PLAINTEXT listener (brokers and combined nodes only).
    pub kafka_addr: Option<SocketAddr>,
    /// The CONTROLLER listener (controllers and combined nodes only).
    pub controller_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    config_path: PathBuf,
}

impl Node {
    /// A node not started yet, in a fresh temporary directory, running `bin`.
    pub fn new(
        id: i32,
        role: Role,
        kafka_addr: Option<SocketAddr>,
        controller_addr: Option<SocketAddr>,
        http_addr: SocketAddr,
        bin: &str,
    ) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("tidewater-kraft-")
            .tempdir()
            .expect("tempdir");
        let config_path = dir.path().join("server.properties");
        let process = NodeProcess::new(
            format!("node {id} ({role:?})"),
            NodeProcess::start_command(bin, &config_path),
            dir.path(),
            "stderr",
            kafka_addr,
            http_addr,
            STARTUP,
        );
        Node {
            id,
            role,
            process,
            dir,
            kafka_addr,
            controller_addr,
            http_addr,
            config_path,
        }
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The node's log dir (`log.dirs`): partition directories live here.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The node's pid; panics when it is not running.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `host:port` of its Kafka listener; panics on a controller-only node.
    pub fn bootstrap(&self) -> String {
        self.kafka_addr
            .unwrap_or_else(|| panic!("node {} has no Kafka listener", self.id))
            .to_string()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Whether the node is SIGSTOPped.
    pub fn is_stopped(&self) -> bool {
        self.process.is_stopped()
    }

    /// Whether a process was started and not reaped since.
    pub fn has_process(&self) -> bool {
        self.process.has_child()
    }

    /// Starts the process on the node's config without waiting for readiness.
    pub fn spawn(&mut self) {
        self.process.spawn();
    }

    /// Waits until the Kafka port (if any) accepts and `/readyz` answers 200; panics
    /// with the node's stderr if the process exits first.
    pub fn wait_ready(&mut self) {
        self.process.wait_ready();
    }

    /// SIGKILL, as a crash would; returns once the process is reaped.
    pub fn kill9(&mut self) -> ExitStatus {
        self.process.kill9()
    }

    /// SIGTERM, then waits (bounded) for the exit and returns its status.
    pub fn sigterm(&mut self) -> ExitStatus {
        self.process.sigterm()
    }

    /// SIGSTOP: the process freezes (no heartbeats, no fetches) but keeps its sockets.
    pub fn sigstop(&mut self) {
        self.process.sigstop();
    }

    /// SIGCONT after [`Node::sigstop`].
    pub fn sigcont(&mut self) {
        self.process.sigcont();
    }

    /// Starts a stopped (killed or terminated) node again on the same ports and data,
    /// and waits until it is ready.
    pub fn restart(&mut self) {
        self.process.start();
    }

    /// `GET path` on the node's HTTP listener.
    pub fn http_get(&self, path: &str) -> Result<http::Response, String> {
        http::get(self.http_addr, path)
    }

    /// The value of an unlabelled metric on `/metrics`.
    pub fn metric(&self, name: &str) -> Result<f64, String> {
        let body = self.http_get("/metrics")?.body;
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<f64>().ok()).flatten()
            })
            .ok_or_else(|| format!("no metric {name} on node {}", self.id))
    }

    /// A gauge labelled with `topic` and `partition` (e.g. `kafka_log_log_logendoffset`)
    /// on `/metrics`.
    pub fn partition_gauge(&self, name: &str, topic: &str, partition: i32) -> Result<i64, String> {
        let body = self.http_get("/metrics")?.body;
        let (t, p) = (
            format!("topic=\"{topic}\""),
            format!("partition=\"{partition}\""),
        );
        body.lines()
            .filter(|l| l.starts_with(name) && l.contains(&t) && l.contains(&p))
            .find_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .map(|v| v as i64)
            .ok_or_else(|| format!("no {name} for {topic}-{partition} on node {}", self.id))
    }

    /// The sum of every series on `/metrics` whose line starts with `prefix` (a metric
    /// name and the first labels, e.g. every version of one request's counter).
    pub fn metric_sum(&self, prefix: &str) -> Result<f64, String> {
        let body = self.http_get("/metrics")?.body;
        Ok(body
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum())
    }

    /// The last lines of every run's stderr.
    pub fn log_tail(&self) -> String {
        self.process.log_tail(TAIL_LINES)
    }

    /// Every line any run wrote to stderr that contains `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.process.log_lines(&[needle])
    }
}

/// `TIDEWATER_KEEP_LOGS=<dir>`: where nodes and producers copy their logs when dropped,
/// to timestamp a test's stages afterwards (a gap, a drain, a leader move).
pub fn keep_logs_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("TIDEWATER_KEEP_LOGS")?);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(keep) = keep_logs_dir() {
            for run in 1..=self.process.runs() {
                let to = keep.join(format!("node{}-run{run}.log", self.id));
                let _ = std::fs::copy(self.process.stderr_path(run), to);
            }
        }
        // The process's own Drop kills it.
    }
}
