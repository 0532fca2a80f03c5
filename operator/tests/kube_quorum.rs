//! Mocked API server tests of KRaft voter changes on the kube runtime (issue 17 item 2,
//! KIP-853): `spec.controllers` 3 -> 5 creates one controller pod (with its claim and
//! ConfigMap: the initial voters plus `controller.quorum.bootstrap.servers`), sends
//! AddRaftVoter with the pod's DNS name once it is Ready, and creates the next only once
//! DescribeQuorum lists it; 5 -> 3 sends RemoveRaftVoter first (the active controller
//! last) and deletes the pod and its claim only once the voter has left; 1 -> 3 grows
//! the same way; a refused AddRaftVoter is a Warning Event. Initial voters (those the
//! quorum was formed with) leave like any other on the current build (5 -> 3 formed
//! with 5, 3 -> 1), but stay, `Degraded` `VoterChangeBlocked`, while a release that
//! resolves every voter's DNS name at start (0.1.0, 0.2.0) runs. Each reconcile
//! here runs on a fresh runtime, as after an operator restart: every step is derived
//! from DescribeQuorum and the initial voters read back from a controller's ConfigMap,
//! so a restarted operator resumes, restarts nothing (no eviction) and skips nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::plan::AdminOp;
use tidewater_operator::quorum::seed_from_properties;
use tidewater_operator::validate::ValidatedCluster;

use mock::*;

const BROKERS: [&str; 3] = ["t-broker-0", "t-broker-1", "t-broker-2"];

fn spec(controllers: i32) -> Value {
    spec_at(controllers, OLD)
}

/// A release that resolves every initial voter's DNS name at start (it keeps them).
const OLD: &str = "0.1.0";
/// The current build: it resolves voters when connecting, so initial voters can leave.
const CURRENT: &str = "0.3.0";

fn spec_at(controllers: i32, version: &str) -> Value {
    json!({"version": version, "brokers": 3, "controllers": controllers})
}

/// The ConfigMap of controller 1000 as the operator wrote it when the cluster was
/// formed with 3 brokers and `formed` controllers: the initial voters every node keeps
/// listing.
fn formed_config(formed: i32) -> Value {
    config_map(
        &validated(&cluster_json(spec(formed), &[FINALIZER], false)),
        3,
    )
}

/// `controllers` controllers on the quorum formed with `formed` controllers, as the
/// operator builds their objects during a voter change.
fn adopted(controllers: i32, formed: i32) -> ValidatedCluster {
    let mut c = validated(&cluster_json(spec(controllers), &[FINALIZER], false));
    let text = formed_config(formed)["data"]["server.properties"]
        .as_str()
        .unwrap()
        .to_owned();
    c.quorum_seed = seed_from_properties(&text);
    assert!(c.quorum_seed.is_some());
    c
}

/// The pods of brokers 0..2 and of `controllers` of a quorum formed with `formed`
/// controllers, Ready but those in `starting`.
fn pods(formed: i32, controllers: &[i32], starting: &[i32], version: &str) -> Vec<Value> {
    let mut c = adopted(5, formed);
    c.version = version.to_owned();
    c.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.id < 1000 || controllers.contains(&n.id))
        .map(|(i, n)| {
            let mut pod = ready_pod(&c, i);
            if starting.contains(&n.id) {
                pod["status"]["conditions"][0]["status"] = json!("False");
            }
            pod
        })
        .collect()
}

fn controller(id: i32) -> String {
    format!("t-controller-{id}")
}

/// Brokers 0..2 and controllers `ids` (pod names).
fn nodes(ids: &[i32]) -> Vec<String> {
    BROKERS
        .iter()
        .map(|b| (*b).to_owned())
        .chain(ids.iter().map(|id| controller(*id)))
        .collect()
}

/// A healthy cluster whose quorum DescribeQuorum shows as `voters` led by `active`.
fn admin(voters: &[i32], active: i32) -> FixedAdmin {
    FixedAdmin {
        brokers: 3,
        quorum: Some((voters.to_vec(), active)),
        ..FixedAdmin::default()
    }
}

