use super::*;
use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
use crate::plan::plan;
use crate::render::parse_cluster;
use crate::validate::validate;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

fn at(s: i64) -> Time {
    Time(Timestamp::from_second(s).unwrap())
}

fn valid(brokers: i32) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\n  generation: 2\nspec:\n  version: 0.1.0\n  brokers: {brokers}\n  rack:\n    zones: [a]\n"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn observed(ready: &[bool], admin: Option<Result<AdminSnapshot, AdminError>>) -> Observed {
    Observed {
        nodes: ready
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i32::try_from(i).unwrap(),
                    ObservedNode {
                        name: format!("t-broker-{i}"),
                        revision: Some("r".into()),
                        version: Some("0.1.0".into()),
                        ready: *r,
                        problem: None,
                    },
                )
            })
            .collect(),
        admin,
    }
}

fn healthy(n: i32) -> Option<Result<AdminSnapshot, AdminError>> {
    Some(Ok(AdminSnapshot {
        registered: (0..n).collect(),
        controller: Some(0),
        ..AdminSnapshot::default()
    }))
}

/// `n` nodes all ready, and a Kafka view of `n` registered brokers.
fn all_ready(n: i32) -> Observed {
    let ready = vec![true; usize::try_from(n).unwrap()];
    observed(&ready, healthy(n))
}

fn run(
    c: &ValidatedCluster,
    obs: &Observed,
    prev: Option<&KafkaClusterStatus>,
    t: i64,
) -> KafkaClusterStatus {
    let revs: BTreeMap<i32, String> = c.nodes.iter().map(|n| (n.id, "r".to_owned())).collect();
    let p = plan(c, &revs, obs);
    compute(
        &Inputs {
            cluster: c,
            observed: obs,
            plan: &p,
            previous: prev,
            bootstrap_servers: "b:9092".into(),
            listeners: Vec::new(),
            cluster_id: "id".into(),
            claim_conflicts: &[],
        },
        &at(t),
    )
}

fn condition<'a>(s: &'a KafkaClusterStatus, t: &str) -> &'a Condition {
    s.conditions.iter().find(|c| c.type_ == t).unwrap()
}

fn cond<'a>(s: &'a KafkaClusterStatus, t: &str) -> (&'a str, &'a str) {
    let c = condition(s, t);
    (c.status.as_str(), c.reason.as_str())
}

fn message<'a>(s: &'a KafkaClusterStatus, t: &str) -> &'a str {
    &condition(s, t).message
}

#[test]
fn creating_then_ready() {
    let c = valid(3);
    let s1 = run(&c, &Observed::default(), None, 10);
    assert_eq!(cond(&s1, READY), ("False", "NodesNotReady"));
    assert_eq!(cond(&s1, PROGRESSING), ("True", "Creating"));
    assert_eq!(cond(&s1, DEGRADED), ("False", "AsExpected"));
    let s2 = run(&c, &all_ready(3), Some(&s1), 20);
    assert_eq!(cond(&s2, READY), ("True", "Ready"));
    assert_eq!(cond(&s2, PROGRESSING), ("False", "Reconciled"));
    assert_eq!(s2.observed_generation, Some(2));
    assert_eq!(s2.version.as_deref(), Some("0.1.0"));
    assert_eq!(s2.controller.as_ref().unwrap().active_id, Some(0));
    assert_eq!(s2.brokers.len(), 3);
    assert_eq!(s2.brokers[0].rack.as_deref(), Some("a"));
    assert_eq!(s2.bootstrap_servers.as_deref(), Some("b:9092"));
    // Degraded stayed False throughout: its transition time did not move.
    let (d1, d2) = (condition(&s1, DEGRADED), condition(&s2, DEGRADED));
    assert_eq!(d1.last_transition_time, d2.last_transition_time);
}

#[test]
fn losing_a_ready_broker_is_degraded_and_recovering_is_ready() {
    let c = valid(3);
    let ok = run(&c, &all_ready(3), None, 10);
    let lost = run(
        &c,
        &observed(&[true, false, true], healthy(3)),
        Some(&ok),
        20,
    );
    assert_eq!(cond(&lost, DEGRADED), ("True", "NodesNotReady"));
    assert_eq!(cond(&lost, READY), ("False", "NodesNotReady"));
    let back = run(&c, &all_ready(3), Some(&lost), 30);
    assert_eq!(cond(&back, DEGRADED), ("False", "AsExpected"));
    assert_eq!(cond(&back, READY), ("True", "Ready"));
}

#[test]
fn runtime_problems_name_the_node() {
    let c = valid(1);
    let mut obs = observed(&[false], healthy(1));
    obs.nodes.get_mut(&0).unwrap().problem =
        Some(("ZoneUnschedulable".into(), "zone a has no node".into()));
    let s = run(&c, &obs, None, 1);
    assert_eq!(cond(&s, DEGRADED), ("True", "ZoneUnschedulable"));
    let msg = message(&s, DEGRADED);
    assert!(msg.contains("node 0") && msg.contains("zone a"), "{msg}");
}

