//! Mocked API server tests of the roll on the kube runtime (issue 11, items 7 and 9):
//! the exact request sequence of one roll step (one pod evicted through the Eviction
//! API, never deleted; no node's new ConfigMap written before its turn), a refusal by the
//! PodDisruptionBudget (429: no other request, status says the roll waits), the next
//! steps of a config roll, a version whose image cannot be pulled (`UpgradeStalled`), a
//! broker that is gone and keeps a partition below min.insync.replicas (no eviction,
//! RollBlocked), and a refused downgrade.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::observed::PartitionView;

use mock::*;

fn partition(p: i32, isr: &[i32]) -> PartitionView {
    PartitionView {
        topic: "orders".into(),
        partition: p,
        leader: isr[0],
        replicas: vec![0, 1, 2],
        isr: isr.to_vec(),
        min_insync: 2,
    }
}

/// `pod` with the uid the API server gave it.
fn with_uid(mut pod: Value, i: usize) -> Value {
    pod["metadata"]["uid"] = json!(uid(i));
    pod
}

fn uid(i: usize) -> String {
    format!("00000000-0000-0000-0000-00000000000{i}")
}

const PODS: [&str; 3] = ["t-broker-0", "t-broker-1", "t-broker-2"];

/// Three ready pods of 0.1.0 and the spec at 0.2.0.
fn upgrade() -> (Value, Vec<Value>) {
    let old = cluster_json(
        json!({"version": "0.1.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    let old_valid = validated(&old);
    let pods = (0..3)
        .map(|i| with_uid(ready_pod(&old_valid, i), i))
        .collect();
    let mut obj = cluster_json(
        json!({"version": "0.2.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    obj["status"] = json!({"version": "0.1.0", "metadataVersion": "3.9-IV0"});
    (obj, pods)
}

/// Every object but the ConfigMaps of nodes whose pods run an older revision: those are
/// written at each node's turn.
async fn apply_all_but_stale_configs(v: &mut Verifier, configs: &[&str]) {
    v.apply_services_and_claims(configs, &PODS).await;
    v.apply(&pdb_path()).await;
}

/// One reconcile that restarts nothing: every object applied, no pod deleted, one
/// Warning Event `reason`; returns the status written.
async fn held_back(mut v: Verifier, pods: Vec<Value>, reason: &str, cluster: &Value) -> Value {
    v.list_pods(pods).await;
    // Every pod runs an older revision: no ConfigMap is written ahead of the roll.
    apply_all_but_stale_configs(&mut v, &[]).await;
    v.sweep_orphans(&[]).await;
    v.event(reason).await;
    let status = v.status(cluster).await;
    v.done().await;
    status
}

fn healthy_admin() -> FixedAdmin {
    FixedAdmin {
        brokers: 3,
        partitions: (0..3).map(|p| partition(p, &[0, 1, 2])).collect(),
        ..FixedAdmin::default()
    }
}

#[tokio::test]
async fn one_roll_step_evicts_exactly_one_pod_and_writes_no_config_ahead() {
    let (obj, pods) = upgrade();
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        apply_all_but_stale_configs(&mut v, &[]).await;
        // Broker 0 is the active controller: broker 1 goes first, by eviction (the
        // budget decides), of exactly the pod observed.
        let eviction = v.evict("t-broker-1").await;
        assert_eq!(
            eviction["deleteOptions"]["preconditions"]["uid"],
            uid(1),
            "{eviction}"
        );
        v.sweep_orphans(&[]).await;
        v.event("NodeRestarting").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "RollingRestart");
        assert_eq!(status["upgrade"]["from"], "0.1.0");
        assert_eq!(status["upgrade"]["to"], "0.2.0");
        assert_eq!(status["upgrade"]["phase"], "Rolling");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_disruption_budget_refusal_waits_without_any_other_request() {
    let (obj, pods) = upgrade();
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        apply_all_but_stale_configs(&mut v, &[]).await;
        let refusal = failure(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        v.evict_with("t-broker-1", refusal).await;
        // No retry, no DELETE, no orphan sweep, no NodeRestarting Event: only status.
        let status = v.status(&cluster).await;
        assert_condition(
            &status,
            "Progressing",
            "WaitingForDisruptionBudget",
            &["t-broker-1", "t-kafka", "disruption budget"],
        );
        assert_eq!(cond(&status, "Ready")["status"], "False");
        assert_eq!(status["upgrade"]["phase"], "Rolling");
        v.done().await;
    })
    .await;
}

/// Pods on `num.partitions=1`, the spec on 2: `fresh` pods already run the new revision
/// (ready), `gone` ones were evicted and are gone, the rest run the old one.
fn config_roll(fresh: &[usize], gone: &[usize]) -> (Value, Vec<Value>) {
    let spec = |n: i32| json!({"version": "0.2.0", "brokers": 3, "config": {"num.partitions": n}});
    let old = validated(&cluster_json(spec(1), &[FINALIZER], false));
    let obj = cluster_json(spec(2), &[FINALIZER], false);
    let new = validated(&obj);
    let pods = (0..3)
        .filter(|i| !gone.contains(i))
        .map(|i| {
            let from = if fresh.contains(&i) { &new } else { &old };
            with_uid(ready_pod(from, i), i)
        })
        .collect();
    (obj, pods)
}

fn partitions_of(cm: &Value) -> &str {
    let props = cm["data"]["server.properties"].as_str().unwrap();
    props
        .lines()
        .find_map(|l| l.strip_prefix("num.partitions="))
        .unwrap()
}

#[tokio::test]
async fn a_nodes_new_config_is_written_only_at_its_turn() {
    // Step 1: every pod runs the old config; only node 1's pod is evicted, and no
    // ConfigMap changes (a container restart would read it ahead of the roll).
    let (obj, pods) = config_roll(&[], &[]);
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        apply_all_but_stale_configs(&mut v, &[]).await;
        v.evict("t-broker-1").await;
        v.sweep_orphans(&[]).await;
        v.event("NodeRestarting").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
    // Step 2: node 1's pod is gone: its ConfigMap is written with the new config
    // before its pod is created; nodes 0 and 2 keep theirs; nothing is evicted until
    // node 1 is ready.
    let (obj, pods) = config_roll(&[], &[1]);
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        let cm = v.apply(&core("configmaps", "t-broker-1-config")).await;
        assert_eq!(partitions_of(&cm), "2");
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        for p in PODS {
            v.apply(&core("persistentvolumeclaims", &format!("data-{p}")))
                .await;
        }
        v.apply(&core("pods", "t-broker-1")).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
    // Step 3: node 1 is back on the new revision: its config stays as it is (written
    // again, unchanged), node 2 is next and still gets no new config before its pod goes.
    let (obj, pods) = config_roll(&[1], &[]);
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        apply_all_but_stale_configs(&mut v, &["t-broker-1"]).await;
        v.evict("t-broker-2").await;
        v.sweep_orphans(&[]).await;
        v.event("NodeRestarting").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_new_version_whose_image_cannot_be_pulled_stalls_the_roll() {
    let (obj, mut pods) = upgrade();
    // Node 1 was rolled onto 0.2.0, whose image cannot be pulled.
    let new = validated(&obj);
    let mut stuck = with_uid(ready_pod(&new, 1), 1);
    stuck["status"] = json!({
        "phase": "Pending",
        "conditions": [{"type": "Ready", "status": "False"}],
        "initContainerStatuses": [{"name": "format", "image": "img:0.2.0", "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"img:0.2.0\""}}}]
    });
    pods[1] = stuck;
    let cluster = obj.clone();
    drive(obj, healthy_admin(), move |mut v| async move {
        v.list_pods(pods).await;
        // Node 1's pod runs its desired revision: its config is current.
        apply_all_but_stale_configs(&mut v, &["t-broker-1"]).await;
        // No eviction: nodes 0 and 2 wait for node 1.
        v.sweep_orphans(&[]).await;
        v.event("UpgradeStalled").await;
        let status = v.status(&cluster).await;
        assert_condition(
            &status,
            "Degraded",
            "UpgradeStalled",
            &["node 1", "ImagePullBackOff", "0.1.0"],
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_gone_broker_blocks_the_roll_without_any_delete() {
    let (obj, pods) = upgrade();
    // Broker 2 is fenced (not registered) and out of the ISR of orders-1: restarting
    // broker 1 would leave orders-1 with one in-sync replica.
    let admin = FixedAdmin {
        brokers: 3,
        registered: Some(vec![0, 1]),
        partitions: vec![partition(0, &[0, 1, 2]), partition(1, &[1, 0])],
        ..FixedAdmin::default()
    };
    let cluster = obj.clone();
    drive(obj, admin, move |v| async move {
        let status = held_back(v, pods, "RollBlocked", &cluster).await;
        let progressing = assert_condition(&status, "Progressing", "RollBlocked", &["orders-1"]);
        assert_eq!(progressing["status"], "False");
    })
    .await;
}

#[tokio::test]
async fn a_downgrade_after_the_finalize_is_refused_without_any_delete() {
    let new = cluster_json(
        json!({"version": "0.2.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    let new_valid = validated(&new);
    let pods: Vec<Value> = (0..3).map(|i| ready_pod(&new_valid, i)).collect();
    let mut obj = cluster_json(
        json!({"version": "0.1.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    obj["status"] = json!({"version": "0.2.0", "metadataVersion": "4.0-IV3"});
    let admin = FixedAdmin {
        brokers: 3,
        partitions: vec![partition(0, &[0, 1, 2])],
        ..FixedAdmin::default()
    };
    let cluster = obj.clone();
    drive(obj, admin, move |v| async move {
        let status = held_back(v, pods, "DowngradeBlocked", &cluster).await;
        assert_condition(&status, "Degraded", "DowngradeBlocked", &["4.0-IV3"]);
    })
    .await;
}
