//! The kube runtime: observes a cluster's Pods ([`observe`]), executes plans with
//! server-side apply (one field manager, forced) in dependency order (ConfigMaps,
//! Services, PVCs, Pods, PDB), evicts pods to restart nodes ([`roll`]: the
//! PodDisruptionBudget is honoured, and a node's new config is written only at its turn;
//! [`budget`]: the budget is narrowed around a rack step and restored after it),
//! deletes pods to remove nodes, and removes orphans selected by
//! `app.kubernetes.io/instance=<cluster>,app.kubernetes.io/managed-by=tidewater-operator`.
//! A change of `spec.controllers` creates or deletes one controller pod at a time
//! around AddRaftVoter/RemoveRaftVoter ([`crate::quorum`] plans it; [`quorum`] reads
//! the initial voters back and names the new voter's listener).
//! Requests go out in a fixed order so the mocked API tests can assert the sequence.
//!
//! Claims are never orphan-swept: they outlive the cluster unless `storage.deleteClaim`
//! makes them owned (see [`build::pvc`]). `observe` reads them back so a re-created
//! cluster adopts their cluster id ([`Runtime::adopt`]), and `apply` neither touches
//! a claim holding another cluster's data nor starts the node that would mount it.

use std::collections::{BTreeMap, BTreeSet};

pub mod budget;
mod certs;
mod error;
mod observe;
mod quorum;
mod requests;
pub mod roll;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Client, ResourceExt};

pub use self::error::KubeRuntimeError;

use self::budget::Budget;
use self::requests::api_err;
use self::roll::Eviction;
use super::{AdminSource, Runtime};
use crate::build::pvc::{self, Adoption, ClaimConflict, ObservedClaim};
use crate::build::{self, Desired, NODE_ID_LABEL, REVISION_ANNOTATION};
use crate::identity::{AdminAccess, Identities};
use crate::observed::Observed;
use crate::plan::{Action, Plan};
use crate::validate::ValidatedCluster;

/// Runtime on a Kubernetes API server.
pub struct KubeRuntime<A> {
    client: Client,
    admin: A,
    /// Pod name -> revision seen by the last `observe`, so `apply` never patches a pod
    /// whose immutable spec changed (that pod is restarted instead).
    pods: BTreeMap<String, Option<String>>,
    /// Node id -> pod name seen by the last `observe` (removals need the old name).
    names: BTreeMap<i32, String>,
    /// The cluster's claims seen by the last `observe`.
    claims: Vec<ObservedClaim>,
    /// What those claims decide ([`Runtime::adopt`]); `apply` skips blocked nodes.
    adoption: Adoption,
    /// Client addresses of the brokers ready at the last `observe`: where the plan's
    /// admin operations go.
    ready_brokers: Vec<String>,
    /// Pod name -> uid seen by the last `observe`: an eviction names the pod it means.
    uids: BTreeMap<String, String>,
    /// Nodes whose pod was being deleted at the last `observe` (evicted, not yet gone).
    terminating: BTreeSet<i32>,
    /// A restart the disruption budget refused during the last `apply`:
    /// (node id, message); restarts after it in the plan were not attempted.
    refused: Option<(i32, String)>,
    /// Nodes the last `apply` evicted.
    evicted: BTreeSet<i32>,
    /// Nodes Ready and not terminating at the last `observe`.
    available: BTreeSet<i32>,
    /// The rack step the budget read by the last `observe` was narrowed for.
    budget_step: BTreeSet<i32>,
    /// The budget the last `apply` wrote.
    budget: Option<budget::Written>,
    /// The quorum's initial voters read by the last `observe` ([`quorum`]): what
    /// [`Runtime::adopt`] sets as [`ValidatedCluster::quorum_seed`].
    seed: Option<BTreeMap<i32, String>>,
    /// A broker version that `spec.version` or a pod seen by the last `observe` runs
    /// and that resolves every initial voter's DNS name at start
    /// ([`crate::quorum::RESOLVE_VOTERS_AT_START`]): while set, initial voters stay.
    resolves_voters_at_start: Option<String>,
    /// Admin operations the last `apply` sent that failed (`"<op>: <error>"`): a
    /// Warning Event each ([`KubeRuntime::admin_failures`]), as on the local runtime.
    admin_failures: Vec<String>,
    /// The operator's certificates of secured clusters, shared across reconciles
    /// (issued by `apply`'s certificate step, read by `observe`).
    identities: Identities,
    /// How the admin client reached the brokers at the last `observe`.
    access: AdminAccess,
}

