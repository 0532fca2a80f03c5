//! The kube runtime: observes a cluster's Pods, executes plans with server-side apply
//! (one field manager, forced) in dependency order (ConfigMaps, Services, PVCs, Pods,
//! PDB), deletes pods to restart or remove nodes, and removes orphans selected by
//! `app.kubernetes.io/instance=<cluster>,app.kubernetes.io/managed-by=tidewater-operator`.
//! Requests go out in a fixed order so the mocked API tests can assert the sequence.
//!
//! Claims are never orphan-swept: they outlive the cluster unless `storage.deleteClaim`
//! makes them owned (see [`build::pvc`]). `observe` reads them back so a re-created
//! cluster adopts their cluster id ([`KubeRuntime::adopt`]), and `apply` neither touches
//! a claim holding another cluster's data nor starts the node that would mount it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AdminSource, Observed, ObservedNode, Runtime};
use crate::build::pvc::{self, Adoption, ClaimConflict, ObservedClaim};
use crate::build::{self, Desired, FIELD_MANAGER, NODE_ID_LABEL, REVISION_ANNOTATION};
use crate::plan::{Action, Plan};
use crate::validate::ValidatedCluster;

/// Errors talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeRuntimeError {
    /// An API request failed.
    #[error("{verb} {kind} {name}: {source}")]
    Api {
        /// What was attempted.
        verb: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Object name (empty for lists).
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

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
    /// What those claims decide ([`KubeRuntime::adopt`]); `apply` skips blocked nodes.
    adoption: Adoption,
    /// Client addresses of the brokers ready at the last `observe`: where the plan's
    /// admin operations go.
    ready_brokers: Vec<String>,
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
        }
    }

    /// `c` with the cluster id its data is formatted with: the recorded one, else the
    /// one the claims read by the last `observe` carry (a `KafkaCluster` re-created over
    /// retained claims). Call between `observe` and `apply`; also decides which claims
    /// the cluster cannot use ([`KubeRuntime::claim_conflicts`]).
    pub fn adopt(&mut self, mut c: ValidatedCluster) -> ValidatedCluster {
        self.adoption = pvc::adopt(&c, &self.claims);
        c.cluster_id.clone_from(&self.adoption.cluster_id);
        c
    }

    /// `plan` without creating or restarting nodes whose claim holds another cluster's
    /// data, and saying so in `blocked` (so events and `Progressing` tell the truth).
    pub fn hold_back(&self, mut plan: Plan) -> Plan {
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

    /// Retained claims the cluster cannot use, found by the last [`KubeRuntime::adopt`].
    pub fn claim_conflicts(&self) -> &[ClaimConflict] {
        &self.adoption.conflicts
    }

    fn api<K>(&self, c: &ValidatedCluster) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &c.namespace)
    }

    async fn ssa<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        obj: &K,
        name: &str,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        self.api::<K>(c)
            .patch(name, &pp, &Patch::Apply(obj))
            .await
            .map(|_| ())
            .map_err(|source| api_err("apply", kind, name, source))
    }

    /// ConfigMaps of nodes scaled away whose pod stays (held until drained): the pod
    /// mounts its ConfigMap, and a container restart during the drain needs it.
    fn held_config_maps(&self, c: &ValidatedCluster, plan: &Plan) -> Vec<String> {
        let removed: BTreeSet<i32> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Remove { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        self.names
            .iter()
            .filter(|(id, _)| !c.nodes.iter().any(|n| n.id == **id) && !removed.contains(id))
            .map(|(_, pod)| format!("{pod}-config"))
            .collect()
    }

    async fn delete<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        name: &str,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        match self
            .api::<K>(c)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            // Already gone is the goal state.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(api_err("delete", kind, name, source)),
        }
    }

    /// Deletes objects of kind `K` carrying the cluster's labels whose names are not in
    /// `keep`.
    async fn delete_orphans<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        keep: &BTreeSet<String>,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let lp = ListParams::default().labels(&build::selector_string(c));
        let list = self
            .api::<K>(c)
            .list(&lp)
            .await
            .map_err(|source| api_err("list", kind, "", source))?;
        for obj in list.items {
            let name = obj.meta().name.clone().unwrap_or_default();
            if !keep.contains(&name) {
                self.delete::<K>(c, kind, &name).await?;
            }
        }
        Ok(())
    }
}