/// The objects before the pods: the ConfigMaps and claims of `ensured` (pod names),
/// both Services in between. Returns the ConfigMaps applied, by name.
async fn apply_nodes(v: &mut Verifier, ensured: &[String]) -> Vec<(String, Value)> {
    let mut maps = Vec::new();
    for n in ensured {
        let name = format!("{n}-config");
        let body = v.apply(&core("configmaps", &name)).await;
        maps.push((name, body));
    }
    let names: Vec<&str> = ensured.iter().map(String::as_str).collect();
    v.apply_services_and_claims(&[], &names).await;
    maps
}

fn properties(map: &Value) -> &str {
    map["data"]["server.properties"].as_str().unwrap()
}

fn quorum_resizing(status: &Value) -> (&str, &str, &str) {
    let c = cond(status, "QuorumResizing");
    (
        c["status"].as_str().unwrap(),
        c["reason"].as_str().unwrap(),
        c["message"].as_str().unwrap(),
    )
}

fn voters_in_status(status: &Value) -> Value {
    status["controller"]["voters"].clone()
}

#[tokio::test]
async fn growing_creates_one_joining_controller_and_holds_the_next() {
    let obj = cluster_json(spec(5), &[FINALIZER], false);
    let cluster = obj.clone();
    let admin = admin(&[1000, 1001, 1002], 1000);
    let ops = admin.ops.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods_with_seed(
            pods(3, &[1000, 1001, 1002], &[], OLD),
            Some(formed_config(3)),
        )
        .await;
        // Controller 1003's objects only: 1004 waits until 1003 is a voter.
        let maps = apply_nodes(&mut v, &nodes(&[1000, 1001, 1002, 1003])).await;
        let initial = properties(&formed_config(3))
            .lines()
            .find(|l| l.starts_with("controller.quorum.voters="))
            .unwrap()
            .to_owned();
        for (name, map) in &maps {
            let p = properties(map);
            // Every node keeps the initial voters (no revision changes, nothing
            // restarts); the spec's five controllers are the bootstrap servers.
            assert!(p.contains(&format!("{initial}\n")), "{name}: {p}");
            let bootstrap = p
                .lines()
                .find_map(|l| l.strip_prefix("controller.quorum.bootstrap.servers="))
                .unwrap_or_else(|| panic!("{name}: no bootstrap servers: {p}"));
            assert_eq!(bootstrap.split(',').count(), 5, "{name}: {bootstrap}");
            assert!(
                bootstrap.contains("t-controller-1004.t-brokers.kafka.svc:9093"),
                "{bootstrap}"
            );
        }
        let pod = v.apply(&core("pods", &controller(1003))).await;
        assert_eq!(pod["metadata"]["labels"]["tidewater.io/node-id"], "1003");
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        let status = v.status(&cluster).await;
        let (state, reason, message) = quorum_resizing(&status);
        assert_eq!((state, reason), ("True", "AddingVoter"), "{message}");
        assert!(message.contains("adding controller 1003"), "{message}");
        assert!(message.contains("waiting for it to start"), "{message}");
        assert_eq!(voters_in_status(&status), json!([1000, 1001, 1002]));
        v.done().await;
    })
    .await;
    // Nothing is asked of the quorum before the new controller serves.
    assert!(ops.lock().unwrap().is_empty());
}

fn add_1003() -> AdminOp {
    AdminOp::AddRaftVoter {
        id: 1003,
        endpoint: Some(("t-controller-1003.t-brokers.kafka.svc".to_owned(), 9093)),
    }
}

/// One reconcile of a voter change, as the API server and the quorum see it.
#[derive(Default)]
struct Step<'a> {
    /// The number of controllers the quorum was formed with (its initial voters).
    formed: i32,
    /// `spec.controllers`.
    controllers: i32,
    /// The voters DescribeQuorum shows, led by `active`.
    voters: &'a [i32],
    active: i32,
    /// Controller pods that exist (Ready but those in `starting`).
    running: &'a [i32],
    starting: &'a [i32],
    /// The controller whose pod (with its claim and ConfigMap) this step creates.
    created: Option<i32>,
    /// The controller that left the quorum: its pod and claim are deleted, its
    /// ConfigMap swept.
    removed: Option<i32>,
    /// The status before this reconcile.
    previous: Option<Value>,
    /// The reason of the Warning Event the step ends with, if any.
    warning: Option<&'static str>,
    /// `spec.version` and the version every pod runs; [`OLD`] when `None`.
    version: Option<&'a str>,
}

