//! controller: the kube-runtime Controllers for `KafkaCluster` (and, in [`user`],
//! `KafkaUser`). Each reconcile validates
//! the spec, runs the shared step ([`crate::reconcile`]: observe -> plan (pure) ->
//! rebalance -> apply) through the kube runtime, writes the status with server-side
//! apply, and records an Event for every action.
//!
//! The watch is guarded: the root is watched as `DynamicObject`, so one custom resource
//! that does not deserialize cannot break the stream; it gets `Degraded` on its own
//! status instead.

mod events;
pub mod health;
pub mod rebalance;
mod run;
pub mod user;

pub use rebalance::Rebalancer;
pub use run::{RunError, run};

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Client, Resource, ResourceExt};
use tracing::Instrument;

use crate::build::FIELD_MANAGER;
use crate::crd::{KafkaCluster, KafkaClusterStatus};
use crate::identity::Identities;
use crate::metrics::Metrics;
use crate::reconcile;
use crate::roll::catalog::Catalog;
use crate::runtime::AdminSource;
use crate::runtime::kube::{KubeRuntime, KubeRuntimeError};
use crate::status::{self, conditions};
use crate::validate::{FieldError, InvalidSpec, validate};
use events::NoteRecorder;

/// Finalizer the operator puts on every KafkaCluster.
pub const FINALIZER: &str = "tidewater.io/finalizer";

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Applying or observing owned objects failed.
    #[error(transparent)]
    Runtime(#[from] KubeRuntimeError),
    /// Writing the status or an event failed.
    #[error("kube API: {0}")]
    Kube(#[from] kube::Error),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The object has no namespace (the CRD is namespaced, so this is an API bug).
    #[error("object has no namespace")]
    NoNamespace,
    /// A Kafka admin call a deletion needs failed (the finalizer stays; retried).
    #[error("Kafka admin: {0}")]
    Admin(String),
}

impl ReconcileError {
    /// Bounded metric label of the error.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Runtime(_) => "apply",
            ReconcileError::Kube(_) => "kube",
            ReconcileError::Finalizer(_) => "finalizer",
            ReconcileError::NoNamespace => "invalid_object",
            ReconcileError::Admin(_) => "admin",
        }
    }
}

/// Shared state of every reconcile.
pub struct Context<A> {
    /// API client.
    pub client: Client,
    /// The one Event recorder: one series per reason and note.
    pub recorder: NoteRecorder,
    /// Operator metrics.
    pub metrics: Metrics,
    /// Kafka-protocol reads.
    pub admin: A,
    /// Versions this operator can run.
    pub catalog: Catalog,
    /// The operator's client certificates of secured clusters (issued by the cluster
    /// controller, used by both controllers' admin calls).
    pub identities: Identities,
}

impl<A> Context<A> {
    /// A context with a recorder reporting as `tidewater-operator`.
    pub fn new(client: Client, metrics: Metrics, admin: A, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance,
        };
        Self {
            recorder: NoteRecorder::new(client.clone(), reporter),
            client,
            metrics,
            admin,
            catalog: Catalog::shipped(),
            identities: Identities::default(),
        }
    }
}

fn resource() -> ApiResource {
    ApiResource::erase::<KafkaCluster>(&())
}

