//! The `local up` loop: every tick, read the desired spec from the state dir, validate
//! it, run the reconcile step the kube controller runs too ([`crate::reconcile`]:
//! observe -> plan -> rebalance -> apply -> status), record its Events and write
//! `status.yaml` when it changed. Stops every broker on shutdown.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{LocalError, LocalRuntime};
use crate::crd::{KafkaCluster, KafkaClusterStatus};
use crate::plan;
use crate::rebalance::drive;
use crate::rebalance::rebalancer::Drive;
use crate::reconcile;
use crate::render::parse_cluster;
use crate::roll::catalog::Catalog;
use crate::runtime::{AdminSource, Runtime};
use crate::status::{self, conditions};
use crate::validate::{CONTROLLER_ID_BASE, FieldError, InvalidSpec, ValidatedCluster, validate};

/// How often the loop observes the cluster (and notices a new spec or a crash).
pub const TICK: Duration = Duration::from_millis(500);

/// What one reconcile led to: the status, how apply went, and the `(reason, message)`
/// of a spec refused because it would change the KRaft voter set.
type Reconciled = (
    KafkaClusterStatus,
    Result<(), LocalError>,
    Option<(&'static str, String)>,
);

/// Supervisor state across ticks.
pub struct Supervisor<A> {
    runtime: LocalRuntime<A>,
    /// Spec text of the current generation, to bump the generation when it changes.
    spec_text: String,
    generation: i64,
    status: Option<KafkaClusterStatus>,
    /// Last InvalidSpec message recorded as an event (one event per distinct error).
    last_invalid: Option<String>,
    /// Last roll block or refusal recorded as an event (one event per distinct cause).
    last_roll_event: Option<String>,
    /// Last voter-set refusal recorded as an event (one event per distinct refusal).
    last_voter_refusal: Option<String>,
    /// Versions this operator can run.
    catalog: Catalog,
    /// The spec in force while a newer one is invalid.
    last_valid: Option<ValidatedCluster>,
}

impl<A: AdminSource> Supervisor<A> {
    /// A supervisor over `runtime`.
    pub fn new(runtime: LocalRuntime<A>) -> Self {
        let status = runtime.state().read_status().ok().flatten();
        Self {
            runtime,
            spec_text: String::new(),
            generation: 0,
            status,
            last_invalid: None,
            last_roll_event: None,
            last_voter_refusal: None,
            catalog: Catalog::shipped(),
            last_valid: None,
        }
    }

    /// Runs until `shutdown` completes, then stops every broker.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), LocalError> {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "reconcile failed");
                let _ = self
                    .runtime
                    .state()
                    .event("Warning", "ReconcileFailed", &e.to_string());
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(TICK) => {}
            }
        }
        self.runtime
            .state()
            .event("Normal", "Stopping", "stopping every broker")?;
        self.runtime.stop_all().await;
        if let Some(mut s) = self.status.take() {
            s.conditions = conditions::merge(
                &s.conditions,
                &[
                    conditions::Desired::new(
                        conditions::READY,
                        false,
                        "Stopped",
                        "local up stopped the cluster",
                    ),
                    conditions::Desired::new(
                        conditions::PROGRESSING,
                        false,
                        "Stopped",
                        "local up stopped the cluster",
                    ),
                ],
                Some(self.generation),
                &now(),
            );
            for b in &mut s.brokers {
                b.ready = false;
                b.pod = None;
            }
            self.runtime.state().write_status(&s)?;
        }
        Ok(())
    }

    fn read_spec(&mut self) -> Result<KafkaCluster, InvalidSpec> {
        let path = self.runtime.state().cluster_file();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text != self.spec_text {
            self.spec_text = text.clone();
            self.generation += 1;
        }
        let mut cluster = parse_cluster(&text).map_err(|e| {
            InvalidSpec(vec![FieldError {
                field: path.display().to_string(),
                message: e.to_string(),
            }])
        })?;
        cluster.metadata.generation = Some(self.generation);
        Ok(cluster)
    }

    async fn publish(&mut self, s: KafkaClusterStatus) -> Result<(), LocalError> {
        let was_ready = self
            .status
            .as_ref()
            .is_some_and(|p| conditions::is_true(&p.conditions, conditions::READY));
        let is_ready = conditions::is_true(&s.conditions, conditions::READY);
        if was_ready != is_ready {
            let reason = s
                .conditions
                .iter()
                .find(|c| c.type_ == conditions::READY)
                .map(|c| c.reason.clone())
                .unwrap_or_default();
            let kind = if is_ready { "Ready" } else { "NotReady" };
            self.runtime.state().event("Normal", kind, &reason)?;
        }
        if self.status.as_ref() != Some(&s) {
            self.runtime.state().write_status(&s)?;
            self.status = Some(s);
        }
        Ok(())
    }

    /// An invalid spec changes nothing: the last valid spec stays in force (crashed
    /// brokers are still restarted, as the kubelet would), and `Degraded` says why.
    async fn invalid(&mut self, e: &InvalidSpec) -> Result<(), LocalError> {
        let message = e.to_string();
        if self.last_invalid.as_deref() != Some(message.as_str()) {
            self.runtime
                .state()
                .event("Warning", "InvalidSpec", &message)?;
            self.last_invalid = Some(message);
        }
        let base = match self.last_valid.clone() {
            Some(valid) => Some(self.reconcile(&valid).await?.0),
            None => self.status.clone(),
        };
        let s = status::invalid(base.as_ref(), Some(self.generation), e, &now());
        self.publish(s).await
    }

    /// The desired cluster, `None` when paused.
    fn desired(&mut self) -> Result<Option<ValidatedCluster>, InvalidSpec> {
        let k = self.read_spec()?;
        if k.spec.paused {
            return Ok(None);
        }
        let c = validate(&k)?;
        // A version the catalog lacks is refused by the upgrade logic (UnknownVersion),
        // with nothing restarted; a known one needs its binary here.
        if self.catalog.get(&c.version).is_some() && !self.runtime.has_binary(&c.version) {
            return Err(InvalidSpec(vec![FieldError {
                field: "spec.version".to_owned(),
                message: format!(
                    "no broker binary for version {} (pass --broker-bin {}=PATH to local up)",
                    c.version, c.version
                ),
            }]));
        }
        Ok(Some(c))
    }

    /// The shared reconcile step ([`crate::reconcile`]) for `cluster`; the status it
    /// leads to, how apply went, and the refusal when `cluster` would change the KRaft
    /// voter set (then nothing was applied).
    async fn reconcile(&mut self, cluster: &ValidatedCluster) -> Result<Reconciled, LocalError> {
        // The spec's rebalance settings even while an older valid spec is in force.
        let spec = parse_cluster(&self.spec_text)
            .ok()
            .and_then(|k| k.spec.rebalance);
        let input = reconcile::Input {
            previous: self.status.as_ref(),
            catalog: &self.catalog,
            rebalancer: &Drive,
            rebalance: spec.as_ref(),
        };
        let step = reconcile::step(&mut self.runtime, cluster.clone(), &input).await?;
        let bootstrap = self.runtime.bootstrap_servers(cluster);
        // Dedicated controllers never register as brokers: nothing to unregister.
        let brokers = step
            .plan
            .removed_ids()
            .filter(|id| *id < CONTROLLER_ID_BASE);
        for id in brokers {
            match drive::unregister(&bootstrap, &step.access, id).await {
                Ok(()) => self.runtime.state().event(
                    "Normal",
                    "BrokerUnregistered",
                    &format!("node {id} unregistered from the cluster metadata"),
                )?,
                Err(e) => self.runtime.state().event(
                    "Warning",
                    "UnregisterFailed",
                    &format!("node {id}: {e}"),
                )?,
            }
        }
        for (type_, reason, note) in &step.rebalance.events {
            self.runtime.state().event(type_, reason, note)?;
        }
        for (reason, note) in step.plan.events(&step.observed) {
            self.runtime.state().event("Normal", reason, &note)?;
        }
        self.roll_events(&step.plan)?;
        let s = step.status(
            &mut self.runtime,
            self.status.as_ref(),
            Some(self.generation),
        )?;
        let voter_change = reconcile::voter_change(&step.plan).cloned();
        Ok((s, step.applied, voter_change))
    }

    /// A Warning Event when the roll gets blocked or the spec is refused, once per cause.
    fn roll_events(&mut self, plan: &plan::Plan) -> Result<(), LocalError> {
        // A voter-set refusal is reported by `tick`, beside the spec still in force.
        let cause = plan
            .degraded
            .clone()
            .filter(|(r, _)| *r != plan::VOTER_CHANGE_BLOCKED)
            .or_else(|| plan.blocked.clone().filter(|(r, _)| *r == "RollBlocked"));
        let text = cause.as_ref().map(|(r, m)| format!("{r}: {m}"));
        if text != self.last_roll_event {
            if let Some((reason, message)) = &cause {
                self.runtime.state().event("Warning", reason, message)?;
            }
            self.last_roll_event = text;
        }
        Ok(())
    }

    /// One reconcile.
    pub async fn tick(&mut self) -> Result<(), LocalError> {
        let cluster = match self.desired() {
            Ok(Some(c)) => c,
            Ok(None) => {
                let s = status::paused(self.status.as_ref(), Some(self.generation), &now());
                return self.publish(s).await;
            }
            Err(e) => return self.invalid(&e).await,
        };
        self.last_invalid = None;
        // The voters its nodes were started with, read before anything acts on the
        // new spec (observe would give its new nodes ports).
        let seed = self.runtime.configured_voters(&cluster.name);
        let mut adopted = cluster.clone();
        adopted.quorum_seed.clone_from(&seed);
        if let Some(message) = seed
            .and_then(|voters| plan::voter_set_change(&adopted, &voters.keys().copied().collect()))
        {
            return self.refuse_voter_change(message).await;
        }
        let (s, applied, refused) = self.reconcile(&cluster).await?;
        if let Some((_, message)) = refused {
            return self.refuse_voter_change(message).await;
        }
        self.last_voter_refusal = None;
        self.last_valid = Some(cluster);
        self.publish(s).await?;
        applied
    }

    /// A spec that would change the KRaft voter set changes nothing: as with an invalid
    /// spec, the one in force before keeps running (crashed nodes restart, its
    /// rebalance goes on), and `Degraded` (`VoterChangeBlocked`) says why.
    async fn refuse_voter_change(&mut self, message: String) -> Result<(), LocalError> {
        if self.last_voter_refusal.as_deref() != Some(message.as_str()) {
            self.runtime
                .state()
                .event("Warning", plan::VOTER_CHANGE_BLOCKED, &message)?;
            self.last_voter_refusal = Some(message.clone());
        }
        let (base, applied) = match self.last_valid.clone() {
            Some(valid) => {
                let (s, applied, _) = self.reconcile(&valid).await?;
                (Some(s), applied)
            }
            None => (self.status.clone(), Ok(())),
        };
        let mut s = base.unwrap_or_default();
        s.conditions = conditions::merge(
            &s.conditions,
            &[conditions::Desired::new(
                conditions::DEGRADED,
                true,
                plan::VOTER_CHANGE_BLOCKED,
                message,
            )],
            Some(self.generation),
            &now(),
        );
        self.publish(s).await?;
        applied
    }

    /// The runtime (tests reach broker pids through it).
    pub fn runtime(&self) -> &LocalRuntime<A> {
        &self.runtime
    }
}

fn now() -> Time {
    Time(Timestamp::now())
}
