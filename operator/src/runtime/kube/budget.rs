//! The PodDisruptionBudget around the operator's own rack step (issue 11, items 6 and 9).
//!
//! The normal budget ([`crate::build::pdb`]) lets one node go at a time, so it refuses
//! the second eviction of a rack the roll planner restarts together. For that step only,
//! the budget is narrowed: its selector leaves out exactly the rack's pods
//! (`tidewater.io/node-id NotIn [...]`) and its `minAvailable` becomes every other node.
//! The rack's evictions then meet no budget, while every other pod is held: a node drain
//! by a cluster admin during the step can take none of them (a lowered `minAvailable`
//! over every pod would let it take a pod of another rack once one of the rack's pods is
//! back). The step is written on the budget itself ([`RACK_STEP_ANNOTATION`]), so the
//! restore is derived from what `observe` reads (the budget and the pods), never from
//! memory: an operator restarted mid-step restores it as well. The normal budget comes
//! back, by server-side apply of the normal object under the same field manager (which
//! drops the selector expression and the annotation), as soon as every pod of the step
//! is Ready again.
//!
//! The decision ([`decide`]) is pure; `observe` reads the budget ([`KubeRuntime`]'s
//! `observe_budget`), `apply` writes what [`decide`] says, and `as_applied` reports it
//! (`budget_notices`: `Progressing` and the Events `DisruptionBudgetLowered` and
//! `DisruptionBudgetRestored`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{KubeRuntime, KubeRuntimeError, api_err};
use crate::build::{self, NODE_ID_LABEL};
use crate::plan::{Action, Plan};
use crate::runtime::AdminSource;
use crate::validate::ValidatedCluster;

/// Annotation on a budget narrowed for a rack step: the step's node ids, comma-separated.
pub const RACK_STEP_ANNOTATION: &str = "tidewater.io/rack-step";

/// The budget `apply` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// The normal budget: one node at a time.
    Normal,
    /// Narrowed for a rack step: these nodes may all go, no other may.
    RackStep(BTreeSet<i32>),
}

/// The budget an `apply` wrote, with what its report needs.
#[derive(Debug, Clone)]
pub struct Written {
    /// Normal or narrowed.
    pub budget: Budget,
    /// The budget's name.
    name: String,
    /// Nodes in the cluster.
    nodes: usize,
}

impl Written {
    /// `budget` as written for cluster `c`.
    pub fn new(c: &ValidatedCluster, budget: Budget) -> Self {
        Self {
            budget,
            name: build::pdb::budget_name(c),
            nodes: c.nodes.len(),
        }
    }
}

impl<A: AdminSource> KubeRuntime<A> {
    /// The rack step the cluster's budget is narrowed for now (empty: normal, or absent).
    pub(super) async fn observe_budget(
        &self,
        c: &ValidatedCluster,
    ) -> Result<BTreeSet<i32>, KubeRuntimeError> {
        let name = build::pdb::budget_name(c);
        match self.api::<PodDisruptionBudget>(c).get_opt(&name).await {
            Ok(found) => Ok(found.as_ref().map(lowered_for).unwrap_or_default()),
            Err(source) => Err(api_err("get", "PodDisruptionBudget", &name, source)),
        }
    }

    /// `plan` reporting the budget the last `apply` wrote: narrowed with the rack's
    /// restarts (the rack's note says so, plus an Event when newly narrowed), held
    /// while the step's pods come back (`Progressing`), restored (an Event).
    pub(super) fn budget_notices(&self, mut plan: Plan) -> Plan {
        let Some(written) = &self.budget else {
            return plan;
        };
        let restarting = plan.actions.iter().any(|a| matches!(a, Action::Restart(_)));
        match &written.budget {
            Budget::RackStep(step) => {
                let others = written.nodes.saturating_sub(step.len());
                let message = lowered_message(&written.name, step, others);
                if *step != self.budget_step {
                    plan.notices
                        .push(("DisruptionBudgetLowered", message.clone()));
                }
                let slot = if restarting {
                    &mut plan.roll_note
                } else {
                    &mut plan.blocked
                };
                match slot {
                    Some((_, note)) => *note = format!("{note}; {message}"),
                    None => *slot = Some(("Rolling", message)),
                }
            }
            Budget::Normal if !self.budget_step.is_empty() => plan.notices.push((
                "DisruptionBudgetRestored",
                restored_message(&written.name, &self.budget_step),
            )),
            Budget::Normal => {}
        }
        plan
    }
}

