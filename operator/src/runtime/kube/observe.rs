//! What a Pod says about its node: readiness, the revision and version it runs, and the
//! problems that waiting alone will not fix — reported as [`ObservedNode::problem`] so
//! the planner can stop a roll onto a version that never gets ready (`UpgradeStalled`)
//! and status can name the cause. Pure: the clock and the Kafka view are inputs.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::build::{self, REVISION_ANNOTATION};
use crate::observed::ObservedNode;
use crate::validate::ValidatedCluster;

/// How long a broker container may run without registering with the controller quorum
/// before that is a problem: the startup probe's whole budget (60 × 5 s), so a broker
/// recovering a large log is not called stuck before the kubelet would call it so.
pub const NOT_REGISTERING_AFTER_SECONDS: i64 = 300;

/// Waiting reasons of a container that will not start by itself: the kubelet backs off
/// (crash loop, image pull) or cannot build the container at all.
const STUCK_WAITING: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// A pod as an observed node: readiness from the `Ready` condition; problems from
/// scheduling (`Unschedulable`: typically a zone without schedulable nodes) and from
/// containers stuck waiting (crash loop, image pull back-off).
pub fn observe_pod(c: &ValidatedCluster, pod: &Pod) -> ObservedNode {
    let status = pod.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let ready = conditions
        .iter()
        .any(|k| k.type_ == "Ready" && k.status == "True");
    let unschedulable = conditions.iter().find(|k| {
        k.type_ == "PodScheduled"
            && k.status == "False"
            && k.reason.as_deref() == Some("Unschedulable")
    });
    let zone = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .and_then(|s| s.node_selector_terms.first())
        .and_then(|t| t.match_expressions.as_ref())
        .and_then(|e| e.first())
        .and_then(|e| e.values.as_ref())
        .and_then(|v| v.first().cloned());
    // Init containers first: `format` refusing a log dir of another cluster or node
    // (the broker's own check) keeps the pod in Init:CrashLoopBackOff, and an image that
    // cannot be pulled shows on `format` (same image) before the broker container.
    let stuck = status.and_then(|s| {
        let init = s.init_container_statuses.iter().flatten();
        init.chain(s.container_statuses.iter().flatten())
            .find_map(stuck_waiting)
    });
    let problem = match (unschedulable, zone, stuck) {
        (Some(k), Some(zone), _) => Some((
            "ZoneUnschedulable".to_owned(),
            format!(
                "zone {zone} ({}) has no schedulable node: {}",
                c.topology_key.as_deref().unwrap_or_default(),
                k.message.clone().unwrap_or_default()
            ),
        )),
        (Some(k), None, _) => Some((
            "Unschedulable".to_owned(),
            k.message.clone().unwrap_or_default(),
        )),
        (None, _, Some(p)) => Some(p),
        (None, _, None) => None,
    };
    ObservedNode {
        name: pod.name_any(),
        revision: pod.annotations().get(REVISION_ANNOTATION).cloned(),
        version: pod
            .labels()
            .get(build::pod::VERSION_LABEL)
            .cloned()
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|k| k.image.as_ref())
                    .and_then(|i| i.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
            }),
        ready,
        problem,
    }
}

/// `(reason, message)` of a container stuck waiting: `container X is crash-looping (N
/// restarts)` with the last termination message (the tail of its log under
/// `FallbackToLogsOnError`) when the kubelet kept one; the kubelet's own message for an
/// image that cannot be pulled or a container that cannot be created.
fn stuck_waiting(cs: &ContainerStatus) -> Option<(String, String)> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    let reason = w.reason.as_deref()?;
    if !STUCK_WAITING.contains(&reason) {
        return None;
    }
    if reason != "CrashLoopBackOff" {
        let mut out = format!("container {} is waiting ({reason})", cs.name);
        if let Some(m) = w
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            out.push_str(": ");
            out.push_str(&m.chars().take(500).collect::<String>());
        }
        return Some((reason.to_owned(), out));
    }
    let last = cs
        .last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .and_then(|t| t.message.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let mut out = format!(
        "container {} is crash-looping ({} restarts)",
        cs.name, cs.restart_count
    );
    if let Some(m) = last {
        out.push_str(": ");
        out.push_str(&m.chars().take(500).collect::<String>());
    }
    Some((reason.to_owned(), out))
}

/// Seconds the pod's broker container has been running (none when it is not running).
pub fn running_seconds(pod: &Pod, now: Timestamp) -> Option<i64> {
    let started = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|s| s.name == "broker")?
        .state
        .as_ref()?
        .running
        .as_ref()?
        .started_at
        .as_ref()?;
    Some(now.duration_since(started.0).as_secs())
}

/// `NotRegistering` for a broker that has run for [`NOT_REGISTERING_AFTER_SECONDS`]
/// without getting ready while the brokers' metadata (read through the others) does not
/// list it: a build that cannot join the cluster (an unsupported `metadata.version`, a
/// quorum it cannot reach). Only when metadata was read: an unreadable cluster says
/// nothing about one broker.
pub fn not_registering(
    node: &ObservedNode,
    id: i32,
    running: Option<i64>,
    registered: Option<&BTreeSet<i32>>,
) -> Option<(String, String)> {
    let running = running?;
    let registered = registered?;
    if node.ready
        || node.problem.is_some()
        || running < NOT_REGISTERING_AFTER_SECONDS
        || registered.contains(&id)
    {
        return None;
    }
    Some((
        "NotRegistering".to_owned(),
        format!(
            "broker {id} has run for {running} s without registering with the controller quorum"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: bool) -> ObservedNode {
        ObservedNode {
            name: "t-broker-1".into(),
            ready,
            ..ObservedNode::default()
        }
    }

    #[test]
    fn a_broker_running_long_unregistered_and_unready_is_not_registering() {
        let registered = BTreeSet::from([0, 2]);
        let p = not_registering(&node(false), 1, Some(301), Some(&registered)).unwrap();
        assert_eq!(p.0, "NotRegistering");
        assert!(p.1.contains("broker 1"), "{}", p.1);
        // Too early, registered, ready, or metadata unreadable: no problem.
        assert!(not_registering(&node(false), 1, Some(299), Some(&registered)).is_none());
        assert!(not_registering(&node(false), 0, Some(301), Some(&registered)).is_none());
        assert!(not_registering(&node(true), 1, Some(301), Some(&registered)).is_none());
        assert!(not_registering(&node(false), 1, Some(301), None).is_none());
        assert!(not_registering(&node(false), 1, None, Some(&registered)).is_none());
    }

    #[test]
    fn an_image_that_cannot_be_pulled_is_a_problem_naming_the_reason() {
        let cs: ContainerStatus = serde_json::from_value(serde_json::json!({
            "name": "format", "image": "x:0.9.9", "imageID": "", "ready": false,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"x:0.9.9\""}}
        }))
        .unwrap();
        let (reason, message) = stuck_waiting(&cs).unwrap();
        assert_eq!(reason, "ImagePullBackOff");
        assert!(message.contains("x:0.9.9"), "{message}");
        let fine: ContainerStatus = serde_json::from_value(serde_json::json!({
            "name": "broker", "image": "x", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}
        }))
        .unwrap();
        assert!(stuck_waiting(&fine).is_none());
    }
}
