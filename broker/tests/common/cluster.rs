//! `Cluster`: a KRaft cluster of real `tidewater-broker` processes (combined nodes,
//! or separate controllers and brokers) on free loopback ports, each in its own
//! temporary directory, with per-node kill -9, SIGTERM, SIGSTOP/SIGCONT and restart
//! on the same ports and data, and Metadata lookups through kcat.
//!
//! Owns every node process: dropping the `Cluster` kills them all (a stopped node is
//! continued first so the kill is delivered), and when the test is failing prints
//! the tail of every node's stderr.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::broker::{BROKER_BIN, free_port};
use super::http;
use super::process::{Running, kcat, python_client, require_python_modules, spawn, spawn_python};
use super::wait::wait_until;

/// How long a node may take to format, start or stop.
const STARTUP: Duration = Duration::from_secs(60);
const SHUTDOWN: Duration = Duration::from_secs(30);
/// Lines of each node's stderr printed when a test fails.
const TAIL_LINES: usize = 60;

/// Every node of a test cluster shares this cluster id.
pub const CLUSTER_ID: &str = "tidewater-kraft-it";

/// One node's roles (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Combined,
    Controller,
    Broker,
}

impl Role {
    fn process_roles(self) -> &'static str {
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
    /// Holds the config, the log dir and the stderr of every run.
    dir: TempDir,
    /// The PLAINTEXT listener (brokers and combined nodes only).
    pub kafka_addr: Option<SocketAddr>,
    /// The CONTROLLER listener (controllers and combined nodes only).
    pub controller_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    config_path: PathBuf,
    child: Option<Child>,
    /// Whether the process was SIGSTOPped and not continued yet.
    stopped: bool,
    /// Number of times the process was started; names each run's stderr file.
    runs: u32,
}

