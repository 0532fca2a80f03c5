//! outcome: what one reconcile of the rebalance drive ([`super::drive`]) produced — the
//! new `status.rebalance`, its Events and conditions, and which brokers were verified
//! empty — and the one rule a runtime applies with it: remove only brokers verified
//! empty ([`gate_removals`]). Pure.

use std::collections::BTreeSet;

use super::executor;
use crate::crd::RebalanceStatus;
use crate::plan::{Action, Plan};

/// What one reconcile of the rebalance produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The new `status.rebalance`.
    pub status: Option<RebalanceStatus>,
    /// `(reason, message)` for `Degraded` while a scale-in is refused.
    pub blocked: Option<(&'static str, String)>,
    /// Events: (type, reason, note).
    pub events: Vec<(&'static str, &'static str, String)>,
    /// What is known of which brokers hold data; `None` when the cluster could not be
    /// read, and then nothing may be removed.
    pub empty: Option<EmptyCheck>,
}

/// Which brokers hold nothing, as verified this reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmptyCheck {
    /// Brokers with a replica or a leadership in Metadata.
    pub hosting: BTreeSet<i32>,
    /// Live registered brokers.
    pub registered: BTreeSet<i32>,
    /// Registered brokers whose DescribeLogDirs lists no partition.
    pub no_log_dirs: BTreeSet<i32>,
}

impl EmptyCheck {
    /// Whether node `id` may be removed: it hosts nothing in Metadata, and if it is
    /// registered its own log dirs are empty too (a node that never registered or is
    /// no longer live holds nothing the cluster counts on).
    pub fn may_remove(&self, id: i32) -> bool {
        !self.hosting.contains(&id)
            && (!self.registered.contains(&id) || self.no_log_dirs.contains(&id))
    }
}

impl Outcome {
    /// The status as it was, nothing verified: for a cluster that cannot be read.
    pub fn unchanged(previous: Option<&RebalanceStatus>) -> Self {
        Self {
            status: previous.cloned(),
            ..Self::default()
        }
    }
}

impl Outcome {
    /// Conditions the rebalance adds on top of the runtime's: `Degraded`
    /// (`ScaleInBlocked`) while a scale-in is refused, `Progressing` (`Rebalancing`)
    /// while a plan runs.
    pub fn conditions(&self) -> Vec<crate::status::conditions::Desired> {
        use crate::status::conditions::{DEGRADED, Desired, PROGRESSING};
        let mut out = Vec::new();
        if let Some((reason, message)) = &self.blocked {
            out.push(Desired::new(DEGRADED, true, reason, message.clone()));
        }
        if let Some(s) = self.status.as_ref().filter(|s| executor::active(s)) {
            let message = format!(
                "rebalance ({}): {} of {} partitions moved, batch {} of {}{}",
                s.trigger,
                s.partitions_moved,
                s.partitions_total,
                (s.current_batch + 1).min(s.batches),
                s.batches,
                s.message
                    .as_deref()
                    .map(|m| format!("; {m}"))
                    .unwrap_or_default()
            );
            out.push(Desired::new(PROGRESSING, true, "Rebalancing", message));
        }
        out
    }
}

/// Drops removals of nodes not verified empty from `plan` (never blind: an unreadable
/// cluster, `None`, verifies nothing), saying why.
pub fn gate_removals(plan: &mut Plan, empty: Option<&EmptyCheck>) {
    let mut held = Vec::new();
    plan.actions.retain(|a| match a {
        Action::Remove { id, .. } if !empty.is_some_and(|e| e.may_remove(*id)) => {
            held.push(*id);
            false
        }
        _ => true,
    });
    if !held.is_empty() {
        plan.blocked = Some((
            "ScaleDownBlocked",
            format!("nodes {held:?} are kept until they are drained and verified empty"),
        ));
    }
}
