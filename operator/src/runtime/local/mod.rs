//! The local runtime: the same reconciler as on Kubernetes, with each node a child
//! process of the broker binary on 127.0.0.1 ports, its data, config and log file under
//! `--state-dir/<cluster>/broker-<id>/`. Crashed brokers are restarted with backoff.
//! Brokers outlive a `local up` killed with SIGKILL: the next `up` adopts those that run
//! the binary their node dir records (`broker.json`), with the revision they were started
//! on, so a roll resumes exactly where it was (no node restarted twice, none skipped).
//!
//! Every node gets its own client, controller and HTTP ports on first sight (kept in
//! `state.json` across `local up` runs, so the quorum's voter list never changes under
//! it): combined and controller nodes bind CONTROLLER on theirs, broker-only nodes bind
//! no controller listener, and clients bootstrap from brokers only.

pub mod certs;
pub mod cmd;
mod error;
mod node;
pub mod process;
mod quorum;
pub mod state;
pub mod supervisor;
pub mod user;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

pub use self::error::LocalError;
use self::node::{Node, adopt_leftovers, backoff, write_record};
use self::process::{BrokerProcess, Started, probe_ready};
use self::state::{LocalAddressing, Persisted, StateDir, StateError, free_ports};
use super::{AdminSource, Runtime};
use crate::build::config::{properties_text, server_properties};
use crate::build::fnv1a;
use crate::identity::AdminAccess;
use crate::observed::{Observed, ObservedNode};
use crate::plan::{Action, Plan};
use crate::validate::{NodeSpec, ValidatedCluster};

/// How long a broker gets to shut down cleanly before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// Runtime of broker processes on this machine.
pub struct LocalRuntime<A> {
    state: StateDir,
    persisted: Persisted,
    binaries: BTreeMap<String, PathBuf>,
    admin: A,
    nodes: BTreeMap<i32, Node>,
    /// Client addresses of the brokers ready at the last `observe`: where the plan's
    /// admin operations go.
    ready_brokers: Vec<String>,
    /// How the admin client reached them at the last `observe`.
    access: AdminAccess,
}