#[test]
fn ready_needs_registration_and_healthy_partitions() {
    let c = valid(2);
    let obs = |admin| observed(&[true, true], Some(admin));
    let unregistered = Ok(AdminSnapshot {
        registered: [0].into(),
        ..AdminSnapshot::default()
    });
    assert_eq!(
        cond(&run(&c, &obs(unregistered), None, 1), READY),
        ("False", "BrokersNotRegistered")
    );
    let urp = Ok(AdminSnapshot {
        registered: [0, 1].into(),
        under_replicated_partitions: 2,
        ..AdminSnapshot::default()
    });
    assert_eq!(
        cond(&run(&c, &obs(urp), None, 1), READY),
        ("False", "UnderReplicatedPartitions")
    );
    let offline = Ok(AdminSnapshot {
        registered: [0, 1].into(),
        offline_partitions: 1,
        ..AdminSnapshot::default()
    });
    let s = run(&c, &obs(offline), None, 1);
    assert_eq!(cond(&s, READY), ("False", "OfflinePartitions"));
    assert_eq!(cond(&s, DEGRADED), ("True", "OfflinePartitions"));
    assert_eq!(
        cond(
            &run(
                &c,
                &obs(Err(AdminError::Unreachable("refused".into()))),
                None,
                1
            ),
            READY
        ),
        ("False", "AdminUnavailable")
    );
}

#[test]
fn invalid_spec_keeps_everything_and_says_why() {
    let c = valid(1);
    let ok = run(&c, &all_ready(1), None, 10);
    let e = InvalidSpec(vec![crate::validate::FieldError {
        field: "spec.config.node.id".into(),
        message: "is set by the operator".into(),
    }]);
    let s = invalid(Some(&ok), Some(3), &e, &at(20));
    assert_eq!(cond(&s, DEGRADED), ("True", "InvalidSpec"));
    assert_eq!(cond(&s, READY), ("True", "Ready"));
    assert_eq!(s.brokers, ok.brokers);
    assert_eq!(s.observed_generation, Some(3));
    let msg = message(&s, DEGRADED);
    assert!(msg.contains("spec.config.node.id"), "{msg}");
    let fresh = invalid(None, Some(1), &e, &at(1));
    assert_eq!(cond(&fresh, READY), ("False", "InvalidSpec"));
}

#[test]
fn paused_sets_progressing_false() {
    let s = paused(None, Some(1), &at(1));
    assert_eq!(cond(&s, PROGRESSING), ("False", "Paused"));
}

#[test]
fn apply_failure_is_degraded_with_the_error() {
    let c = valid(1);
    let mut s = run(&c, &all_ready(1), None, 1);
    apply_failed(
        &mut s,
        "apply PersistentVolumeClaim data-t-broker-0: field is immutable",
        &at(2),
    );
    assert_eq!(cond(&s, DEGRADED), ("True", "ApplyFailed"));
    let msg = message(&s, DEGRADED);
    assert!(msg.contains("data-t-broker-0"), "{msg}");
}

#[test]
fn metadata_version_is_read_from_finalized_features() {
    let c = valid(1);
    let with_features = |features: &[(&str, i16)]| {
        let mut admin = healthy(1);
        if let Some(Ok(snapshot)) = admin.as_mut() {
            snapshot.finalized_features = features
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect();
        }
        observed(&[true], admin)
    };
    let known = run(
        &c,
        &with_features(&[("metadata.version", 21), ("kraft.version", 1)]),
        None,
        1,
    );
    assert_eq!(known.metadata_version.as_deref(), Some("3.9-IV0"));
    // A level newer than this operator knows is shown as the level, not dropped.
    let newer = run(&c, &with_features(&[("metadata.version", 99)]), None, 2);
    assert_eq!(newer.metadata_version.as_deref(), Some("99"));
    // The admin view unreadable for a moment: the last known version holds.
    let blind = run(
        &c,
        &observed(
            &[true],
            Some(Err(AdminError::Unreachable("refused".into()))),
        ),
        Some(&known),
        3,
    );
    assert_eq!(blind.metadata_version.as_deref(), Some("3.9-IV0"));
    // Brokers that report no metadata.version leave the field unset.
    let none = run(&c, &with_features(&[("kraft.version", 1)]), Some(&known), 4);
    assert_eq!(none.metadata_version, None);
    let fresh = run(&c, &all_ready(1), None, 5);
    assert_eq!(fresh.metadata_version, None);
    assert!(
        !serde_json::to_string(&fresh)
            .unwrap()
            .contains("metadataVersion"),
        "an unset field is omitted from the status object"
    );
}
