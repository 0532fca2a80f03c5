//! rebalancer: the Kafka side of one reconcile's rebalance step, behind a trait so the
//! mocked API tests can say what the brokers hold. [`Drive`] (and the operator's
//! [`crate::admin::KafkaAdmin`]) run the real [`drive::drive`]; [`step`] is what both
//! runtimes' reconcile calls ([`crate::reconcile`]). Nothing here decides: planning
//! and the empty check are the planner's and the drive's.

use std::future::Future;

use k8s_openapi::jiff::Timestamp;

use super::drive::{self, DriveError};
use super::outcome::Outcome;
use crate::crd::{RebalanceSpec, RebalanceStatus};
use crate::identity::AdminAccess;
use crate::observed::Observed;

/// The Kafka side of a rebalance reconcile.
pub trait Rebalancer: Send + Sync {
    /// One step of the rebalance of the brokers behind `bootstrap` (reached as
    /// `access` says), keeping the broker ids `keep` and draining every other
    /// registered broker.
    fn rebalance(
        &self,
        bootstrap: &str,
        access: &AdminAccess,
        keep: &[i32],
        spec: Option<&RebalanceSpec>,
        previous: Option<&RebalanceStatus>,
        now: Timestamp,
    ) -> impl Future<Output = Outcome> + Send {
        drive::drive(bootstrap, access, keep, spec, previous, now)
    }

    /// UnregisterBroker of `id`, after its node was removed (or found gone).
    fn unregister(
        &self,
        bootstrap: &str,
        access: &AdminAccess,
        id: i32,
    ) -> impl Future<Output = Result<(), DriveError>> + Send {
        drive::unregister(bootstrap, access, id)
    }
}

/// The real drive over the Kafka protocol, for a runtime without an admin of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drive;

impl Rebalancer for Drive {}

/// The rebalance step of one reconcile: the drive's outcome, or "unchanged, nothing
/// verified" when the brokers' metadata could not be read (never blind).
pub async fn step<R: Rebalancer>(
    rebalancer: &R,
    bootstrap: &str,
    access: &AdminAccess,
    keep: &[i32],
    observed: &Observed,
    spec: Option<&RebalanceSpec>,
    previous: Option<&RebalanceStatus>,
) -> Outcome {
    if !matches!(observed.admin, Some(Ok(_))) {
        return Outcome::unchanged(previous);
    }
    rebalancer
        .rebalance(bootstrap, access, keep, spec, previous, Timestamp::now())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::AdminError;

    #[tokio::test]
    async fn an_unreadable_cluster_verifies_nothing() {
        struct Panics;
        impl Rebalancer for Panics {
            async fn rebalance(
                &self,
                _: &str,
                _: &AdminAccess,
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
            admin: Some(Err(AdminError::Unreachable("unreachable".into()))),
            ..Observed::default()
        };
        let out = step(
            &Panics,
            "b:9092",
            &AdminAccess::plaintext(),
            &[0],
            &observed,
            None,
            Some(&previous),
        )
        .await;
        assert_eq!(out.empty, None);
        assert_eq!(out.status, Some(previous));
    }
}
