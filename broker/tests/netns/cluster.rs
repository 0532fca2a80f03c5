//! `NsCluster`: combined KRaft nodes of the real `tidewater-broker` binary, each
//! started inside its own network namespace of a [`Topology`] and listening on its
//! bridge address (Kafka 9092, CONTROLLER 9093, HTTP 9404), with Metadata, log
//! greps and `dump-log` of a node's partition.
//!
//! Owns the node processes and the topology: dropping the cluster kills every node
//! first, then deletes the namespaces and links; when the test is failing it prints
//! the tail of every node's stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use super::common::broker::BROKER_BIN;
use super::common::cluster::CLUSTER_ID;
use super::common::http;
use super::common::node_process::{self, NodeProcess};
use super::common::process::spawn;
use super::topology::Topology;

const STARTUP: Duration = Duration::from_secs(60);
const TAIL_LINES: usize = 80;

/// One node process in its namespace.
pub struct NsNode {
    pub id: usize,
    /// `10.x.y.id`: every listener binds here.
    pub ip: std::net::Ipv4Addr,
    /// Config, data (`data/`) and stderr of this node, under the cluster's temp dir.
    dir: PathBuf,
    /// `ip netns exec <ns> tidewater-broker start ...`; killed when the node drops.
    process: NodeProcess,
}

impl NsNode {
    pub fn bootstrap(&self) -> String {
        format!("{}:9092", self.ip)
    }

    fn http_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, 9404))
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    /// The directory of `topic-partition` in this node's log dir.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join("data").join(format!("{topic}-{partition}"))
    }

    /// Every stderr line containing all of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.process.log_lines(needles)
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail(TAIL_LINES)
    }

    /// `(offset, payload)` of every record in the partition's segments, read with
    /// `tidewater-broker dump-log --print-data`; `Err` while a segment ends in a
    /// batch still being written (dump-log then reports invalid data).
    pub fn dump_records(&self, topic: &str, partition: i32) -> Result<Vec<(i64, String)>, String> {
        let dir = self.partition_dir(topic, partition);
        let mut logs: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .map(|p| p.display().to_string())
            .collect();
        logs.sort();
        let mut args = vec!["dump-log".to_string(), "--print-data".into()];
        args.extend(logs);
        let out = spawn(BROKER_BIN, &args, None).wait(Duration::from_secs(30));
        if !out.status.success() {
            return Err(format!("dump-log of node {}: {out}", self.id));
        }
        let mut records = Vec::new();
        for line in out.stdout.lines().filter(|l| l.starts_with("| offset: ")) {
            let offset = line
                .trim_start_matches("| offset: ")
                .split(' ')
                .next()
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| format!("no offset in {line:?}"))?;
            let payload = line
                .rsplit_once(" payload: ")
                .map(|(_, p)| p.to_owned())
                .ok_or_else(|| format!("no payload in {line:?}"))?;
            records.push((offset, payload));
        }
        Ok(records)
    }
}

/// Combined nodes 1..=n, one per namespace. Field order matters: `nodes` drop (and
/// are killed) before `topo` deletes their namespaces, and `dir` goes last.
pub struct NsCluster {
    pub nodes: Vec<NsNode>,
    pub topo: Topology,
    _dir: TempDir,
}

impl NsCluster {
    /// Formats and starts `topo`'s nodes with `config` lines added to each node's
    /// server.properties, and waits until every node is ready.
    pub fn start(topo: Topology, count: usize, config: &[&str]) -> NsCluster {
        let dir = tempfile::Builder::new()
            .prefix("tidewater-netsplit-")
            .tempdir()
            .expect("tempdir");
        let voters = (1..=count)
            .map(|id| format!("{id}@{}:9093", topo.node_ip(id)))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for id in 1..=count {
            let node_dir = dir.path().join(format!("n{id}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let ip = topo.node_ip(id);
            let config_path = node_dir.join("server.properties");
            let start = NodeProcess::start_command(BROKER_BIN, &config_path);
            let (program, args) = start.split_first().expect("start command");
            let mut command = vec!["ip".to_string()];
            command.extend(topo.exec_args(id, program, args));
            let process = NodeProcess::new(
                format!("node {id}"),
                command,
                &node_dir,
                "stderr",
                Some(SocketAddr::from((ip, 9092))),
                SocketAddr::from((ip, 9404)),
                STARTUP,
            );
            let node = NsNode {
                id,
                ip,
                dir: node_dir,
                process,
            };
            let mut cfg = format!(
                "node.id={id}\nprocess.roles=broker,controller\n\
                 controller.quorum.voters={voters}\ncontroller.listener.names=CONTROLLER\n\
                 listeners=PLAINTEXT://{ip}:9092,CONTROLLER://{ip}:9093\n\
                 advertised.listeners=PLAINTEXT://{ip}:9092\nlog.dirs={data}\n\
                 tidewater.http.listener={ip}:9404\n",
                data = node.dir.join("data").display()
            );
            for line in config {
                cfg.push_str(line);
                cfg.push('\n');
            }
            std::fs::write(node.config_path(), cfg).expect("write server.properties");
            let out = node_process::format(BROKER_BIN, &node.config_path(), CLUSTER_ID, STARTUP);
            assert!(out.status.success(), "format node {id}: {out}");
            nodes.push(node);
        }
        // A voter's start blocks until a majority is up: spawn all, then wait.
        for node in &mut nodes {
            node.process.spawn();
        }
        let mut cluster = NsCluster {
            nodes,
            topo,
            _dir: dir,
        };
        for node in &mut cluster.nodes {
            node.process.wait_ready();
        }
        cluster
    }

    pub fn node(&self, id: usize) -> &NsNode {
        &self.nodes[id - 1]
    }

    /// The node reporting itself the active controller (reachable nodes only).
    pub fn active_controller(&self) -> Option<usize> {
        let name = "kafka_controller_kafkacontroller_activecontrollercount";
        self.nodes.iter().map(|n| n.id).find(|&id| {
            http::get(self.node(id).http_addr(), "/metrics").is_ok_and(|r| {
                r.body.lines().any(|l| {
                    l.split_once(' ')
                        .is_some_and(|(k, v)| k == name && v.trim() == "1")
                })
            })
        })
    }

    /// Bootstrap list of every node except `except` (which may be cut off).
    pub fn bootstrap_except(&self, except: Option<usize>) -> String {
        self.nodes
            .iter()
            .filter(|n| Some(n.id) != except)
            .map(NsNode::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for NsCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail());
            }
        }
    }
}
