//! `Cluster`: a KRaft cluster of real `tidewater-broker` processes (combined nodes,
//! or separate controllers and brokers) on free loopback ports, each in its own
//! temporary directory (a [`Node`], whose process control is its `NodeProcess`):
//! format, start every voter, and the cluster-wide views tests wait on (Metadata,
//! ISR, the active controller).
//!
//! Owns every node process: dropping the `Cluster` kills them all, and when the test
//! is failing prints the tail of every node's stderr. Client tooling lives in
//! `clients`, load generation in `load`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::broker::{BROKER_BIN, free_port};
use super::clients::{PartitionMeta, topic_metadata};
use super::cluster_node::{Node, Role};
use super::node_process;
use super::wait::wait_until;

/// How long a node may take to format.
const FORMAT: Duration = Duration::from_secs(60);

/// Every node of a test cluster shares this cluster id.
pub const CLUSTER_ID: &str = "tidewater-kraft-it";

/// A KRaft cluster of real processes.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// `n` combined (`broker,controller`) nodes, ids 1..=n, all voters.
    pub fn combined(n: usize, extra_config: &[(&str, &str)]) -> Cluster {
        Self::build(&vec![Role::Combined; n], &[], extra_config)
    }

    /// `controllers` controller-only nodes (ids 1..) and `brokers` broker-only nodes
    /// (ids after the controllers).
    pub fn split(controllers: usize, brokers: usize, extra_config: &[(&str, &str)]) -> Cluster {
        let mut roles = vec![Role::Controller; controllers];
        roles.extend(vec![Role::Broker; brokers]);
        Self::build(&roles, &[], extra_config)
    }

    /// [`Self::split`] whose `controller.quorum.voters` also names `absent` voters
    /// (`id@host:port`) that no process runs: e.g. one whose host name does not
    /// resolve, as a deleted controller pod's DNS name stops resolving.
    pub fn split_with_absent_voters(
        controllers: usize,
        brokers: usize,
        absent: &[&str],
        extra_config: &[(&str, &str)],
    ) -> Cluster {
        let mut roles = vec![Role::Controller; controllers];
        roles.extend(vec![Role::Broker; brokers]);
        Self::build(&roles, absent, extra_config)
    }

    fn build(roles: &[Role], absent_voters: &[&str], extra_config: &[(&str, &str)]) -> Cluster {
        let addr = || -> SocketAddr {
            format!("127.0.0.1:{}", free_port())
                .parse()
                .expect("loopback addr")
        };
        let mut nodes: Vec<Node> = roles
            .iter()
            .enumerate()
            .map(|(i, &role)| {
                let kafka_addr = role.is_broker().then(addr);
                let controller_addr = role.is_controller().then(addr);
                Node::new(
                    i as i32 + 1,
                    role,
                    kafka_addr,
                    controller_addr,
                    addr(),
                    &cluster_bin(),
                )
            })
            .collect();
        let voters = nodes
            .iter()
            .filter_map(|n| n.controller_addr.map(|a| format!("{}@{a}", n.id)))
            .chain(absent_voters.iter().map(|v| v.to_string()))
            .collect::<Vec<_>>()
            .join(",");
        for node in &nodes {
            write_config(node, &voters, extra_config);
        }
        for node in &nodes {
            let out = node_process::format(&cluster_bin(), node.config_path(), CLUSTER_ID, FORMAT);
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

    /// A new node `id` (formatted, not started) on fresh ports, configured with the
    /// cluster's `controller.quorum.voters` plus `extra`: e.g. a controller joining
    /// the quorum (KIP-853) with `controller.quorum.bootstrap.servers`.
    pub fn add_node(&mut self, id: i32, role: Role, extra: &[(&str, &str)]) -> &mut Node {
        let addr = || -> SocketAddr {
            format!("127.0.0.1:{}", free_port())
                .parse()
                .expect("loopback addr")
        };
        let voters = self.controller_endpoints(true);
        let kafka_addr = role.is_broker().then(addr);
        let controller_addr = role.is_controller().then(addr);
        let node = Node::new(
            id,
            role,
            kafka_addr,
            controller_addr,
            addr(),
            &cluster_bin(),
        );
        write_config(&node, &voters, extra);
        let out = node_process::format(&cluster_bin(), node.config_path(), CLUSTER_ID, FORMAT);
        assert!(out.status.success(), "format node {id}: {out}");
        self.nodes.push(node);
        self.node(id)
    }

    /// Restarts every node, one at a time, with one more listener `name` on a fresh
    /// loopback port (bound and advertised) and the `extra` config lines; returns the
    /// new listeners' addresses in node order.
    pub fn add_listener(&mut self, name: &str, extra: &str) -> Vec<SocketAddr> {
        let ids: Vec<i32> = self.nodes.iter().map(|n| n.id).collect();
        let mut added = Vec::new();
        for id in ids {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
                .parse()
                .expect("loopback addr");
            let node = self.node(id);
            let kafka = node.kafka_addr.map(|k| format!("PLAINTEXT://{k},"));
            let controller = node.controller_addr.map(|c| format!("CONTROLLER://{c},"));
            node.sigterm();
            let mut cfg = std::fs::read_to_string(node.config_path()).expect("read config");
            cfg.push_str(&format!(
                "listeners={}{}{name}://{addr}\nadvertised.listeners={}{name}://{addr}\n{extra}\n",
                kafka.clone().unwrap_or_default(),
                controller.unwrap_or_default(),
                kafka.unwrap_or_default(),
            ));
            std::fs::write(node.config_path(), cfg).expect("write config");
            node.spawn();
            node.wait_ready();
            added.push(addr);
        }
        added
    }

    /// The controllers' endpoints: `id@host:port` (`with_ids`) or `host:port`.
    pub fn controller_endpoints(&self, with_ids: bool) -> String {
        self.nodes
            .iter()
            .filter_map(|n| {
                let a = n.controller_addr?;
                Some(if with_ids {
                    format!("{}@{a}", n.id)
                } else {
                    a.to_string()
                })
            })
            .collect::<Vec<_>>()
            .join(",")
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
            .filter_map(|n| (n.is_running() && !n.is_stopped()).then(|| n.bootstrap()))
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

    /// Takes partition 0 of `topic` through the loss of its whole ISR, the unclean
    /// election scenario of Kafka's operations notes: kills the followers first,
    /// waits until the ISR is the leader alone, then kills the leader. Returns (last
    /// leader, followers), the followers being replicas out of sync since.
    pub fn stop_all_leader_last(&mut self, topic: &str, replicas: usize) -> (i32, Vec<i32>) {
        let meta = self.wait_isr_full(topic, 1, replicas, Duration::from_secs(60));
        let leader = meta[&0].leader;
        let followers: Vec<i32> = meta[&0]
            .replicas
            .iter()
            .copied()
            .filter(|&r| r != leader)
            .collect();
        for &f in &followers {
            self.node(f).kill9();
        }
        // The controller fences the silent followers (broker.session.timeout.ms) and
        // drops them from the ISR: the leader alone is then the last in-sync replica.
        self.wait_metadata(
            "ISR = the leader alone",
            topic,
            Duration::from_secs(30),
            |m| match m.get(&0) {
                Some(p) if p.leader == leader && p.isr == vec![leader] => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        self.node(leader).kill9();
        (leader, followers)
    }

    /// The node whose `kafka_controller_kafkacontroller_activecontrollercount` is 1.
    pub fn active_controller(&mut self) -> Result<i32, String> {
        for node in &self.nodes {
            if !node.role.is_controller() || node.is_stopped() || !node.has_process() {
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
        logs = node.log_dir().display(),
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

/// The binary the cluster's nodes run: this build, or the one `TIDEWATER_TEST_BROKER_BIN`
/// names (e.g. a past release from `operator/tests/release-bin.sh`, to show that a
/// test catches a defect of that release).
fn cluster_bin() -> String {
    std::env::var("TIDEWATER_TEST_BROKER_BIN").unwrap_or_else(|_| BROKER_BIN.to_owned())
}

/// What a group scenario reported after its coordinator was killed.
pub struct CoordinatorKilled {
    /// The node killed -9 (the group's coordinator at that point).
    pub coordinator: i32,
    /// From the kill to the script's exit.
    pub recovered: Duration,
    /// The script's JSON summary (its last stdout line), parsed and as printed.
    pub summary: serde_json::Value,
    pub line: String,
}

/// The coordinator-kill handshake of the group scenarios (kraft_groups,
/// kraft_consumer_protocol): runs `python3 clients/<script> args
/// --coordinator-file F --killed-file K`, waits until it writes its group's
/// coordinator id to F, kills that node -9, writes K so the script goes on, and
/// reads its JSON summary once it exits (within `timeout`, successfully).
pub fn kill_group_coordinator(
    cluster: &mut Cluster,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> CoordinatorKilled {
    let dir = tempfile::tempdir().expect("tempdir");
    let coordinator_file = dir.path().join("coordinator");
    let killed_file = dir.path().join("killed");
    let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    full.extend([
        "--coordinator-file".to_owned(),
        coordinator_file.display().to_string(),
        "--killed-file".to_owned(),
        killed_file.display().to_string(),
    ]);
    let mut running = super::process::spawn_python(script, &full);
    let coordinator: i32 = wait_until(
        "the group script names its coordinator",
        Duration::from_secs(120),
        || {
            if !running.is_running() {
                return Ok(-1);
            }
            std::fs::read_to_string(&coordinator_file)
                .map_err(|e| e.to_string())?
                .trim()
                .parse()
                .map_err(|e| format!("{e}"))
        },
    );
    if coordinator <= 0 {
        panic!(
            "group script exited early: {}",
            running.wait(Duration::from_secs(5))
        );
    }
    let killed_at = std::time::Instant::now();
    cluster.node(coordinator).kill9();
    std::fs::write(&killed_file, "1").expect("write killed file");
    let out = running.wait(timeout).ok();
    let recovered = killed_at.elapsed();
    let line = out.stdout.lines().last().unwrap_or("").to_owned();
    let summary =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("group summary {line:?}: {e}"));
    CoordinatorKilled {
        coordinator,
        recovered,
        summary,
        line,
    }
}
