//! `NsCluster`: combined KRaft nodes of the real `tidewater-broker` binary, each
//! started inside its own network namespace of a [`Topology`] and listening on its
//! bridge address (Kafka 9092, CONTROLLER 9093, HTTP 9404), with Metadata, log
//! greps and `dump-log` of a node's partition.
//!
//! Owns the node processes and the topology: dropping the cluster kills every node
//! first, then deletes the namespaces and links; when the test is failing it prints
//! the tail of every node's stderr.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::common::broker::BROKER_BIN;
use super::common::cluster::CLUSTER_ID;
use super::common::http;
use super::common::process::spawn;
use super::common::wait_until;
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
    child: Option<Child>,
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

    fn stderr_path(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }

    /// The directory of `topic-partition` in this node's log dir.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join("data").join(format!("{topic}-{partition}"))
    }

    /// Every stderr line containing all of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        std::fs::read_to_string(self.stderr_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.stderr_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "--- node {} stderr, last {} lines ---\n{}\n",
            self.id,
            lines.len() - from,
            lines[from..].join("\n")
        )
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

impl Drop for NsNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
            let node = NsNode {
                id,
                ip: topo.node_ip(id),
                dir: node_dir,
                child: None,
            };
            let ip = node.ip;
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
            let args = [
                "format".to_string(),
                "--config".into(),
                node.config_path().display().to_string(),
                "--cluster-id".into(),
                CLUSTER_ID.into(),
            ];
            let out = spawn(BROKER_BIN, &args, None).wait(STARTUP);
            assert!(out.status.success(), "format node {id}: {out}");
            nodes.push(node);
        }
        // A voter's start blocks until a majority is up: spawn all, then wait.
        for node in &mut nodes {
            let stderr = File::create(node.stderr_path()).expect("stderr file");
            let args = topo.exec_args(
                node.id,
                BROKER_BIN,
                &[
                    "start".into(),
                    "--config".into(),
                    node.config_path().display().to_string(),
                ],
            );
            let child = Command::new("ip")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn ip netns exec tidewater-broker");
            node.child = Some(child);
        }
        let mut cluster = NsCluster {
            nodes,
            topo,
            _dir: dir,
        };
        for i in 0..cluster.nodes.len() {
            cluster.wait_ready(i);
        }
        cluster
    }

    fn wait_ready(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let (id, kafka, http_addr) = (node.id, SocketAddr::from((node.ip, 9092)), node.http_addr());
        let child = node.child.as_mut().expect("node spawned");
        let mut exited = None;
        wait_until(&format!("node {id} ready"), STARTUP, || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return Ok(());
            }
            TcpStream::connect_timeout(&kafka, Duration::from_secs(1))
                .map_err(|e| format!("kafka port: {e}"))?;
            match http::get(http_addr, "/readyz") {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!("/readyz answered {}", r.status)),
                Err(e) => Err(format!("/readyz: {e}")),
            }
        });
        if let Some(status) = exited {
            node.child = None;
            panic!(
                "node {id} exited during startup with {status}\n{}",
                node.log_tail()
            );
        }
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
