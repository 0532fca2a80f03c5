//! rebalance: the kube controller's side of issue 12. Each reconcile of a cluster whose
//! Kafka metadata could be read runs the drive through the brokers' bootstrap
//! Service (the operator runs in the cluster, so its DNS name resolves), keeps the
//! removal of brokers being drained until the drive verified them empty
//! (`outcome::gate_removals`), and unregisters removed brokers (UnregisterBroker).
//!
//! The Kafka calls sit behind [`Rebalancer`] so the mocked API tests can say what the
//! brokers hold; the operator's [`KafkaAdmin`] runs the real drive (e2e `scale_to_four`
//! runs it on a real API server). The step itself is [`crate::reconcile`]'s, shared with
//! the local runtime. It must not decide anything itself: planning and the empty check
//! are `crate::rebalance`'s.

use crate::admin::KafkaAdmin;
use crate::observed::Observed;
use crate::plan::Plan;
use crate::rebalance::outcome::Outcome;
pub use crate::rebalance::rebalancer::Rebalancer;
use crate::validate::CONTROLLER_ID_BASE;

impl Rebalancer for KafkaAdmin {}

/// Brokers to unregister after `plan` ran: the brokers it removed (not dedicated
/// controllers), and those still registered in Metadata although no longer desired and
/// without a pod (a broker whose pod was deleted may still have been live, and so
/// registered, when the removal's UnregisterBroker was sent).
pub fn to_unregister(plan: &Plan, observed: &Observed, desired: &[i32]) -> Vec<i32> {
    // Dedicated controllers never register as brokers: nothing to unregister.
    let mut ids: Vec<i32> = plan
        .removed_ids()
        .filter(|id| *id < CONTROLLER_ID_BASE)
        .collect();
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
    use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
    use crate::plan::Action;

    #[test]
    fn unregisters_removed_brokers_and_registered_ones_without_a_pod() {
        let plan = Plan {
            actions: vec![
                Action::Remove {
                    id: 4,
                    delete_storage: false,
                },
                Action::Remove {
                    id: 1003,
                    delete_storage: true,
                },
            ],
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
        observed.admin = Some(Err(AdminError::Unreachable("unreachable".into())));
        assert_eq!(to_unregister(&plan, &observed, &[0]), [4]);
    }
}