/// What a [`Step`] led to: the status written, the admin ops sent, the nodes
/// unregistered.
struct Outcome {
    status: Value,
    ops: Vec<AdminOp>,
    unregistered: Vec<i32>,
}

/// Runs `s` on a fresh runtime (as after an operator restart), asserting its exact
/// request sequence: no pod is evicted, only `created`'s pod is applied, only
/// `removed`'s pod and claim are deleted.
async fn reconcile(s: Step<'_>) -> Outcome {
    let version = s.version.unwrap_or(OLD);
    let mut obj = cluster_json(spec_at(s.controllers, version), &[FINALIZER], false);
    if let Some(p) = s.previous {
        obj["status"] = p;
    }
    let cluster = obj.clone();
    let admin = admin(s.voters, s.active);
    let (ops, unregistered) = (admin.ops.clone(), admin.unregistered.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pods = pods(s.formed, s.running, s.starting, version);
    let desired = 1000..1000 + s.controllers;
    // Desired controllers that exist or are created now get their objects applied;
    // the others the spec dropped keep their ConfigMaps while their pods stay.
    let mut ensured: Vec<i32> = s
        .running
        .iter()
        .copied()
        .chain(s.created)
        .filter(|id| desired.contains(id))
        .collect();
    ensured.sort_unstable();
    let config = |id: &i32| format!("{}-config", controller(*id));
    let held: Vec<String> = s
        .running
        .iter()
        .filter(|id| !desired.contains(*id) && s.removed != Some(**id))
        .map(config)
        .collect();
    let stale: Vec<String> = s.removed.iter().map(config).collect();
    let (created, removed, formed, warning) = (s.created, s.removed, s.formed, s.warning);
    drive(obj, admin, move |mut v| async move {
        v.list_pods_with_seed(pods, Some(formed_config(formed)))
            .await;
        apply_nodes(&mut v, &nodes(&ensured)).await;
        if let Some(id) = created {
            v.apply(&core("pods", &controller(id))).await;
        }
        v.apply(&pdb_path()).await;
        if let Some(id) = removed {
            v.delete(&core("pods", &controller(id))).await;
            let claim = format!("data-{}", controller(id));
            v.delete(&core("persistentvolumeclaims", &claim)).await;
        }
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        v.sweep_orphans_keeping(&held, &stale).await;
        if created.is_some() {
            v.event("NodeCreated").await;
        }
        if removed.is_some() {
            v.event("NodeRemoved").await;
        }
        if let Some(reason) = warning {
            v.event(reason).await;
        }
        tx.send(v.status(&cluster).await).unwrap();
        v.done().await;
    })
    .await;
    let ops = ops.lock().unwrap().clone();
    let unregistered = unregistered.lock().unwrap().clone();
    Outcome {
        status: rx.await.unwrap(),
        ops,
        unregistered,
    }
}

/// A reconcile of `spec.controllers: 5` on a quorum of `voters` led by 1000.
async fn grow_step(
    voters: &[i32],
    running: &[i32],
    starting: &[i32],
    created: Option<i32>,
) -> (Value, Vec<AdminOp>) {
    let out = reconcile(Step {
        formed: 3,
        controllers: 5,
        voters,
        active: 1000,
        running,
        starting,
        created,
        ..Step::default()
    })
    .await;
    (out.status, out.ops)
}

#[tokio::test]
async fn a_ready_joining_controller_is_added_with_its_pods_dns_name() {
    let (status, ops) = grow_step(&[1000, 1001, 1002], &[1000, 1001, 1002, 1003], &[], None).await;
    assert_eq!(ops, [add_1003()]);
    let (state, reason, message) = quorum_resizing(&status);
    assert_eq!((state, reason), ("True", "AddingVoter"), "{message}");
    assert!(message.contains("AddRaftVoter sent"), "{message}");
    assert_eq!(cond(&status, "Progressing")["reason"], "QuorumResizing");
}

#[tokio::test]
async fn a_joining_controller_not_ready_yet_is_waited_for() {
    let running = [1000, 1001, 1002, 1003];
    let (status, ops) = grow_step(&[1000, 1001, 1002], &running, &[1003], None).await;
    assert!(ops.is_empty(), "{ops:?}");
    let (_, reason, message) = quorum_resizing(&status);
    assert_eq!(reason, "AddingVoter");
    assert!(message.contains("waiting for it to start"), "{message}");
}

/// An operator restarted mid-change has only what the cluster shows: after it sent
/// AddRaftVoter for 1003 and before DescribeQuorum listed it, it sends it again and
/// creates nothing more; once 1003 is listed, it creates 1004 (not sending 1003 again);
/// once 1004 serves, it adds it. No pod is evicted at any step.
#[tokio::test]
async fn a_restarted_operator_resumes_from_describe_quorum() {
    let three = [1000, 1001, 1002];
    let four = [1000, 1001, 1002, 1003];
    let five = [1000, 1001, 1002, 1003, 1004];
    let (_, ops) = grow_step(&three, &four, &[], None).await;
    assert_eq!(ops, [add_1003()]);
    let (status, ops) = grow_step(&four, &four, &[], Some(1004)).await;
    assert!(ops.is_empty(), "{ops:?}");
    let (_, reason, message) = quorum_resizing(&status);
    assert_eq!(reason, "AddingVoter");
    assert!(message.contains("adding controller 1004"), "{message}");
    assert_eq!(voters_in_status(&status), json!(four));
    let (_, ops) = grow_step(&four, &five, &[], None).await;
    assert_eq!(
        ops,
        [AdminOp::AddRaftVoter {
            id: 1004,
            endpoint: Some(("t-controller-1004.t-brokers.kafka.svc".to_owned(), 9093)),
        }]
    );
}

/// A reconcile of `spec.controllers: 3` on a quorum of `voters` led by `active`, with
/// controller pods `running`; `removed` left the quorum.
async fn shrink_step(
    voters: &[i32],
    active: i32,
    running: &[i32],
    removed: Option<i32>,
    previous: Option<Value>,
) -> (Value, Vec<AdminOp>, Vec<i32>) {
    let out = shrink_on(3, OLD, voters, active, running, removed, previous).await;
    (out.status, out.ops, out.unregistered)
}

/// [`shrink_step`] on a quorum formed with `formed` controllers, at `version`.
async fn shrink_on(
    formed: i32,
    version: &str,
    voters: &[i32],
    active: i32,
    running: &[i32],
    removed: Option<i32>,
    previous: Option<Value>,
) -> Outcome {
    reconcile(Step {
        formed,
        controllers: 3,
        voters,
        active,
        running,
        removed,
        previous,
        version: Some(version),
        ..Step::default()
    })
    .await
}

#[tokio::test]
async fn shrinking_removes_a_voter_before_its_pod_and_the_active_controller_last() {
    let five = [1000, 1001, 1002, 1003, 1004];
    // 1004 leads: 1003 leaves first, and both pods stay while they vote.
    let (status, ops, _) = shrink_step(&five, 1004, &five, None, None).await;
    assert_eq!(ops, [AdminOp::RemoveRaftVoter(1003)]);
    let (state, reason, message) = quorum_resizing(&status);
    assert_eq!((state, reason), ("True", "RemovingVoter"), "{message}");
    assert!(message.contains("removing controller 1003"), "{message}");

    // 1003 has left: its pod and claim go (its metadata log must not come back), and
    // RemoveRaftVoter of the active controller follows. A controller never registered
    // as a broker: nothing is unregistered.
    let left = [1000, 1001, 1002, 1004];
    let (status, ops, unregistered) = shrink_step(&left, 1004, &five, Some(1003), None).await;
    assert_eq!(ops, [AdminOp::RemoveRaftVoter(1004)]);
    assert!(unregistered.is_empty(), "{unregistered:?}");
    let (_, reason, message) = quorum_resizing(&status);
    assert_eq!(reason, "RemovingVoter");
    assert!(
        message.contains("removing controller 1004") && message.contains("active controller"),
        "{message}"
    );

    // 1004 has left too (a new leader among the three): its pod and claim go, and the
    // condition turns False naming the voters.
    let (status, ops, unregistered) =
        shrink_step(&[1000, 1001, 1002], 1001, &left, Some(1004), Some(status)).await;
    assert!(ops.is_empty(), "{ops:?}");
    assert!(unregistered.is_empty(), "{unregistered:?}");
    let (state, reason, message) = quorum_resizing(&status);
    assert_eq!((state, reason), ("False", "VotersMatchSpec"), "{message}");
    assert_eq!(voters_in_status(&status), json!([1000, 1001, 1002]));
}

/// Without the voters the nodes were started with (the ConfigMap they are read from is
/// gone), a new controller would be formatted against the wrong quorum: nothing is
/// created, removed or asked of the quorum, and `Degraded` says why.
#[tokio::test]
async fn without_the_initial_voters_the_voter_set_does_not_change() {
    let obj = cluster_json(spec(5), &[FINALIZER], false);
    let cluster = obj.clone();
    let admin = admin(&[1000, 1001, 1002], 1000);
    let ops = admin.ops.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods_with_seed(pods(3, &[1000, 1001, 1002], &[], OLD), None)
            .await;
        // Only the cluster-wide objects: no node's ConfigMap, claim or pod.
        v.apply_services_and_claims(&[], &[]).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("VoterChangeBlocked").await;
        let status = v.status(&cluster).await;
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["reason"], "VoterChangeBlocked");
        let message = degraded["message"].as_str().unwrap();
        assert!(message.contains("ConfigMap"), "{message}");
        v.done().await;
    })
    .await;
    assert!(ops.lock().unwrap().is_empty());
}