/// Reconciles one KafkaCluster (as watched: untyped).
pub async fn reconcile<A: AdminSource + Rebalancer + Clone>(
    obj: Arc<DynamicObject>,
    ctx: Arc<Context<A>>,
) -> Result<Action, ReconcileError> {
    let _timer = ctx.metrics.reconcile_started();
    let ns = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    let typed = serde_json::to_value(&*obj).and_then(serde_json::from_value::<KafkaCluster>);
    let cluster = match typed {
        Ok(c) => c,
        Err(e) => return malformed(&obj, &ns, &e.to_string(), &ctx).await,
    };
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", cluster = %cluster.name_any(), namespace = %ns);
    finalizer(&api, FINALIZER, Arc::new(cluster), |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(from_finalizer)
}

/// The reconcile's own error out of the finalizer helper's.
fn from_finalizer(e: kube::runtime::finalizer::Error<ReconcileError>) -> ReconcileError {
    match e {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => ReconcileError::Finalizer(other.to_string()),
    }
}

/// Failed reconciles retry after a delay and are counted by category.
pub fn error_policy<A>(
    _obj: Arc<DynamicObject>,
    err: &ReconcileError,
    ctx: Arc<Context<A>>,
) -> Action {
    tracing::warn!(error = %err, category = err.category(), "reconcile failed");
    ctx.metrics.reconcile_failed(err.category());
    Action::requeue(Duration::from_secs(15))
}

fn now() -> Time {
    Time(Timestamp::now())
}

async fn apply<A: AdminSource + Rebalancer + Clone>(
    k: &KafkaCluster,
    ctx: &Context<A>,
) -> Result<Action, ReconcileError> {
    let key = format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any());
    let previous = k.status.as_ref();
    if k.spec.paused {
        let s = status::paused(previous, k.metadata.generation, &now());
        if !previous.is_some_and(|p| {
            conditions::is_true_reason(&p.conditions, conditions::PROGRESSING, "Paused")
        }) {
            publish(
                ctx,
                k,
                EventType::Normal,
                "Paused",
                "spec.paused is true: reconciling stopped",
            )
            .await;
        }
        patch_status(ctx, k, &s).await?;
        ctx.metrics.set_cluster(&key, Some(("paused", 0, 0)));
        return Ok(Action::await_change());
    }
    let cluster = match validate(k) {
        Ok(c) => c,
        Err(invalid) => {
            publish(
                ctx,
                k,
                EventType::Warning,
                "InvalidSpec",
                &invalid.to_string(),
            )
            .await;
            let s = status::invalid(previous, k.metadata.generation, &invalid, &now());
            patch_status(ctx, k, &s).await?;
            ctx.metrics.set_cluster(&key, Some(("invalid", 0, 0)));
            return Ok(Action::await_change());
        }
    };
    let mut runtime = KubeRuntime::new(ctx.client.clone(), ctx.admin.clone())
        .with_identities(ctx.identities.clone());
    let input = reconcile::Input {
        previous,
        catalog: &ctx.catalog,
        rebalancer: &ctx.admin,
        rebalance: k.spec.rebalance.as_ref(),
    };
    let step = reconcile::step(&mut runtime, cluster, &input).await?;
    let reconcile::Step {
        cluster,
        observed,
        plan,
        rebalance: outcome,
        bootstrap,
        access,
        applied,
        ..
    } = &step;
    if let Err(e) = applied {
        publish(ctx, k, EventType::Warning, "ApplyFailed", &e.to_string()).await;
    } else {
        for (reason, note) in plan.events(observed) {
            publish(ctx, k, EventType::Normal, reason, &note).await;
        }
        // Retried by the next reconcile's plan; the Event says why it did not happen.
        for note in runtime.admin_failures() {
            publish(ctx, k, EventType::Warning, "AdminOperationFailed", note).await;
        }
        let desired: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
        for id in rebalance::to_unregister(plan, observed, &desired) {
            match ctx.admin.unregister(bootstrap, access, id).await {
                Ok(()) => {
                    let note = format!("node {id} unregistered from the cluster metadata");
                    publish(ctx, k, EventType::Normal, "BrokerUnregistered", &note).await;
                }
                // Retried next reconcile: the broker is still registered then.
                Err(e) => {
                    let note = format!("node {id}: {e}");
                    publish(ctx, k, EventType::Warning, "UnregisterFailed", &note).await;
                }
            }
        }
    }
    for (type_, reason, note) in &outcome.events {
        let type_ = if *type_ == "Warning" {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, k, type_, reason, note).await;
    }
    // A blocked roll or refused spec is an Event when it starts (the condition keeps it).
    let cause = plan
        .degraded
        .clone()
        .or_else(|| plan.blocked.clone().filter(|(r, _)| *r == "RollBlocked"));
    if let Some((reason, message)) = &cause {
        let known = previous.is_some_and(|p| {
            p.conditions
                .iter()
                .any(|c| c.reason == *reason && c.message == *message)
        });
        if !known {
            publish(ctx, k, EventType::Warning, reason, message).await;
        }
    }
    let s = step.status(&mut runtime, previous, k.metadata.generation)?;
    let ready = conditions::is_true(&s.conditions, conditions::READY);
    let degraded = conditions::is_true(&s.conditions, conditions::DEGRADED);
    let up = s.brokers.iter().filter(|b| b.ready).count();
    let down = s.brokers.len() - up;
    let state = if degraded {
        "degraded"
    } else if ready {
        "ready"
    } else {
        "not_ready"
    };
    ctx.metrics
        .set_cluster(&key, Some((state, count(up), count(down))));
    ctx.metrics
        .set_blocked(&key, plan.blocked.as_ref().map(|b| b.0));
    ctx.metrics.set_roll_blocked(
        &key,
        plan.blocked.as_ref().is_some_and(|b| b.0 == "RollBlocked"),
    );
    ctx.metrics.set_rebalance(&key, s.rebalance.as_ref());
    patch_status(ctx, k, &s).await?;
    if let Err(e) = step.applied {
        return Err(e.into());
    }
    // Pods changes wake us through the watch; the requeue re-reads Kafka metadata, and
    // follows partition moves closely (nothing else wakes us while they run).
    let secs = if rebalance::active(outcome) {
        5
    } else if ready {
        60
    } else {
        10
    };
    Ok(Action::requeue(Duration::from_secs(secs)))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn cleanup<A>(k: &KafkaCluster, ctx: &Context<A>) -> Result<Action, ReconcileError> {
    // Owned objects go with the owner through garbage collection (owner references).
    publish(
        ctx,
        k,
        EventType::Normal,
        "Deleting",
        "deleting the cluster's objects",
    )
    .await;
    let key = format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any());
    ctx.metrics.set_cluster(&key, None);
    ctx.metrics.set_blocked(&key, None);
    ctx.metrics.set_rebalance(&key, None);
    Ok(Action::await_change())
}