impl<A: AdminSource> LocalRuntime<A> {
    /// A runtime on `state` with broker binaries by version.
    pub async fn new(
        state: StateDir,
        binaries: BTreeMap<String, PathBuf>,
        admin: A,
    ) -> Result<Self, LocalError> {
        let persisted = state.load()?;
        let nodes = adopt_leftovers(&state).await?;
        Ok(Self {
            state,
            persisted,
            binaries,
            admin,
            nodes,
            ready_brokers: Vec::new(),
            access: AdminAccess::plaintext(),
        })
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Whether a binary exists for `version`.
    pub fn has_binary(&self, version: &str) -> bool {
        self.binaries.contains_key(version)
    }

    fn ensure_ports(&mut self, c: &ValidatedCluster) -> Result<(), LocalError> {
        let mut changed = false;
        for n in &c.nodes {
            let ports = match self.persisted.ports.entry(n.id) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    changed = true;
                    slot.insert(free_ports()?)
                }
                std::collections::btree_map::Entry::Occupied(slot) => slot.into_mut(),
            };
            changed |= ports.ensure_listeners(c)?;
        }
        if changed {
            self.state.save(&self.persisted)?;
        }
        Ok(())
    }

    /// `server.properties` of `n` on this machine's ports (allocated by `observe`).
    fn properties_map(&self, c: &ValidatedCluster, n: &NodeSpec) -> BTreeMap<String, String> {
        let addressing = LocalAddressing {
            state: &self.state,
            ports: &self.persisted.ports,
        };
        server_properties(c, n, &addressing)
    }

    fn properties(&self, c: &ValidatedCluster, n: &NodeSpec) -> String {
        properties_text(&self.properties_map(c, n))
    }

    fn revision(&self, c: &ValidatedCluster, n: &NodeSpec) -> String {
        let bin = self
            .binaries
            .get(&c.version)
            .map(|b| b.display().to_string())
            .unwrap_or_default();
        // Dynamic keys change through IncrementalAlterConfigs, not a restart.
        let props = crate::build::dynamic::static_part(&self.properties_map(c, n));
        let text = format!("{}\n{bin}\n{}", properties_text(&props), c.version);
        format!("{:016x}", fnv1a(text.as_bytes()))
    }

    async fn start(&mut self, c: &ValidatedCluster, n: &NodeSpec) -> Result<(), LocalError> {
        let bin = self
            .binaries
            .get(&c.version)
            .cloned()
            .ok_or_else(|| LocalError::NoBinary(c.version.clone()))?;
        let dir = self.state.node_dir(&c.name, n.id);
        std::fs::create_dir_all(dir.join("data")).map_err(|source| StateError::Io {
            path: dir.clone(),
            source,
        })?;
        let config = dir.join("server.properties");
        state::write_atomic(&config, self.properties(c, n).as_bytes())?;
        let cluster_id = self.cluster_id(c)?;
        process::format(&bin, &config, &cluster_id, &dir).await?;
        let revision = self.revision(c, n);
        // Recorded before the spawn: a broker spawned just before a SIGKILL of `up` is
        // found by its command line and adopted with this revision.
        let mut record = Started {
            // Absolute: the next `up` compares it with `/proc/<pid>/exe`.
            bin: bin.canonicalize().unwrap_or_else(|_| bin.clone()),
            revision: revision.clone(),
            version: c.version.clone(),
            pid: None,
        };
        write_record(&dir, &record)?;
        let proc = BrokerProcess::start(
            &bin,
            &config,
            &dir.join("broker.log"),
            revision.clone(),
            c.version.clone(),
        )?;
        tracing::info!(broker = n.id, pid = proc.pid(), "broker started");
        record.pid = proc.pid();
        write_record(&dir, &record)?;
        let node = self.node_on(n.id, revision, &c.version);
        node.process = Some(proc);
        node.unready_since = Instant::now();
        Ok(())
    }

    /// Stops every broker (SIGTERM, then SIGKILL after [`STOP_GRACE`]).
    pub async fn stop_all(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(p) = node.process.as_mut() {
                p.stop(STOP_GRACE).await;
            }
            node.process = None;
        }
    }

    /// Node `id`, created when new, now standing for `revision` of `version`.
    fn node_on(&mut self, id: i32, revision: String, version: &str) -> &mut Node {
        let node = self.nodes.entry(id).or_insert_with(|| Node::new(""));
        node.revision = revision;
        version.clone_into(&mut node.version);
        node
    }

    /// Records a failed start on the node: the desired revision and version, a
    /// `StartFailed` problem, and the next attempt after a backoff.
    fn start_failed(
        &mut self,
        c: &ValidatedCluster,
        n: &NodeSpec,
        e: &LocalError,
    ) -> Result<(), LocalError> {
        let revision = self.revision(c, n);
        let node = self.node_on(n.id, revision, &c.version);
        node.crashes += 1;
        let wait = backoff(node.crashes);
        node.next_start = Instant::now() + wait;
        let message = format!("{e}; retrying in {}s", wait.as_secs());
        node.problem = Some(("StartFailed".to_owned(), message.clone()));
        self.state.event(
            "Warning",
            "StartFailed",
            &format!("node {}: {message}", n.id),
        )?;
        Ok(())
    }

    /// Pid of a node's process (tests kill it to simulate a crash).
    pub fn pid(&self, id: i32) -> Option<u32> {
        self.nodes.get(&id)?.process.as_ref()?.pid()
    }
}

impl<A: AdminSource> Runtime for LocalRuntime<A> {
    type Error = LocalError;

    /// `host:port` of every broker's admin listener (the first client listener, or
    /// `operator` on a secured cluster).
    fn bootstrap_servers(&self, c: &ValidatedCluster) -> String {
        self.persisted
            .listener_bootstrap(c, crate::build::listeners::admin_listener(c))
    }

    fn admin_access(&self, _: &ValidatedCluster) -> AdminAccess {
        self.access.clone()
    }

