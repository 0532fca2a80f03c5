//! rebalance: the kube controller's side of issue 12. Each reconcile of a cluster whose
//! Kafka metadata could be read runs [`drive::drive`] through the brokers' bootstrap
//! Service (the operator runs in the cluster, so its DNS name resolves), keeps the
//! removal of brokers being drained until the drive verified them empty
//! ([`drive::gate_removals`]), and unregisters removed brokers (UnregisterBroker).
//!
//! The Kafka calls sit behind [`Rebalancer`] so the mocked API tests can say what the
//! brokers hold; the operator's [`KafkaAdmin`] runs the real drive (e2e `scale_to_four`
//! runs it on a real API server). It must not decide anything itself: planning and the
//! empty check are `crate::rebalance`'s.

use std::future::Future;

use k8s_openapi::jiff::Timestamp;

use crate::admin::KafkaAdmin;
use crate::crd::{RebalanceSpec, RebalanceStatus};
use crate::plan::Plan;
use crate::rebalance::drive::{self, Outcome};
use crate::runtime::Observed;

/// The Kafka side of a rebalance reconcile.
pub trait Rebalancer: Send + Sync {
    /// One step of the rebalance of the brokers behind `bootstrap`, keeping the broker
    /// ids `keep` and draining every other registered broker.
    fn rebalance(
        &self,
        bootstrap: &str,
        keep: &[i32],
        spec: Option<&RebalanceSpec>,
        previous: Option<&RebalanceStatus>,
        now: Timestamp,
    ) -> impl Future<Output = Outcome> + Send {
        drive::drive(bootstrap, keep, spec, previous, now)
    }

    /// UnregisterBroker of `id`, after its pod was deleted (or found gone).
    fn unregister(
        &self,
        bootstrap: &str,
        id: i32,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            drive::unregister(bootstrap, id)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

impl Rebalancer for KafkaAdmin {}

/// The rebalance step of one reconcile: the drive's outcome, or "unchanged, nothing
/// verified" when the brokers' metadata could not be read (never blind).
pub async fn step<R: Rebalancer>(
    rebalancer: &R,
    bootstrap: &str,
    keep: &[i32],
    observed: &Observed,
    spec: Option<&RebalanceSpec>,
    previous: Option<&RebalanceStatus>,
) -> Outcome {
    if !matches!(observed.admin, Some(Ok(_))) {
        return Outcome::unchanged(previous);
    }
    rebalancer
        .rebalance(bootstrap, keep, spec, previous, Timestamp::now())
        .await
}

/// Brokers to unregister after `plan` ran: those it removed, and those still registered
/// in Metadata although no longer desired and without a pod (a broker whose pod was
/// deleted may still have been live, and so registered, when the removal's
/// UnregisterBroker was sent).
pub fn to_unregister(plan: &Plan, observed: &Observed, desired: &[i32]) -> Vec<i32> {
    let mut ids: Vec<i32> = plan.removed_ids().collect();
    if let Some(Ok(snapshot)) = &observed.admin {
        for id in &snapshot.registered {
            if !desired.contains(id) && !observed.nodes.contains_key(id) && !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    ids
}

/// Whether a rebalance is under way: the controller then requeues sooner, to follow the
/// moves (the pods do not change while partitions move, so no watch event comes).
pub fn active(outcome: &Outcome) -> bool {
    outcome
        .status
        .as_ref()
        .is_some_and(crate::rebalance::executor::active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::runtime::{AdminSnapshot, ObservedNode};

    #[test]
    fn unregisters_removed_brokers_and_registered_ones_without_a_pod() {
        let plan = Plan {
            actions: vec![Action::Remove {
                id: 4,
                delete_storage: false,
            }],
            ..Plan::default()
        };
        let mut observed = Observed::default();
        observed.nodes.insert(0, ObservedNode::default());
        observed.nodes.insert(4, ObservedNode::default());
        observed.admin = Some(Ok(AdminSnapshot {
            registered: [0, 3, 4].into(),
            ..AdminSnapshot::default()
        }));
        assert_eq!(to_unregister(&plan, &observed, &[0]), [4, 3]);
        observed.admin = Some(Err("unreachable".into()));
        assert_eq!(to_unregister(&plan, &observed, &[0]), [4]);
    }

    #[tokio::test]
    async fn an_unreadable_cluster_verifies_nothing() {
        struct Panics;
        impl Rebalancer for Panics {
            async fn rebalance(
                &self,
                _: &str,
                _: &[i32],
                _: Option<&RebalanceSpec>,
                _: Option<&RebalanceStatus>,
                _: Timestamp,
            ) -> Outcome {
                unreachable!("the drive must not run on an unreadable cluster")
            }
        }
        let previous = RebalanceStatus {
            partitions_total: 3,
            ..RebalanceStatus::default()
        };
        let observed = Observed {
            admin: Some(Err("unreachable".into())),
            ..Observed::default()
        };
        let out = step(&Panics, "b:9092", &[0], &observed, None, Some(&previous)).await;
        assert_eq!(out.empty, None);
        assert_eq!(out.status, Some(previous));
    }
}