async fn malformed<A>(
    obj: &DynamicObject,
    ns: &str,
    error: &str,
    ctx: &Context<A>,
) -> Result<Action, ReconcileError> {
    let invalid = InvalidSpec(vec![FieldError {
        field: "spec".to_owned(),
        message: format!("does not match the KafkaCluster schema: {error}"),
    }]);
    let s = status::invalid(None, obj.metadata.generation, &invalid, &now());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &resource());
    let body = status_body(&s);
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(Action::await_change())
}

fn status_body(s: &KafkaClusterStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": KafkaCluster::api_version(&()),
        "kind": KafkaCluster::kind(&()),
        "status": s,
    })
}

async fn patch_status<A>(
    ctx: &Context<A>,
    k: &KafkaCluster,
    s: &KafkaClusterStatus,
) -> Result<(), ReconcileError> {
    let api: Api<KafkaCluster> =
        Api::namespaced(ctx.client.clone(), &k.namespace().unwrap_or_default());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&k.name_any(), &pp, &Patch::Apply(&status_body(s)))
        .await?;
    Ok(())
}

/// Events are best effort: a failed Event must not fail the reconcile.
async fn publish<A>(
    ctx: &Context<A>,
    k: &KafkaCluster,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    publish_about(ctx, &k.object_ref(&()), type_, reason, note).await;
}

/// An Event about any object (a cluster, a user), best effort.
async fn publish_about<A>(
    ctx: &Context<A>,
    regarding: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, regarding).await {
        tracing::warn!(error = %e, reason, "publishing an event failed");
    }
}
