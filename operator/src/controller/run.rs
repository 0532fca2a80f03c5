//! `tidewater-operator run`: wires the Controllers (KafkaCluster with watches on every
//! owned kind, and KafkaUser), the metrics server, and leader election on the Lease. Owns process-level
//! concerns only; reconcile logic lives in the parent module.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Controller;
use kube::runtime::watcher;

use super::health::{Health, Role};
use super::{Context, error_policy, reconcile, resource};
use crate::build;
use crate::cli::RunArgs;
use crate::lease::LeaseLock;
use crate::metrics::{self, Metrics};
use crate::runtime::AdminSource;

/// Errors running the controller.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No kubeconfig or in-cluster config.
    #[error("connecting to Kubernetes: {0}")]
    Client(#[source] kube::Error),
    /// Metrics registry.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    MetricsServer(#[source] std::io::Error),
    /// Leader election failed or leadership was lost.
    #[error("leader election: {0}")]
    Lease(String),
}

/// `tidewater-operator run`: serves metrics, optionally wins the Lease, then runs the
/// controller until Ctrl-C / SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Client)?;
    let metrics = Metrics::new()?;
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(RunError::MetricsServer)?;
    let server = tokio::spawn(metrics::serve_on(listener, metrics.clone()));
    let health = metrics.health().clone();
    let identity = args.identity.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME")
            .unwrap_or_else(|_| format!("tidewater-operator-{}", std::process::id()))
    });
    let lease = if args.leader_election {
        let ns = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let lock = LeaseLock::new(
            client.clone(),
            &ns,
            "tidewater-operator",
            &identity,
            Duration::from_secs(15),
        );
        health.set_role(Role::StandingBy);
        acquire(&lock).await?;
        health.set_role(Role::Leading);
        Some(lock)
    } else {
        health.set_role(Role::Single);
        None
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        crate::admin::KafkaAdmin::default(),
        Some(identity),
    ));
    let controller = controller(client, args.namespace.as_deref(), ctx, health.clone());
    let outcome = tokio::select! {
        () = controller => Ok(()),
        e = keep_lease(lease) => Err(e),
    };
    match &outcome {
        Ok(()) => health.stopped("the controller stopped"),
        Err(e) => health.stopped(e.to_string()),
    }
    server.abort();
    outcome
}

async fn acquire(lock: &LeaseLock) -> Result<(), RunError> {
    tracing::info!("waiting for the leader Lease");
    loop {
        match lock.try_acquire_or_renew().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the Lease failed"),
        }
        // Polling an external lock: there is no change notification to wait on here.
        tokio::time::sleep(lock.duration() / 5).await;
    }
}

/// Renews the lease until it is lost; never returns while held. Without a lease it
/// never returns at all.
async fn keep_lease(lease: Option<LeaseLock>) -> RunError {
    let Some(lock) = lease else {
        return futures::future::pending().await;
    };
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lock.duration() / 3).await;
        match lock.try_acquire_or_renew().await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
            Ok(false) => return RunError::Lease("another replica took the Lease".to_owned()),
            Err(e) => tracing::warn!(error = %e, "renewing the Lease failed"),
        }
        if last_ok.elapsed() > lock.duration() {
            return RunError::Lease("could not renew the Lease in time".to_owned());
        }
    }
}

async fn controller<
    A: AdminSource + super::Rebalancer + crate::user::admin::UserAdmin + Clone + 'static,
>(
    client: Client,
    namespace: Option<&str>,
    ctx: Arc<Context<A>>,
    health: Health,
) {
    let ar = resource();
    let (roots, pods, cms, svcs, pvcs, pdbs) = match namespace {
        Some(ns) => (
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
            Api::<Pod>::namespaced(client.clone(), ns),
            Api::<ConfigMap>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns),
            Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<DynamicObject>::all_with(client.clone(), &ar),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let owned = watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={}",
        build::MANAGED_BY
    ));
    let user_ar = super::user::user_resource();
    let users = match namespace {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &user_ar),
        None => Api::<DynamicObject>::all_with(client.clone(), &user_ar),
    };
    // Users own only their Secrets, which the operator may not list or watch: a user
    // is reconciled on its own changes and on its requeue.
    let user_health = health.clone();
    let user_controller = Controller::new_with(users, watcher::Config::default(), user_ar)
        .shutdown_on_signal()
        .run(super::user::reconcile_user, error_policy, Arc::clone(&ctx))
        .for_each(move |res| {
            if let Err(kube::runtime::controller::Error::QueueError(_)) = &res {
                user_health.watch_failed(std::time::Instant::now());
            }
            async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "user reconcile loop");
                }
            }
        });
    let cluster_controller = Controller::new_with(roots, watcher::Config::default(), ar)
        .owns(pods, owned.clone())
        .owns(cms, owned.clone())
        .owns(svcs, owned.clone())
        .owns(pvcs, owned.clone())
        .owns(pdbs, owned)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            // A watch error is the controller's QueueError; anything that got as far as
            // a reconcile (even a failed one) means the watches deliver.
            match &res {
                Err(kube::runtime::controller::Error::QueueError(_)) => {
                    health.watch_failed(std::time::Instant::now());
                }
                _ => health.watch_ok(),
            }
            async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "reconcile loop");
                }
            }
        });
    futures::future::join(cluster_controller, user_controller).await;
}