/// AddRaftVoter answered with an error (the controller timed out promoting a voter
/// still catching up) is a Warning Event, as on the local runtime, and the step
/// stays where it is: the next reconcile sends it again.
#[tokio::test]
async fn a_refused_add_raft_voter_is_a_warning_event_and_asked_again() {
    let obj = cluster_json(spec(5), &[FINALIZER], false);
    let cluster = obj.clone();
    let admin = FixedAdmin {
        refusal: Some((7, "the new voter has not caught up".to_owned())),
        ..admin(&[1000, 1001, 1002], 1000)
    };
    let ops = admin.ops.clone();
    drive(obj, admin, move |mut v| async move {
        let four = [1000, 1001, 1002, 1003];
        v.list_pods_with_seed(pods(3, &four, &[], OLD), Some(formed_config(3)))
            .await;
        apply_nodes(&mut v, &nodes(&four)).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        let note = v.event("AdminOperationFailed").await;
        assert!(note.contains("AddRaftVoter"), "{note}");
        assert!(note.contains("has not caught up"), "{note}");
        let status = v.status(&cluster).await;
        assert_eq!(quorum_resizing(&status).1, "AddingVoter");
        v.done().await;
    })
    .await;
    assert_eq!(*ops.lock().unwrap(), [add_1003()]);
}