fn api_err(
    verb: &'static str,
    kind: &'static str,
    name: &str,
    source: kube::Error,
) -> KubeRuntimeError {
    KubeRuntimeError::Api {
        verb,
        kind,
        name: name.to_owned(),
        source,
    }
}

impl<A: AdminSource> Runtime for KubeRuntime<A> {
    type Error = KubeRuntimeError;

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
        let mut ready_brokers = Vec::new();
        for pod in pods.items {
            let Some(id) = pod
                .labels()
                .get(NODE_ID_LABEL)
                .and_then(|v| v.parse::<i32>().ok())
            else {
                continue;
            };
            let node = observe_pod(c, &pod);
            self.pods.insert(node.name.clone(), node.revision.clone());
            self.names.insert(id, node.name.clone());
            if node.ready
                && let Some(spec) = c.nodes.iter().find(|n| n.id == id && n.role.is_broker())
            {
                ready_brokers.push(format!("{}:{}", build::node_host(c, spec), c.client_port));
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
        if !observed.nodes.is_empty() {
            observed.admin = Some(self.admin.snapshot(&ready_brokers).await);
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
        let desired = build::build_all(c);
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
                Desired::Pdb(o) => self.ssa(c, "PodDisruptionBudget", o, &name).await?,
            }
        }
        for action in &plan.actions {
            match action {
                Action::Ensure(_) => {}
                Action::Restart(n) if blocked.contains(&n.id) => {}
                Action::Restart(n) => self.delete::<Pod>(c, "Pod", &n.name(&c.name)).await?,
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
            // A failed election or finalize is retried by the next reconcile's plan.
            if let Err(e) = self.admin.execute(&self.ready_brokers, op).await {
                tracing::warn!(error = %e, ?op, "admin operation failed");
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

/// A pod as an observed node: readiness from the `Ready` condition; problems from
/// scheduling (`Unschedulable`: typically a zone without schedulable nodes) and from
/// crash-looping containers.
fn observe_pod(c: &ValidatedCluster, pod: &Pod) -> ObservedNode {
    let status = pod.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let ready = conditions
        .iter()
        .any(|k| k.type_ == "Ready" && k.status == "True");
    let unschedulable = conditions.iter().find(|k| {
        k.type_ == "PodScheduled"
            && k.status == "False"
            && k.reason.as_deref() == Some("Unschedulable")
    });
    let zone = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .and_then(|s| s.node_selector_terms.first())
        .and_then(|t| t.match_expressions.as_ref())
        .and_then(|e| e.first())
        .and_then(|e| e.values.as_ref())
        .and_then(|v| v.first().cloned());
    // Init containers first: `format` refusing a log dir of another cluster or node
    // (the broker's own check) keeps the pod in Init:CrashLoopBackOff.
    let crash = status.and_then(|s| {
        let init = s.init_container_statuses.iter().flatten();
        init.chain(s.container_statuses.iter().flatten())
            .find_map(crash_looping)
    });
    let problem = match (unschedulable, zone, crash) {
        (Some(k), Some(zone), _) => Some((
            "ZoneUnschedulable".to_owned(),
            format!(
                "zone {zone} ({}) has no schedulable node: {}",
                c.topology_key.as_deref().unwrap_or_default(),
                k.message.clone().unwrap_or_default()
            ),
        )),
        (Some(k), None, _) => Some((
            "Unschedulable".to_owned(),
            k.message.clone().unwrap_or_default(),
        )),
        (None, _, Some(msg)) => Some(("CrashLoopBackOff".to_owned(), msg)),
        (None, _, None) => None,
    };
    ObservedNode {
        name: pod.name_any(),
        revision: pod.annotations().get(REVISION_ANNOTATION).cloned(),
        version: pod
            .labels()
            .get(build::pod::VERSION_LABEL)
            .cloned()
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|k| k.image.as_ref())
                    .and_then(|i| i.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
            }),
        ready,
        problem,
    }
}

/// `container X is crash-looping (N restarts)`, with the last termination message (the
/// tail of its log under `FallbackToLogsOnError`) when the kubelet kept one.
fn crash_looping(cs: &ContainerStatus) -> Option<String> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    if w.reason.as_deref() != Some("CrashLoopBackOff") {
        return None;
    }
    let last = cs
        .last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .and_then(|t| t.message.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let mut out = format!(
        "container {} is crash-looping ({} restarts)",
        cs.name, cs.restart_count
    );
    if let Some(m) = last {
        out.push_str(": ");
        out.push_str(&m.chars().take(500).collect::<String>());
    }
    Some(out)
}
