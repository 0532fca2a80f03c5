//! reconcile: the one reconcile step of a valid spec, generic over [`Runtime`], that
//! the kube controller and the local supervisor both run. In order: observe -> adopt
//! what the data says (cluster id) -> the upgrade decision -> plan (pure) -> hold back
//! what the runtime cannot do now -> the rebalance drive (skipped for a spec refused
//! because it would change the KRaft voter set) -> keep removals of brokers not yet
//! verified empty -> apply -> the plan as applied. [`Step::status`] then computes the
//! status both runtimes publish.
//!
//! What stays in the runtimes is what differs between them: reading the spec (API watch,
//! state dir), paused and invalid specs, where Events go and when, UnregisterBroker of
//! removed nodes, writing the status (server-side apply, `status.yaml`), kube's Lease
//! and metrics, local's supervision loop.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::crd::{KafkaClusterStatus, RebalanceSpec};
use crate::observed::Observed;
use crate::plan::{self, Plan};
use crate::rebalance::outcome::{Outcome, gate_removals};
use crate::rebalance::rebalancer::{self, Rebalancer};
use crate::roll::catalog::Catalog;
use crate::roll::upgrade::{self, Decision};
use crate::runtime::Runtime;
use crate::status::{self, conditions};
use crate::validate::ValidatedCluster;

/// What one reconcile step reads besides the cluster.
pub struct Input<'a, B> {
    /// The status before this reconcile.
    pub previous: Option<&'a KafkaClusterStatus>,
    /// Versions this operator can run.
    pub catalog: &'a Catalog,
    /// The Kafka side of the rebalance.
    pub rebalancer: &'a B,
    /// `spec.rebalance`.
    pub rebalance: Option<&'a RebalanceSpec>,
}

/// What one reconcile step did.
pub struct Step<E> {
    /// The cluster as adopted ([`Runtime::adopt`]).
    pub cluster: ValidatedCluster,
    /// What the runtime and the admin client saw.
    pub observed: Observed,
    /// The upgrade decision the plan followed.
    pub decision: Decision,
    /// The plan as the runtime carried it out ([`Runtime::as_applied`]).
    pub plan: Plan,
    /// The rebalance drive's outcome.
    pub rebalance: Outcome,
    /// The brokers' `bootstrap.servers` the drive went through.
    pub bootstrap: String,
    /// How the drive reached them.
    pub access: crate::identity::AdminAccess,
    /// How apply went.
    pub applied: Result<(), E>,
}

/// Runs one reconcile step of `cluster` on `runtime`. Fails only when the cluster
/// cannot be observed; a failed apply is in [`Step::applied`] (the status reports it).
pub async fn step<R: Runtime, B: Rebalancer>(
    runtime: &mut R,
    cluster: ValidatedCluster,
    input: &Input<'_, B>,
) -> Result<Step<R::Error>, R::Error> {
    let observed = runtime.observe(&cluster).await?;
    // The cluster id lives with the data: a cluster re-created over retained claims
    // runs with theirs (issue 21).
    let cluster = runtime.adopt(cluster);
    let revisions = runtime.desired_revisions(&cluster);
    let decision = upgrade::decide_from_status(
        &cluster,
        &observed,
        input.previous,
        input.catalog,
        Timestamp::now(),
    );
    let mut plan = runtime.hold_back(plan::plan_with(&cluster, &revisions, &observed, &decision));
    let bootstrap = runtime.bootstrap_servers(&cluster);
    let access = runtime.admin_access(&cluster);
    let previous = input.previous.and_then(|p| p.rebalance.as_ref());
    // Issue 12: move partitions, and remove only brokers the drive verified empty.
    let outcome = if voter_change(&plan).is_some() {
        // A refused spec moves no data either: its broker set is not the one in force.
        Outcome::unchanged(previous)
    } else {
        let keep: Vec<i32> = cluster.brokers().map(|n| n.id).collect();
        rebalancer::step(
            input.rebalancer,
            &bootstrap,
            &access,
            &keep,
            &observed,
            input.rebalance,
            previous,
        )
        .await
    };
    gate_removals(&mut plan, outcome.empty.as_ref());
    let applied = runtime.apply(&cluster, &plan).await;
    // A restart the disruption budget refused did not happen: no Event says it did.
    let plan = runtime.as_applied(plan);
    Ok(Step {
        cluster,
        observed,
        decision,
        plan,
        rebalance: outcome,
        bootstrap,
        access,
        applied,
    })
}

/// The `(reason, message)` of a plan refused whole because its spec would change the
/// KRaft voter set (then nothing was created, restarted, removed or moved).
pub fn voter_change(plan: &Plan) -> Option<&(&'static str, String)> {
    plan.degraded
        .as_ref()
        .filter(|(reason, _)| *reason == plan::VOTER_CHANGE_BLOCKED)
}

impl<E: std::fmt::Display> Step<E> {
    /// The status this step leads to, at generation `generation`: nodes, upgrade and
    /// rebalance progress, their conditions, and a failed apply.
    pub fn status<R: Runtime<Error = E>>(
        &self,
        runtime: &mut R,
        previous: Option<&KafkaClusterStatus>,
        generation: Option<i64>,
    ) -> Result<KafkaClusterStatus, E> {
        let now = Time(Timestamp::now());
        let inputs = status::Inputs {
            cluster: &self.cluster,
            observed: &self.observed,
            plan: &self.plan,
            previous,
            bootstrap_servers: runtime.bootstrap_servers(&self.cluster),
            listeners: runtime.listeners(&self.cluster),
            cluster_id: runtime.cluster_id(&self.cluster)?,
            claim_conflicts: runtime.claim_conflicts(),
        };
        let mut s = status::compute(&inputs, &now);
        s.upgrade.clone_from(&self.decision.status);
        s.rebalance.clone_from(&self.rebalance.status);
        s.conditions = conditions::merge(
            &s.conditions,
            &self.rebalance.conditions(),
            generation,
            &now,
        );
        if let Err(e) = &self.applied {
            // What only the runtime can refuse (e.g. the API server shrinking a claim)
            // is reported on the cluster, not just in the operator's log.
            status::apply_failed(&mut s, &e.to_string(), &now);
        }
        Ok(s)
    }
}