/// 1 -> 3 controllers: the single voter's quorum grows the same way, one joining
/// controller at a time, every node keeping the one initial voter.
#[tokio::test]
async fn one_controller_grows_to_three_one_voter_at_a_time() {
    const ONE: &[i32] = &[1000];
    let step = |voters: &'static [i32], running: &'static [i32], created| Step {
        formed: 1,
        controllers: 3,
        voters,
        active: 1000,
        running,
        created,
        ..Step::default()
    };
    let out = reconcile(step(ONE, ONE, Some(1001))).await;
    assert!(out.ops.is_empty(), "{:?}", out.ops);
    let (_, reason, message) = quorum_resizing(&out.status);
    assert_eq!(reason, "AddingVoter");
    assert!(
        message.contains("adding controller 1001 to the KRaft voters [1000]"),
        "{message}"
    );
    let out = reconcile(step(ONE, &[1000, 1001], None)).await;
    assert_eq!(
        out.ops,
        [AdminOp::AddRaftVoter {
            id: 1001,
            endpoint: Some(("t-controller-1001.t-brokers.kafka.svc".to_owned(), 9093)),
        }]
    );
    let out = reconcile(step(&[1000, 1001], &[1000, 1001], Some(1002))).await;
    assert!(out.ops.is_empty(), "{:?}", out.ops);
    assert_eq!(voters_in_status(&out.status), json!([1000, 1001]));
}