impl Node {
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The node's log dir (`log.dirs`): partition directories live here.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The node's pid; panics when it is not running.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("node {} is not running", self.id))
    }

    /// `host:port` of its Kafka listener; panics on a controller-only node.
    pub fn bootstrap(&self) -> String {
        self.kafka_addr
            .unwrap_or_else(|| panic!("node {} has no Kafka listener", self.id))
            .to_string()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    fn stderr_path(&self, run: u32) -> PathBuf {
        self.dir.path().join(format!("stderr-{run}.log"))
    }

    /// Starts the process on the node's config without waiting for readiness.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        self.runs += 1;
        let stderr = File::create(self.stderr_path(self.runs)).expect("create stderr file");
        let child = Command::new(cluster_bin())
            .arg("start")
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tidewater-broker");
        self.child = Some(child);
        self.stopped = false;
    }

    /// Waits until the Kafka port (if any) accepts and `/readyz` answers 200; panics
    /// with the node's stderr if the process exits first.
    pub fn wait_ready(&mut self) {
        let (kafka, http_addr, id) = (self.kafka_addr, self.http_addr, self.id);
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("node {id} is not running"));
        let mut exited = None;
        wait_until(
            &format!("node {id} ready (Kafka port + /readyz 200)"),
            STARTUP,
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    return Ok(());
                }
                if let Some(kafka) = kafka {
                    TcpStream::connect_timeout(&kafka, Duration::from_secs(1))
                        .map_err(|e| format!("kafka port: {e}"))?;
                }
                match http::get(http_addr, "/readyz") {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("/readyz answered {}", r.status)),
                    Err(e) => Err(format!("/readyz: {e}")),
                }
            },
        );
        if let Some(status) = exited {
            self.child = None;
            panic!(
                "node {id} exited during startup with {status}\n{}",
                self.log_tail()
            );
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid();
        let sent = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {sig} {pid} failed");
    }

    /// SIGKILL, as a crash would; returns once the process is reaped.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.id));
        child.kill().expect("kill -9 node");
        self.stopped = false;
        child.wait().expect("reap node")
    }

    /// SIGTERM, then waits (bounded) for the exit and returns its status.
    pub fn sigterm(&mut self) -> ExitStatus {
        self.signal("-TERM");
        let mut child = self.child.take().expect("node is running");
        let deadline = Instant::now() + SHUTDOWN;
        loop {
            match child.try_wait().expect("wait node") {
                Some(status) => return status,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "node {} ignored SIGTERM for {SHUTDOWN:?}\n{}",
                        self.id,
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// SIGSTOP: the process freezes (no heartbeats, no fetches) but keeps its sockets.
    pub fn sigstop(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// SIGCONT after [`Node::sigstop`].
    pub fn sigcont(&mut self) {
        self.signal("-CONT");
        self.stopped = false;
    }

    /// Starts a stopped (killed or terminated) node again on the same ports and data,
    /// and waits until it is ready.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_ready();
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

    /// The last lines of every run's stderr.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for run in 1..=self.runs {
            let text = std::fs::read_to_string(self.stderr_path(run)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(TAIL_LINES);
            out.push_str(&format!(
                "--- node {} ({:?}) stderr, run {run}, last {} lines ---\n{}\n",
                self.id,
                self.role,
                lines.len() - from,
                lines[from..].join("\n")
            ));
        }
        out
    }

    /// Every line any run wrote to stderr that contains `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        (1..=self.runs)
            .flat_map(|run| {
                std::fs::read_to_string(self.stderr_path(run))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(needle))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// `TIDEWATER_KEEP_LOGS=<dir>`: where nodes and producers copy their logs when dropped,
/// to timestamp a test's stages afterwards (a gap, a drain, a leader move).
fn keep_logs_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("TIDEWATER_KEEP_LOGS")?);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(keep) = keep_logs_dir() {
            for run in 1..=self.runs {
                let to = keep.join(format!("node{}-run{run}.log", self.id));
                let _ = std::fs::copy(self.stderr_path(run), to);
            }
        }
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One partition as Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The partition error kcat reports (e.g. `Broker: Leader not available`), if any.
    pub error: Option<String>,
}

/// A KRaft cluster of real processes.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// `n` combined (`broker,controller`) nodes, ids 1..=n, all voters.
    pub fn combined(n: usize, extra_config: &[(&str, &str)]) -> Cluster {
        Self::build(&vec![Role::Combined; n], extra_config)
    }

    /// `controllers` controller-only nodes (ids 1..) and `brokers` broker-only nodes
    /// (ids after the controllers).
    pub fn split(controllers: usize, brokers: usize, extra_config: &[(&str, &str)]) -> Cluster {
        let mut roles = vec![Role::Controller; controllers];
        roles.extend(vec![Role::Broker; brokers]);
        Self::build(&roles, extra_config)
    }

    fn build(roles: &[Role], extra_config: &[(&str, &str)]) -> Cluster {
        let addr = || -> SocketAddr {
            format!("127.0.0.1:{}", free_port())
                .parse()
                .expect("loopback addr")
        };
        let mut nodes: Vec<Node> = roles
            .iter()
            .enumerate()
            .map(|(i, &role)| {
                let dir = tempfile::Builder::new()
                    .prefix("tidewater-kraft-")
                    .tempdir()
                    .expect("tempdir");
                let config_path = dir.path().join("server.properties");
                Node {
                    id: i as i32 + 1,
                    role,
                    dir,
                    kafka_addr: role.is_broker().then(addr),
                    controller_addr: role.is_controller().then(addr),
                    http_addr: addr(),
                    config_path,
                    child: None,
                    stopped: false,
                    runs: 0,
                }
            })
            .collect();
        let voters = nodes
            .iter()
            .filter_map(|n| n.controller_addr.map(|a| format!("{}@{a}", n.id)))
            .collect::<Vec<_>>()
            .join(",");
        for node in &nodes {
            write_config(node, &voters, extra_config);
        }
        for node in &nodes {
            let out = spawn(
                &cluster_bin(),
                &[
                    "format".into(),
                    "--config".into(),
                    node.config_path().display().to_string(),
                    "--cluster-id".into(),
                    CLUSTER_ID.into(),
                ],
                None,
            )
            .wait(STARTUP);
            assert!(out.status.success(), "format node {}: {out}", node.id);
        }
        // A voter's start blocks until a majority is up: spawn all, then wait.
        for node in &mut nodes {
            node.spawn();
        }
        let mut cluster = Cluster { nodes };
        for node in &mut cluster.nodes {
            node.wait_ready();
        }
        cluster
    }

    /// The node with this id.
    pub fn node(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Ids of the broker (and combined) nodes.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker())
            .map(|n| n.id)
            .collect()
    }

    /// `bootstrap.servers` listing every broker (running or not).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter_map(|n| n.kafka_addr.map(|a| a.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Bootstrap of the running brokers only (a dead first bootstrap slows clients).
    pub fn live_bootstrap(&mut self) -> String {
        self.nodes
            .iter_mut()
            .filter(|n| n.kafka_addr.is_some())
            .filter_map(|n| (n.is_running() && !n.stopped).then(|| n.bootstrap()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Metadata of `topic` from any live broker, by partition.
    pub fn metadata(&mut self, topic: &str) -> Result<BTreeMap<i32, PartitionMeta>, String> {
        let bootstrap = self.live_bootstrap();
        if bootstrap.is_empty() {
            return Err("no live broker".into());
        }
        topic_metadata(&bootstrap, topic)
    }

    /// Polls Metadata until `cond` holds for `topic`; returns the metadata then.
    pub fn wait_metadata(
        &mut self,
        what: &str,
        topic: &str,
        timeout: Duration,
        mut cond: impl FnMut(&BTreeMap<i32, PartitionMeta>) -> Result<(), String>,
    ) -> BTreeMap<i32, PartitionMeta> {
        wait_until(what, timeout, || {
            let meta = self.metadata(topic)?;
            cond(&meta).map_err(|e| format!("{e}; metadata {meta:?}"))?;
            Ok(meta)
        })
    }

    /// Waits until every partition of `topic` has a leader and `isr_size` in-sync
    /// replicas.
    pub fn wait_isr_full(
        &mut self,
        topic: &str,
        partitions: usize,
        isr_size: usize,
        timeout: Duration,
    ) -> BTreeMap<i32, PartitionMeta> {
        self.wait_metadata(
            &format!("{topic}: {partitions} partitions led with ISR {isr_size}"),
            topic,
            timeout,
            |m| {
                let full = m.len() == partitions
                    && m.values().all(|p| p.leader >= 0 && p.isr.len() == isr_size);
                if full { Ok(()) } else { Err("not yet".into()) }
            },
        )
    }

    /// The node whose `kafka_controller_kafkacontroller_activecontrollercount` is 1.
    pub fn active_controller(&mut self) -> Result<i32, String> {
        for node in &self.nodes {
            if !node.role.is_controller() || node.stopped || node.child.is_none() {
                continue;
            }
            if node.metric("kafka_controller_kafkacontroller_activecontrollercount") == Ok(1.0) {
                return Ok(node.id);
            }
        }
        Err("no node reports itself the active controller".into())
    }

    /// The stderr tail of every node.
    pub fn logs(&self) -> String {
        self.nodes.iter().map(Node::log_tail).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        // Each Node's own Drop kills its process.
    }
}

fn write_config(node: &Node, voters: &str, extra: &[(&str, &str)]) {
    let mut listeners = Vec::new();
    if let Some(k) = node.kafka_addr {
        listeners.push(format!("PLAINTEXT://{k}"));
    }
    if let Some(c) = node.controller_addr {
        listeners.push(format!("CONTROLLER://{c}"));
    }
    let mut cfg = format!(
        "node.id={id}\n\
         process.roles={roles}\n\
         controller.quorum.voters={voters}\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         listeners={listeners}\n\
         log.dirs={logs}\n\
         tidewater.http.listener={http}\n\
         broker.rack=r{id}\n\
         default.replication.factor=3\n\
         offsets.topic.replication.factor=3\n\
         offsets.topic.num.partitions=5\n\
         min.insync.replicas=2\n\
         group.initial.rebalance.delay.ms=0\n\
         broker.session.timeout.ms=3000\n\
         broker.heartbeat.interval.ms=500\n\
         controller.quorum.election.timeout.ms=1000\n\
         unclean.leader.election.enable=false\n\
         auto.create.topics.enable=false\n",
        id = node.id,
        roles = node.role.process_roles(),
        listeners = listeners.join(","),
        logs = node.dir.path().join("data").display(),
        http = node.http_addr,
    );
    if let Some(k) = node.kafka_addr {
        cfg.push_str(&format!("advertised.listeners=PLAINTEXT://{k}\n"));
    }
    for (k, v) in extra {
        cfg.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(node.config_path(), cfg).expect("write server.properties");
}

/// `kcat -L -J -t topic` against `bootstrap`, parsed by partition.
pub fn topic_metadata(
    bootstrap: &str,
    topic: &str,
) -> Result<BTreeMap<i32, PartitionMeta>, String> {
    let out = kcat(
        &["-L", "-J", "-b", bootstrap, "-t", topic, "-m", "3"],
        None,
        Duration::from_secs(15),
    );
    if !out.status.success() {
        return Err(format!("kcat -L failed: {}", out.stderr.trim()));
    }
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("kcat -L -J output: {e}"))?;
    let topics = json["topics"].as_array().ok_or("no topics in metadata")?;
    let t = topics
        .iter()
        .find(|t| t["topic"] == topic)
        .ok_or_else(|| format!("topic {topic} not in metadata"))?;
    if let Some(err) = t["error"].as_str() {
        return Err(format!("topic {topic}: {err}"));
    }
    let ids = |v: &serde_json::Value| -> Vec<i32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_i64())
                    .map(|i| i as i32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut parts = BTreeMap::new();
    for p in t["partitions"].as_array().ok_or("no partitions")? {
        let partition = p["partition"].as_i64().ok_or("partition id")? as i32;
        parts.insert(
            partition,
            PartitionMeta {
                partition,
                leader: p["leader"].as_i64().unwrap_or(-1) as i32,
                replicas: ids(&p["replicas"]),
                isr: ids(&p["isrs"]),
                error: p["error"].as_str().map(str::to_owned),
            },
        );
    }
    Ok(parts)
}

/// Milliseconds as p50/p99/max of a sample, for the printed figures.
pub fn percentiles(samples: &[u128]) -> (u128, u128, u128) {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return (0, 0, 0);
    }
    let at = |q: f64| s[((s.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

/// `python3 kraft_clients.py SUBCOMMAND --bootstrap B --topic T args...`, with a
/// deadline; panics with the script's output unless it exits 0. Returns its stdout.
pub fn kraft_client(
    cmd: &str,
    bootstrap: &str,
    topic: &str,
    args: &[&str],
    timeout: Duration,
) -> String {
    let mut all: Vec<String> = vec![
        cmd.into(),
        "--bootstrap".into(),
        bootstrap.into(),
        "--topic".into(),
        topic.into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    python_client("kraft_clients.py", &all, timeout).ok().stdout
}

/// What the background producer reported when it stopped.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// Per partition, the longest time between two consecutive acks (ms).
    pub max_gap_ms: BTreeMap<i32, u128>,
}

/// A confluent-kafka producer (acks=all, idempotent) of unique ids running in the
/// background; every acknowledged id lands in `acked_path` as it is acked.
pub struct BackgroundProducer {
    /// `None` once stopped; the acked file stays readable until drop.
    run: Option<Running>,
    dir: TempDir,
}

impl BackgroundProducer {
    /// Starts producing `rate` records/s to `topic`; returns once the first record
    /// was handed to the client.
    pub fn start(bootstrap: &str, topic: &str, rate: u32) -> BackgroundProducer {
        Self::start_from(bootstrap, topic, rate, 0)
    }

    /// Like [`BackgroundProducer::start`], numbering the ids from `first_id` (so a
    /// second producer on the same topic cannot mask the loss of the first's ids).
    pub fn start_from(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
    ) -> BackgroundProducer {
        Self::start_with_acks(bootstrap, topic, rate, first_id, "all")
    }

    /// Like [`BackgroundProducer::start_from`] with `acks` "all" (idempotent) or "1"
    /// (not idempotent: librdkafka's idempotence needs acks=all).
    pub fn start_with_acks(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
        acks: &str,
    ) -> BackgroundProducer {
        Self::start_partitioned(bootstrap, topic, rate, first_id, acks, 0)
    }

    /// Like [`BackgroundProducer::start_with_acks`], sending id N to partition
    /// N % `round_robin` (0: librdkafka's sticky partitioner), so every partition gets
    /// a record every `round_robin / rate` s and the gap between two acks of a
    /// partition measures how long it had no leader taking writes.
    pub fn start_partitioned(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
        acks: &str,
        round_robin: usize,
    ) -> BackgroundProducer {
        require_python_modules(&["confluent_kafka"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let acked = dir.path().join("acked.txt");
        let stop = dir.path().join("stop");
        let args: Vec<String> = [
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--rate",
            &rate.to_string(),
            "--acked",
            &acked.display().to_string(),
            "--stop",
            &stop.display().to_string(),
            "--first-id",
            &first_id.to_string(),
            "--acks",
            acks,
            "--round-robin",
            &round_robin.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut run = spawn_python("kraft_clients.py", &args);
        let started = dir.path().join("stop.started");
        wait_until("producer started", Duration::from_secs(30), || {
            if !run.is_running() {
                return Ok(());
            }
            started
                .exists()
                .then_some(())
                .ok_or_else(|| "not yet".into())
        });
        assert!(run.is_running(), "producer exited at once");
        BackgroundProducer {
            run: Some(run),
            dir,
        }
    }

    pub fn acked_path(&self) -> PathBuf {
        self.dir.path().join("acked.txt")
    }

    /// Every acknowledgement so far, in ack order.
    pub fn acks(&self) -> Vec<Ack> {
        read_acks(&self.acked_path())
    }

    /// Number of ids acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acks().len()
    }

    /// Waits until `more` further ids are acknowledged (progress after a fault).
    pub fn wait_progress(&mut self, more: usize, timeout: Duration) {
        let target = self.acked() + more;
        let run = self.run.as_mut().expect("producer is running");
        let path = self.dir.path().join("acked.txt");
        wait_until(&format!("{more} more acks"), timeout, || {
            if !run.is_running() {
                return Err("producer exited".into());
            }
            let n = read_acks(&path).len();
            if n >= target {
                Ok(())
            } else {
                Err(format!("{n} acked, want {target}"))
            }
        });
    }

    /// Stops producing, flushes (every record acked or failed) and returns the summary.
    pub fn stop(&mut self) -> ProduceSummary {
        std::fs::write(self.dir.path().join("stop"), "1").expect("write stop file");
        let run = self.run.take().expect("producer is running");
        let out = run.wait(Duration::from_secs(90));
        if let Some(keep) = keep_logs_dir() {
            let name = self
                .dir
                .path()
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            let _ = std::fs::copy(self.acked_path(), keep.join(format!("acked-{name}.txt")));
        }
        assert!(out.status.success(), "producer failed: {out}");
        let line = out.stdout.lines().last().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("producer summary {line:?}: {e}\n{out}"));
        ProduceSummary {
            sent: v["sent"].as_u64().unwrap_or(0),
            acked: v["acked"].as_u64().unwrap_or(0),
            errors: v["errors"].as_u64().unwrap_or(0),
            first_errors: v["first_errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            max_gap_ms: v["max_gap_ms"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, g)| Some((k.parse().ok()?, g.as_u64()? as u128)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Reads `topic` end to end and panics unless every id in `acked_path` is there.
/// Returns the verifier's JSON line.
pub fn verify_no_loss(bootstrap: &str, topic: &str, acked_path: &Path) -> String {
    kraft_client(
        "verify",
        bootstrap,
        topic,
        &["--acked", &acked_path.display().to_string()],
        Duration::from_secs(90),
    )
}

/// One acknowledged record, as the background producer logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: u64,
    pub partition: i32,
    pub offset: i64,
    /// When the ack arrived, in ms since the producer started.
    pub at_ms: u64,
}

fn read_acks(path: &Path) -> Vec<Ack> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some(Ack {
                id: f.next()?.parse().ok()?,
                partition: f.next()?.parse().ok()?,
                offset: f.next()?.parse().ok()?,
                at_ms: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Every gap (ms) between consecutive acks of the same partition.
pub fn ack_gaps(acks: &[Ack]) -> BTreeMap<i32, Vec<u128>> {
    let mut last: BTreeMap<i32, u64> = BTreeMap::new();
    let mut gaps: BTreeMap<i32, Vec<u128>> = BTreeMap::new();
    for a in acks {
        if let Some(prev) = last.insert(a.partition, a.at_ms) {
            gaps.entry(a.partition)
                .or_default()
                .push(u128::from(a.at_ms.saturating_sub(prev)));
        }
    }
    gaps
}

/// The binary the cluster's nodes run: this build, or the one `TIDEWATER_TEST_BROKER_BIN`
/// names (e.g. a past release from `operator/tests/release-bin.sh`, to show that a
/// test catches a defect of that release).
fn cluster_bin() -> String {
    std::env::var("TIDEWATER_TEST_BROKER_BIN").unwrap_or_else(|_| BROKER_BIN.to_owned())
}