impl<A: AdminSource> KubeRuntime<A> {
    /// A runtime using `client` and reading Kafka metadata through `admin`.
    pub fn new(client: Client, admin: A) -> Self {
        Self {
            client,
            admin,
            pods: BTreeMap::new(),
            names: BTreeMap::new(),
            claims: Vec::new(),
            adoption: Adoption::default(),
            ready_brokers: Vec::new(),
            uids: BTreeMap::new(),
            terminating: BTreeSet::new(),
            refused: None,
            evicted: BTreeSet::new(),
            available: BTreeSet::new(),
            budget_step: BTreeSet::new(),
            budget: None,
            seed: None,
            resolves_voters_at_start: None,
            admin_failures: Vec::new(),
            identities: Identities::default(),
            access: AdminAccess::plaintext(),
        }
    }

    /// This runtime, keeping the operator's certificates in `identities` (the
    /// controller's, so they outlive one reconcile).
    pub fn with_identities(mut self, identities: Identities) -> Self {
        self.identities = identities;
        self
    }

    /// The admin operations the last `apply` sent that failed (e.g. AddRaftVoter
    /// refused while the new controller catches up), one note each.
    pub fn admin_failures(&self) -> &[String] {
        &self.admin_failures
    }

    /// ConfigMaps of nodes scaled away whose pod stays (held until drained): the pod
    /// mounts its ConfigMap, and a container restart during the drain needs it.
    fn held_config_maps(&self, c: &ValidatedCluster, plan: &Plan) -> Vec<String> {
        let removed: BTreeSet<i32> = plan.removed_ids().collect();
        self.names
            .iter()
            .filter(|(id, _)| !c.nodes.iter().any(|n| n.id == **id) && !removed.contains(id))
            .map(|(_, pod)| format!("{pod}-config"))
            .collect()
    }
}

impl<A: AdminSource> Runtime for KubeRuntime<A> {
    type Error = KubeRuntimeError;

    fn bootstrap_servers(&self, c: &ValidatedCluster) -> String {
        build::bootstrap_servers(c)
    }

    fn admin_access(&self, _: &ValidatedCluster) -> AdminAccess {
        self.access.clone()
    }

    fn listeners(&self, c: &ValidatedCluster) -> Vec<crate::crd::ListenerStatus> {
        build::listener_statuses(c)
    }

    fn cluster_id(&mut self, c: &ValidatedCluster) -> Result<String, KubeRuntimeError> {
        Ok(build::cluster_id(c))
    }

    /// `c` with the cluster id its data is formatted with: the recorded one, else the
    /// one the claims read by the last `observe` carry (a `KafkaCluster` re-created over
    /// retained claims), and with the KRaft voters its controllers were started with
    /// (so `spec.controllers` changes one voter at a time, KIP-853, restarting no node).
    /// Call between `observe` and `apply`; also decides which claims the cluster cannot
    /// use ([`Runtime::claim_conflicts`]).
    fn adopt(&mut self, mut c: ValidatedCluster) -> ValidatedCluster {
        self.adoption = pvc::adopt(&c, &self.claims);
        c.cluster_id.clone_from(&self.adoption.cluster_id);
        c.quorum_seed.clone_from(&self.seed);
        c
    }