/// 5 -> 3 on a quorum formed with 5 controllers, all running the current build (it
/// resolves a voter's DNS name when connecting, so a deleted pod is an unreachable
/// voter, not a node that cannot start): initial voters leave like any other, one at
/// a time, the active controller last, each pod (and claim) deleted only once
/// DescribeQuorum no longer lists it. Nothing is held back: no `Degraded`.
#[tokio::test]
async fn initial_voters_are_removed_one_at_a_time_when_every_node_resolves_voters_lazily() {
    const FIVE: &[i32] = &[1000, 1001, 1002, 1003, 1004];
    const FOUR: &[i32] = &[1000, 1001, 1002, 1003];
    const THREE: &[i32] = &[1000, 1001, 1002];
    // 1003 leads: 1004 leaves first, its pod stays while it votes.
    let out = shrink_on(5, CURRENT, FIVE, 1003, FIVE, None, None).await;
    assert_eq!(out.ops, [AdminOp::RemoveRaftVoter(1004)]);
    assert!(
        cond(&out.status, "Degraded")["status"] != "True",
        "{}",
        out.status
    );
    let (state, reason, message) = quorum_resizing(&out.status);
    assert_eq!((state, reason), ("True", "RemovingVoter"), "{message}");
    assert!(message.contains("removing controller 1004"), "{message}");

    // 1004 has left: its pod and claim go; the active controller 1003 is next.
    let out = shrink_on(5, CURRENT, FOUR, 1003, FIVE, Some(1004), None).await;
    assert_eq!(out.ops, [AdminOp::RemoveRaftVoter(1003)]);
    let (_, reason, message) = quorum_resizing(&out.status);
    assert_eq!(reason, "RemovingVoter");
    assert!(
        message.contains("removing controller 1003") && message.contains("active controller"),
        "{message}"
    );

    // 1003 has left (1000 leads now): its pod and claim go, the voters match the spec.
    let out = shrink_on(5, CURRENT, THREE, 1000, FOUR, Some(1003), Some(out.status)).await;
    assert!(out.ops.is_empty(), "{:?}", out.ops);
    let (state, reason, message) = quorum_resizing(&out.status);
    assert_eq!((state, reason), ("False", "VotersMatchSpec"), "{message}");
    assert_eq!(voters_in_status(&out.status), json!(THREE));
}

/// A reconcile of `spec.controllers: 1` on the quorum of 1000, 1001 and 1002 (its
/// initial voters, 1000 leading), every pod at `version`.
async fn three_to_one(version: &str, warning: Option<&'static str>) -> Outcome {
    const THREE: &[i32] = &[1000, 1001, 1002];
    reconcile(Step {
        formed: 3,
        controllers: 1,
        voters: THREE,
        active: 1000,
        running: THREE,
        warning,
        version: Some(version),
        ..Step::default()
    })
    .await
}

/// 3 -> 1 while the cluster runs 0.1.0, a release that resolves every initial voter's
/// DNS name when it starts (up to two minutes, then it fails): deleting the pods of
/// 1001 or 1002 would leave its nodes crash-looping at their next restart. So no
/// RemoveRaftVoter is sent, both pods (and ConfigMaps) stay, and `Degraded`
/// (`VoterChangeBlocked`) says why and what to do.
#[tokio::test]
async fn an_initial_voter_is_not_removed_while_a_release_resolving_voters_at_start_runs() {
    let out = three_to_one(OLD, Some("VoterChangeBlocked")).await;
    assert!(out.ops.is_empty(), "{:?}", out.ops);
    let degraded = cond(&out.status, "Degraded");
    assert_eq!(degraded["reason"], "VoterChangeBlocked");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains("controller 1002 is not removed")
            && message.contains("broker version 0.1.0")
            && message.contains("set spec.controllers back to 3 or more"),
        "{message}"
    );
    let (state, reason, resizing) = quorum_resizing(&out.status);
    assert_eq!((state, reason), ("True", "RemovingVoter"));
    assert_eq!(resizing, message);
}

/// 3 -> 1 on the current build: 1002, an initial voter, is removed (RemoveRaftVoter
/// only; its pod stays while it votes).
#[tokio::test]
async fn three_to_one_on_the_current_build_removes_an_initial_voter() {
    let out = three_to_one(CURRENT, None).await;
    assert_eq!(out.ops, [AdminOp::RemoveRaftVoter(1002)]);
    let (_, reason, message) = quorum_resizing(&out.status);
    assert_eq!(reason, "RemovingVoter", "{message}");
}
