//! Kubernetes-convention conditions: one per type, `lastTransitionTime` moves only when
//! `status` changes (a changed reason or message alone does not reset it).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `Ready`: every broker registered, no offline or under-replicated partition.
pub const READY: &str = "Ready";
/// `Progressing`: the operator is changing something.
pub const PROGRESSING: &str = "Progressing";
/// `Degraded`: something is wrong that needs attention (or the spec is invalid).
pub const DEGRADED: &str = "Degraded";

/// A condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Condition type.
    pub type_: &'static str,
    /// `True` or `False`.
    pub status: bool,
    /// PascalCase reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

impl Desired {
    /// A condition of `type_`.
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// Merges `desired` into `previous`, keeping `lastTransitionTime` of conditions whose
/// status did not change. The result is sorted by type, so rendering is deterministic.
pub fn merge(
    previous: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|p| !desired.iter().any(|d| d.type_ == p.type_))
        .cloned()
        .collect();
    for d in desired {
        let status = if d.status { "True" } else { "False" }.to_owned();
        let last_transition_time = previous
            .iter()
            .find(|p| p.type_ == d.type_ && p.status == status)
            .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
        out.push(Condition {
            type_: d.type_.to_owned(),
            status,
            reason: d.reason.clone(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Whether condition `type_` is `True` in `conditions`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// Whether condition `type_` is `True` with `reason`.
pub fn is_true_reason(conditions: &[Condition], type_: &str, reason: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.reason == reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let first = merge(
            &[],
            &[Desired::new(READY, false, "Creating", "a")],
            Some(1),
            &at(10),
        );
        let second = merge(
            &first,
            &[Desired::new(READY, false, "NodesNotReady", "b")],
            Some(2),
            &at(20),
        );
        assert_eq!(second[0].last_transition_time, at(10));
        assert_eq!(second[0].reason, "NodesNotReady");
        assert_eq!(second[0].observed_generation, Some(2));
        let third = merge(
            &second,
            &[Desired::new(READY, true, "Ready", "")],
            Some(2),
            &at(30),
        );
        assert_eq!(third[0].last_transition_time, at(30));
        assert_eq!(third[0].status, "True");
    }

    #[test]
    fn sorted_by_type_and_untouched_types_kept() {
        let first = merge(
            &[],
            &[
                Desired::new(READY, false, "X", ""),
                Desired::new(DEGRADED, false, "Y", ""),
            ],
            None,
            &at(1),
        );
        let second = merge(
            &first,
            &[Desired::new(PROGRESSING, true, "Z", "")],
            None,
            &at(2),
        );
        let types: Vec<_> = second.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![DEGRADED, PROGRESSING, READY]);
        assert!(is_true(&second, PROGRESSING));
        assert!(!is_true(&second, READY));
    }
}