/// The node ids a budget read back from the API server was narrowed for (empty: the
/// normal budget, or an annotation this operator did not write).
pub fn lowered_for(pdb: &PodDisruptionBudget) -> BTreeSet<i32> {
    pdb.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RACK_STEP_ANNOTATION))
        .map(|ids| {
            ids.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The budget for this reconcile: narrowed for `restarting` when the plan restarts
/// several nodes together (a rack step); kept narrowed for the step the observed budget
/// names (`lowered`) while any of its nodes is not `available` (Ready, not terminating);
/// else normal.
pub fn decide(
    restarting: &BTreeSet<i32>,
    lowered: &BTreeSet<i32>,
    available: &BTreeSet<i32>,
) -> Budget {
    if restarting.len() >= 2 {
        Budget::RackStep(restarting.clone())
    } else if !lowered.is_subset(available) {
        Budget::RackStep(lowered.clone())
    } else {
        Budget::Normal
    }
}

/// `normal` narrowed for a rack step of `step`: the selector leaves `step`'s pods out
/// and every other node (of `nodes` in the cluster) must stay available.
pub fn rack_step(
    mut normal: PodDisruptionBudget,
    nodes: usize,
    step: &BTreeSet<i32>,
) -> PodDisruptionBudget {
    let ids: Vec<String> = step.iter().map(i32::to_string).collect();
    normal
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(RACK_STEP_ANNOTATION.to_owned(), ids.join(","));
    if let Some(spec) = normal.spec.as_mut() {
        let others = nodes.saturating_sub(step.len());
        spec.min_available = Some(IntOrString::Int(i32::try_from(others).unwrap_or(i32::MAX)));
        if let Some(selector) = spec.selector.as_mut() {
            selector.match_expressions = Some(vec![LabelSelectorRequirement {
                key: NODE_ID_LABEL.to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(ids),
            }]);
        }
    }
    normal
}

/// The `Progressing` message part and Event note of a narrowed budget.
pub fn lowered_message(budget: &str, step: &BTreeSet<i32>, others: usize) -> String {
    format!(
        "PodDisruptionBudget {budget} lets only nodes {} go (the {others} other pods must stay available) until they are Ready again",
        listed(step)
    )
}

/// The Event note of a restored budget.
pub fn restored_message(budget: &str, step: &BTreeSet<i32>) -> String {
    format!(
        "PodDisruptionBudget {budget} restored to one node at a time: nodes {} of the rack step are Ready again",
        listed(step)
    )
}

fn listed(ids: &BTreeSet<i32>) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn ids(v: &[i32]) -> BTreeSet<i32> {
        v.iter().copied().collect()
    }

    fn normal() -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some("t-kafka".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                min_available: Some(IntOrString::Int(8)),
                selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/instance".to_owned(),
                        "t".to_owned(),
                    )])),
                    match_expressions: None,
                }),
                ..PodDisruptionBudgetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn a_rack_step_leaves_exactly_its_pods_out_and_holds_every_other() {
        let pdb = rack_step(normal(), 9, &ids(&[0, 3]));
        let spec = pdb.spec.as_ref().unwrap();
        assert_eq!(spec.min_available, Some(IntOrString::Int(7)));
        let expr = &spec
            .selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0];
        assert_eq!(expr.key, NODE_ID_LABEL);
        assert_eq!(expr.operator, "NotIn");
        assert_eq!(
            expr.values.as_deref(),
            Some(&["0".to_owned(), "3".to_owned()][..])
        );
        assert_eq!(lowered_for(&pdb), ids(&[0, 3]));
        assert!(lowered_for(&normal()).is_empty());
    }

    #[test]
    fn the_budget_is_restored_once_every_pod_of_the_step_is_ready() {
        let all = ids(&[0, 1, 2, 3, 4, 5]);
        // The plan restarts a rack: narrowed for it.
        assert_eq!(
            decide(&ids(&[0, 3]), &BTreeSet::new(), &all),
            Budget::RackStep(ids(&[0, 3]))
        );
        // One pod of the step is back, the other not: still narrowed, for the whole step.
        assert_eq!(
            decide(&BTreeSet::new(), &ids(&[0, 3]), &ids(&[0, 1, 2, 4, 5])),
            Budget::RackStep(ids(&[0, 3]))
        );
        // Both back: normal, whatever restarts alone next.
        assert_eq!(decide(&ids(&[1]), &ids(&[0, 3]), &all), Budget::Normal);
        // A lone restart never narrows it.
        assert_eq!(decide(&ids(&[1]), &BTreeSet::new(), &all), Budget::Normal);
    }
}