    fn listeners(&self, c: &ValidatedCluster) -> Vec<crate::crd::ListenerStatus> {
        c.listeners
            .iter()
            .map(|l| crate::crd::ListenerStatus {
                name: l.name.clone(),
                bootstrap_servers: self.persisted.listener_bootstrap(c, &l.name),
            })
            .collect()
    }

    /// Kafka cluster id, chosen on first use and persisted.
    fn cluster_id(&mut self, c: &ValidatedCluster) -> Result<String, LocalError> {
        if let Some(id) = &self.persisted.cluster_id {
            return Ok(id.clone());
        }
        // Unique per state dir: its path and the creation time seed the id.
        let seed = format!(
            "{}#{}#{}",
            self.state.root().display(),
            c.name,
            k8s_openapi::jiff::Timestamp::now().as_nanosecond()
        );
        let id = crate::build::cluster_id_from_seed(&seed);
        self.persisted.cluster_id = Some(id.clone());
        self.state.save(&self.persisted)?;
        Ok(id)
    }

    async fn observe(&mut self, c: &ValidatedCluster) -> Result<Observed, LocalError> {
        self.ensure_ports(c)?;
        // Before any node starts, and on every tick for renewal: the brokers pick up
        // rewritten files themselves.
        certs::ensure_now(&self.state, c)?;
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        for name in user::renew_certificates(&self.state, c, now)? {
            let message = format!("user {name}: client certificate renewed");
            tracing::info!(cluster = %c.name, "{message}");
            self.state
                .event("Normal", "UserCertificateRenewed", &message)?;
        }
        // Nodes of an earlier `up` (their ports are in state.json) that the spec no
        // longer wants: observed as stopped, so the plan drains and removes them
        // even after the operator was killed mid scale-in.
        let scaled_away: Vec<i32> = self
            .persisted
            .ports
            .keys()
            .copied()
            .filter(|id| !c.nodes.iter().any(|n| n.id == *id))
            .collect();
        for id in scaled_away {
            self.nodes
                .entry(id)
                .or_insert_with(|| Node::new(&c.version));
        }
        let mut observed = Observed::default();
        let mut ready_brokers = Vec::new();
        let mut stale = BTreeSet::new();
        let desired = self.desired_revisions(c);
        let ready_timeout =
            Duration::from_secs(u64::try_from(c.ready_timeout_seconds).unwrap_or(1).max(1));
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        for id in ids {
            let http = self.persisted.ports.get(&id).map(|p| p.http);
            // Where the admin client reaches this broker (OPERATOR on a secured cluster).
            let client = self
                .persisted
                .ports
                .get(&id)
                .and_then(|p| p.listener(c, crate::build::listeners::admin_listener(c)));
            let Some(node) = self.nodes.get_mut(&id) else {
                continue;
            };
            let mut ready = false;
            let mut name = "stopped".to_owned();
            if let Some(proc) = node.process.as_mut() {
                if let Some(status) = proc.exited() {
                    node.crashes += 1;
                    let wait = backoff(node.crashes);
                    node.next_start = Instant::now() + wait;
                    let message = format!(
                        "process exited ({status}); restarting in {}s",
                        wait.as_secs()
                    );
                    let _ = self.state.event(
                        "Warning",
                        "BrokerCrashed",
                        &format!("node {id}: {message}"),
                    );
                    node.problem = Some(("BrokerCrashed".to_owned(), message));
                    node.process = None;
                } else {
                    name = format!("pid {}", proc.pid().unwrap_or_default());
                    ready = match http {
                        Some(port) => probe_ready(port).await,
                        None => false,
                    };
                    if ready {
                        node.unready_since = Instant::now();
                    }
                    let unready = node.unready_since.elapsed();
                    if !ready && node.problem.is_none() && unready >= ready_timeout {
                        // Running but not registering (or fenced, or hung): waiting
                        // alone will not fix it, so an upgrade onto it is reported
                        // stalled.
                        node.problem = Some((
                            "NotReady".to_owned(),
                            format!(
                                "running for {}s without getting ready (registered and unfenced)",
                                unready.as_secs()
                            ),
                        ));
                    }
                }
            }
            if ready {
                node.problem = None;
                if c.nodes.iter().any(|n| n.id == id && n.role.is_broker())
                    && let Some(port) = client
                {
                    let addr = format!("127.0.0.1:{port}");
                    if desired.get(&id) != Some(&node.revision) {
                        stale.insert(addr.clone());
                    }
                    ready_brokers.push(addr);
                }
            }
            observed.nodes.insert(
                id,
                ObservedNode {
                    name,
                    revision: Some(node.revision.clone()),
                    version: Some(node.version.clone()),
                    ready,
                    problem: node.problem.clone(),
                },
            );
        }
        if !observed.nodes.is_empty() {
            self.access =
                certs::operator_access(&self.state, c)?.with_plaintext_until_rolled(stale);
            observed.admin = Some(self.admin.snapshot(&ready_brokers, &self.access).await);
        }
        self.ready_brokers = ready_brokers;
        Ok(observed)
    }