    /// `plan` without creating or restarting nodes whose claim holds another cluster's
    /// data, and without restarting a node whose pod is already terminating (evicted,
    /// not gone yet: it is recreated once gone), saying so in `blocked` (so events and
    /// `Progressing` tell the truth); and without removing an initial KRaft voter
    /// ([`KubeRuntime::keep_initial_voters`]).
    fn hold_back(&self, plan: Plan) -> Plan {
        let mut plan = self.keep_initial_voters(plan);
        let terminating: Vec<i32> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Restart(n) if self.terminating.contains(&n.id) => Some(n.id),
                _ => None,
            })
            .collect();
        plan.actions
            .retain(|a| !matches!(a, Action::Restart(n) if terminating.contains(&n.id)));
        if let Some(id) = terminating.first()
            && plan.blocked.is_none()
        {
            plan.blocked = Some((
                "Rolling",
                format!("waiting for the pod of node {id} to terminate before it is recreated"),
            ));
        }
        let blocked: BTreeSet<i32> = self.adoption.blocked_nodes().collect();
        if blocked.is_empty() {
            return plan;
        }
        plan.actions.retain(|a| match a {
            Action::Ensure(n) | Action::Restart(n) => !blocked.contains(&n.id),
            Action::Remove { .. } => true,
        });
        if plan.blocked.is_none() {
            let ids: Vec<String> = blocked.iter().map(i32::to_string).collect();
            plan.blocked = Some((
                "ClaimOfAnotherCluster",
                format!(
                    "node {} held back: its claim holds another cluster's data (see Degraded)",
                    ids.join(", ")
                ),
            ));
        }
        plan
    }

    /// `plan` as the last `apply` carried it out: a restart the disruption budget refused
    /// did not happen, and `blocked` says the roll waits for the budget.
    fn as_applied(&self, mut plan: Plan) -> Plan {
        if let Some((_, message)) = &self.refused {
            plan.actions
                .retain(|a| !matches!(a, Action::Restart(n) if !self.evicted.contains(&n.id)));
            plan.blocked = Some(("WaitingForDisruptionBudget", message.clone()));
        }
        self.budget_notices(plan)
    }

    /// Retained claims the cluster cannot use, found by the last [`Runtime::adopt`].
    fn claim_conflicts(&self) -> &[ClaimConflict] {
        &self.adoption.conflicts
    }

    async fn observe(&mut self, c: &ValidatedCluster) -> Result<Observed, KubeRuntimeError> {
        let lp = ListParams::default().labels(&build::selector_string(c));
        let pods = self
            .api::<Pod>(c)
            .list(&lp)
            .await
            .map_err(|source| api_err("list", "Pod", "", source))?;
        let mut observed = Observed::default();
        self.pods.clear();
        self.names.clear();
        self.uids.clear();
        self.terminating.clear();
        self.available.clear();
        let now = Timestamp::now();
        let mut running = BTreeMap::new();
        let mut ready_brokers = Vec::new();
        let mut stale = BTreeSet::new();
        let desired = self.desired_revisions(c);
        for pod in pods.items {
            let Some(id) = pod
                .labels()
                .get(NODE_ID_LABEL)
                .and_then(|v| v.parse::<i32>().ok())
            else {
                continue;
            };
            let mut node = observe::observe_pod(c, &pod);
            // A deleted pod keeps its Ready condition until its process has stopped:
            // it counts as down from the delete on, or the roll would take the next
            // rack while this one still terminates.
            if pod.metadata.deletion_timestamp.is_some() {
                node.ready = false;
            }
            self.pods.insert(node.name.clone(), node.revision.clone());
            self.names.insert(id, node.name.clone());
            if let Some(uid) = pod.uid() {
                self.uids.insert(node.name.clone(), uid);
            }
            if pod.metadata.deletion_timestamp.is_some() {
                self.terminating.insert(id);
            } else if node.ready {
                self.available.insert(id);
            }
            running.insert(id, observe::running_seconds(&pod, now));
            if node.ready
                && let Some(spec) = c.nodes.iter().find(|n| n.id == id && n.role.is_broker())
            {
                let addr = format!(
                    "{}:{}",
                    build::node_host(c, spec),
                    build::listeners::admin_port(c)
                );
                if node.revision.as_ref() != desired.get(&id) {
                    stale.insert(addr.clone());
                }
                ready_brokers.push(addr);
            }
            observed.nodes.insert(id, node);
        }
        let claims = self
            .api::<PersistentVolumeClaim>(c)
            .list(&lp)
            .await
            .map_err(|source| api_err("list", "PersistentVolumeClaim", "", source))?;
        self.claims = claims.items.iter().map(ObservedClaim::from_claim).collect();
        self.adoption = Adoption::default();
        self.seed = None;
        self.resolves_voters_at_start = crate::quorum::keeps_initial_voters(
            std::iter::once(Some(c.version.as_str()))
                .chain(observed.nodes.values().map(|n| n.version.as_deref())),
        );
        if !observed.nodes.is_empty() {
            self.budget_step = self.observe_budget(c).await?;
            self.seed = self.read_seed(c, &observed).await?;
            self.access = self.admin_access_at(c, stale);
            observed.admin = Some(self.admin.snapshot(&ready_brokers, &self.access).await);
        }
        // A broker that runs but never joins (a new version that cannot register) is a
        // problem the planner stops the roll on, like a crash loop.
        let registered = match &observed.admin {
            Some(Ok(s)) => Some(&s.registered),
            _ => None,
        };
        for n in c.nodes.iter().filter(|n| n.role.is_broker()) {
            if let Some(node) = observed.nodes.get_mut(&n.id) {
                let secs = running.get(&n.id).copied().flatten();
                if let Some(p) = observe::not_registering(node, n.id, secs, registered) {
                    node.problem = Some(p);
                }
            }
        }
        self.ready_brokers = ready_brokers;
        Ok(observed)
    }

    fn desired_revisions(&self, c: &ValidatedCluster) -> BTreeMap<i32, String> {
        c.nodes
            .iter()
            .map(|n| {
                let pod = build::pod::pod(c, n);
                let rev = pod
                    .annotations()
                    .get(REVISION_ANNOTATION)
                    .cloned()
                    .unwrap_or_default();
                (n.id, rev)
            })
            .collect()
    }

    async fn apply(&mut self, c: &ValidatedCluster, plan: &Plan) -> Result<(), KubeRuntimeError> {
        let ensured: BTreeSet<i32> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Ensure(n) => Some(n.id),
                _ => None,
            })
            .collect();
        // A node whose claim holds another cluster's data never starts: its `format`
        // would refuse, and the claim must keep its annotation for whoever restores it.
        // (`hold_back` already dropped it from the plan; this guards a plan that was not.)
        let blocked: BTreeSet<i32> = self.adoption.blocked_nodes().collect();
        self.refused = None;
        self.evicted.clear();
        self.admin_failures.clear();
        let restarting: BTreeSet<i32> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Restart(n) if !blocked.contains(&n.id) => Some(n.id),
                _ => None,
            })
            .collect();
        let decided = budget::decide(&restarting, &self.budget_step, &self.available);
        self.budget = Some(budget::Written::new(c, decided));
        // Certificates before the pods that mount them.
        self.ensure_certs(c).await?;
        let desired = build::build_all(c);
        // Each node's new config is published at its turn only (see `roll`).
        let revisions: BTreeMap<i32, (String, String)> = desired
            .iter()
            .filter_map(|d| match d {
                Desired::Pod(p) => Some((
                    p.labels().get(NODE_ID_LABEL)?.parse().ok()?,
                    (
                        p.name_any(),
                        p.annotations().get(REVISION_ANNOTATION)?.clone(),
                    ),
                )),
                _ => None,
            })
            .collect();
        let config_due = roll::config_due(&revisions, &self.pods);
        for obj in &desired {
            let name = obj.name().to_owned();
            let node_id = obj
                .meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(NODE_ID_LABEL))
                .and_then(|v| v.parse::<i32>().ok());
            if node_id.is_some_and(|id| !ensured.contains(&id) || blocked.contains(&id)) {
                continue;
            }
            match obj {
                Desired::ConfigMap(_) if node_id.is_some_and(|id| !config_due.contains(&id)) => {}
                Desired::ConfigMap(o) => self.ssa(c, "ConfigMap", o, &name).await?,
                Desired::Service(o) => self.ssa(c, "Service", o, &name).await?,
                Desired::Pvc(o) => self.ssa(c, "PersistentVolumeClaim", o, &name).await?,
                Desired::Pod(o) => {
                    let want = o.annotations().get(REVISION_ANNOTATION);
                    match self.pods.get(&name) {
                        // Unchanged pods need no request at all.
                        Some(have) if have.as_ref() == want => {}
                        // A changed pod is recreated by a planned restart, one at a time.
                        Some(_) => {}
                        None => self.ssa(c, "Pod", o.as_ref(), &name).await?,
                    }
                }
                Desired::Pdb(o) => match self.budget.as_ref().map(|w| &w.budget) {
                    Some(Budget::RackStep(step)) => {
                        let narrowed = budget::rack_step(o.clone(), c.nodes.len(), step);
                        self.ssa(c, "PodDisruptionBudget", &narrowed, &name).await?;
                    }
                    _ => self.ssa(c, "PodDisruptionBudget", o, &name).await?,
                },
            }
        }
        for action in &plan.actions {
            match action {
                Action::Ensure(_) => {}
                Action::Restart(n) if blocked.contains(&n.id) => {}
                Action::Restart(n) => {
                    let name = n.name(&c.name);
                    let uid = self.uids.get(&name).map(String::as_str);
                    let evicted = roll::evict(&self.api::<Pod>(c), &name, uid)
                        .await
                        .map_err(|source| api_err("evict", "Pod", &name, source))?;
                    if let Eviction::Refused(message) = evicted {
                        // Wait for the budget: nothing else changes this reconcile, and
                        // nothing forces the pod out.
                        let budget = build::pdb::budget_name(c);
                        self.refused =
                            Some((n.id, roll::refused_message(&name, &budget, &message)));
                        return Ok(());
                    }
                    self.evicted.insert(n.id);
                }
                Action::Remove { id, delete_storage } => {
                    let Some(name) = self.names.get(id).cloned() else {
                        continue;
                    };
                    self.delete::<Pod>(c, "Pod", &name).await?;
                    if *delete_storage {
                        self.delete::<PersistentVolumeClaim>(
                            c,
                            "PersistentVolumeClaim",
                            &format!("data-{name}"),
                        )
                        .await?;
                    }
                }
            }
        }
        for op in &plan.admin_ops {
            // A failed election, finalize or voter change is retried by the next
            // reconcile's plan.
            let op = quorum::resolved(c, op);
            if let Err(e) = self
                .admin
                .execute(&self.ready_brokers, &self.access, &op)
                .await
            {
                tracing::warn!(error = %e, ?op, "admin operation failed");
                self.admin_failures.push(format!("{op:?}: {e}"));
            }
        }
        let keep = |kind: fn(&Desired) -> bool| -> BTreeSet<String> {
            desired
                .iter()
                .filter(|d| kind(d))
                .map(|d| d.name().to_owned())
                .collect()
        };
        let mut config_maps = keep(|d| matches!(d, Desired::ConfigMap(_)));
        config_maps.extend(self.held_config_maps(c, plan));
        self.delete_orphans::<ConfigMap>(c, "ConfigMap", &config_maps)
            .await?;
        self.delete_orphans::<Service>(c, "Service", &keep(|d| matches!(d, Desired::Service(_))))
            .await?;
        self.delete_orphans::<PodDisruptionBudget>(
            c,
            "PodDisruptionBudget",
            &keep(|d| matches!(d, Desired::Pdb(_))),
        )
        .await?;
        Ok(())
    }
}