    /// The voters the nodes were started with: this runtime changes the voter set of
    /// dedicated controllers (KIP-853) without rewriting any node's voter list.
    fn adopt(&mut self, mut c: ValidatedCluster) -> ValidatedCluster {
        c.quorum_seed = self.configured_voters(&c.name);
        c
    }

    fn desired_revisions(&self, c: &ValidatedCluster) -> BTreeMap<i32, String> {
        c.nodes
            .iter()
            .map(|n| (n.id, self.revision(c, n)))
            .collect()
    }

    async fn apply(&mut self, c: &ValidatedCluster, plan: &Plan) -> Result<(), LocalError> {
        for action in &plan.actions {
            match action {
                Action::Ensure(n) => {
                    let due = match self.nodes.get(&n.id) {
                        None => true,
                        Some(node) => node.process.is_none() && Instant::now() >= node.next_start,
                    };
                    if due {
                        let restart = self.nodes.contains_key(&n.id);
                        if let Err(e) = self.start(c, n).await {
                            // Recorded on the node (status shows it as Degraded) and
                            // retried with backoff; the other nodes still get started.
                            self.start_failed(c, n, &e)?;
                            continue;
                        }
                        if restart {
                            self.state.event(
                                "Normal",
                                "BrokerRestarted",
                                &format!("node {} restarted after a crash", n.id),
                            )?;
                        }
                    }
                }
                Action::Restart(n) => {
                    if let Some(p) = self.nodes.get_mut(&n.id).and_then(|x| x.process.as_mut()) {
                        p.stop(STOP_GRACE).await;
                    }
                    if let Some(node) = self.nodes.get_mut(&n.id) {
                        node.process = None;
                    }
                    if let Err(e) = self.start(c, n).await {
                        // The node now stands for the new revision and version (it is
                        // not restarted again); Ensure retries it with backoff, and a
                        // new version that never starts stalls the upgrade.
                        self.start_failed(c, n, &e)?;
                    }
                }
                Action::Remove { id, delete_storage } => {
                    if let Some(mut node) = self.nodes.remove(id)
                        && let Some(p) = node.process.as_mut()
                    {
                        p.stop(STOP_GRACE).await;
                    }
                    if *delete_storage {
                        let dir = self.state.node_dir(&c.name, *id);
                        if let Err(source) = std::fs::remove_dir_all(&dir)
                            && source.kind() != std::io::ErrorKind::NotFound
                        {
                            return Err(StateError::Io { path: dir, source }.into());
                        }
                        self.persisted.ports.remove(id);
                        self.state.save(&self.persisted)?;
                    }
                }
            }
        }
        for op in &plan.admin_ops {
            // A failed election or finalize is retried by the next tick's plan.
            match self
                .admin
                .execute(&self.ready_brokers, &self.access, &self.resolved(op))
                .await
            {
                Ok(()) => {
                    if let crate::plan::AdminOp::FinalizeMetadataVersion(level) = op {
                        self.state.event(
                            "Normal",
                            "MetadataVersionFinalized",
                            &format!("metadata.version finalized at level {level}"),
                        )?;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, ?op, "admin operation failed");
                    self.state
                        .event("Warning", "AdminOperationFailed", &format!("{op:?}: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
