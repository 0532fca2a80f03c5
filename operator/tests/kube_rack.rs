//! Mocked API server tests of rack-parallel rolls on the kube runtime (issue 11, items
//! 6 and 9): a rack step narrows the cluster's PodDisruptionBudget to exactly the rack's
//! pods before it evicts them all, keeps it narrowed while they come back, and restores
//! the normal budget once they are Ready, derived from the budget and pods read back
//! (each reconcile here runs on a fresh runtime, as after an operator restart); a
//! refused eviction still reports `WaitingForDisruptionBudget`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::build::NODE_ID_LABEL;
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::observed::PartitionView;
use tidewater_operator::validate::ValidatedCluster;

use mock::*;

/// Brokers 0..6 over racks a, b, c (broker i in rack i mod 3), controllers 1000..1003.
const BROKERS: [&str; 6] = [
    "t-broker-0",
    "t-broker-1",
    "t-broker-2",
    "t-broker-3",
    "t-broker-4",
    "t-broker-5",
];
const CONTROLLERS: [&str; 3] = [
    "t-controller-1000",
    "t-controller-1001",
    "t-controller-1002",
];

fn spec(partitions: i32) -> Value {
    json!({"version": "0.2.0", "brokers": 6, "controllers": 3,
        "rack": {"zones": ["a", "b", "c"]}, "rollout": {"parallelRacks": true},
        "config": {"num.partitions": partitions}})
}

fn partition(p: i32, replicas: &[i32]) -> PartitionView {
    PartitionView {
        topic: "orders".into(),
        partition: p,
        leader: replicas[0],
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        min_insync: 2,
    }
}

/// RF 3, one replica per rack: any one rack can go.
fn admin() -> FixedAdmin {
    FixedAdmin {
        brokers: 6,
        partitions: vec![
            partition(0, &[0, 1, 2]),
            partition(1, &[3, 4, 5]),
            partition(2, &[1, 5, 3]),
        ],
        ..FixedAdmin::default()
    }
}

/// A config roll from `num.partitions=1` to 2: brokers in `fresh` already run the new
/// revision, those in `gone` have no pod, the rest run the old one; controllers run the
/// new one. Pods in node order (brokers, then controllers).
fn roll(fresh: &[usize], gone: &[usize]) -> (Value, Vec<Value>) {
    let old = validated(&cluster_json(spec(1), &[FINALIZER], false));
    let obj = cluster_json(spec(2), &[FINALIZER], false);
    let new = validated(&obj);
    let pods = (0..9)
        .filter(|i| !gone.contains(i))
        .map(|i| {
            let from: &ValidatedCluster = if i >= 6 || fresh.contains(&i) {
                &new
            } else {
                &old
            };
            ready_pod(from, i)
        })
        .collect();
    (obj, pods)
}

/// The budget as the operator narrowed it for the rack step of `ids`.
fn narrowed_budget(ids: &[i32]) -> Value {
    let listed: Vec<String> = ids.iter().map(i32::to_string).collect();
    let mut b = normal_budget(9);
    b["metadata"]["annotations"] = json!({"tidewater.io/rack-step": listed.join(",")});
    b["spec"]["minAvailable"] = json!(9 - ids.len());
    b["spec"]["selector"]["matchExpressions"] =
        json!([{"key": NODE_ID_LABEL, "operator": "NotIn", "values": listed}]);
    b
}

/// Every object before the pods: the ConfigMaps of `configs`, Services, claims.
async fn apply_configs_services_and_claims(v: &mut Verifier, configs: &[&str]) {
    let nodes: Vec<&str> = BROKERS.iter().chain(&CONTROLLERS).copied().collect();
    v.apply_services_and_claims(configs, &nodes).await;
}

/// The reads of a reconcile after rack b's step (the budget narrowed for brokers 1 and
/// 4), then the objects before the pods: rack b's and the controllers' ConfigMaps (the
/// other brokers still run the old revision).
async fn reads_back_rack_b_step(v: &mut Verifier, pods: Vec<Value>) {
    v.list_pods_with_budget(pods, Some(narrowed_budget(&[1, 4])))
        .await;
    let configs: Vec<&str> = ["t-broker-1", "t-broker-4"]
        .into_iter()
        .chain(CONTROLLERS)
        .collect();
    apply_configs_services_and_claims(v, &configs).await;
}

/// A rack step of brokers `ids` after the objects before the budget: the budget narrowed
/// to them first, then every one of them evicted, then the sweep and the Events.
async fn rack_step(v: &mut Verifier, ids: &[&str]) {
    let pdb = v.apply(&pdb_path()).await;
    assert_narrowed(&pdb, ids);
    for id in ids {
        v.evict(&format!("t-broker-{id}")).await;
    }
    v.sweep_orphans(&[]).await;
    v.event("RackRoll").await;
    v.event("DisruptionBudgetLowered").await;
    // One Event per node: a new note is a new Event, not a count on the first.
    for _ in ids {
        v.event("NodeRestarting").await;
    }
}

fn assert_narrowed(pdb: &Value, ids: &[&str]) {
    let spec = &pdb["spec"];
    assert_eq!(spec["minAvailable"], 9 - ids.len(), "{pdb}");
    let expr = &spec["selector"]["matchExpressions"][0];
    assert_eq!(expr["key"], NODE_ID_LABEL, "{pdb}");
    assert_eq!(expr["operator"], "NotIn", "{pdb}");
    assert_eq!(expr["values"], json!(ids), "{pdb}");
    assert_eq!(
        spec["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "t"
    );
    assert_eq!(
        pdb["metadata"]["annotations"]["tidewater.io/rack-step"],
        ids.join(",")
    );
}

fn assert_normal(pdb: &Value) {
    let spec = &pdb["spec"];
    assert_eq!(spec["minAvailable"], 8, "{pdb}");
    assert!(spec["selector"]["matchExpressions"].is_null(), "{pdb}");
    assert!(
        pdb["metadata"]["annotations"]["tidewater.io/rack-step"].is_null(),
        "{pdb}"
    );
}

#[tokio::test]
async fn a_rack_step_narrows_the_budget_to_the_rack_then_evicts_every_pod_of_it() {
    let (obj, pods) = roll(&[], &[]);
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        v.list_pods(pods).await;
        // Only the controllers run their desired revision: no broker config ahead.
        apply_configs_services_and_claims(&mut v, &CONTROLLERS).await;
        // Broker 0 is the active controller, so its rack (a) goes last; rack b first.
        // The budget before any eviction: rack b's pods left out, every other pod held.
        rack_step(&mut v, &["1", "4"]).await;
        let status = v.status(&cluster).await;
        assert_condition(
            &status,
            "Progressing",
            "RackRoll",
            &["rack b", "t-kafka lets only nodes 1, 4"],
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn the_budget_stays_narrowed_while_the_racks_pods_come_back() {
    // Broker 1 is back on the new revision, broker 4's pod is gone; the operator was
    // restarted meanwhile: the budget it reads back names the step.
    let (obj, pods) = roll(&[1], &[4]);
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        reads_back_rack_b_step(&mut v, pods).await;
        v.apply(&core("pods", "t-broker-4")).await;
        let pdb = v.apply(&pdb_path()).await;
        assert_narrowed(&pdb, &["1", "4"]);
        // Nothing else is evicted, and the budget is not announced twice.
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_terminating_pod_of_the_rack_holds_the_next_rack() {
    // Rack a's step: broker 0 is back on the new revision, broker 3's pod is deleted
    // but still terminating (and, as Kubernetes leaves it, still Ready). Rack b must
    // wait: nothing is evicted and the budget stays narrowed to rack a.
    let (obj, mut pods) = roll(&[0], &[]);
    pods[3]["metadata"]["deletionTimestamp"] = json!("2026-12-06T19:24:00Z");
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        v.list_pods_with_budget(pods, Some(narrowed_budget(&[0, 3])))
            .await;
        let configs: Vec<&str> = ["t-broker-0"].into_iter().chain(CONTROLLERS).collect();
        apply_configs_services_and_claims(&mut v, &configs).await;
        let pdb = v.apply(&pdb_path()).await;
        assert_narrowed(&pdb, &["0", "3"]);
        v.sweep_orphans(&[]).await;
        let status = v.status(&cluster).await;
        assert!(
            cond(&status, "Progressing")["message"]
                .as_str()
                .is_some_and(|m| m.contains("node 3 to terminate")),
            "{status}"
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_restarted_operator_restores_the_budget_once_the_rack_is_ready() {
    // Every broker runs the new revision; the budget read back is still narrowed (the
    // operator that narrowed it is gone): the normal budget is applied again.
    let (obj, pods) = roll(&[0, 1, 2, 3, 4, 5], &[]);
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        v.list_pods_with_budget(pods, Some(narrowed_budget(&[2, 5])))
            .await;
        let all: Vec<&str> = BROKERS.iter().chain(&CONTROLLERS).copied().collect();
        apply_configs_services_and_claims(&mut v, &all).await;
        let pdb = v.apply(&pdb_path()).await;
        assert_normal(&pdb);
        v.sweep_orphans(&[]).await;
        v.event("DisruptionBudgetRestored").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "Reconciled");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn the_next_rack_gets_its_own_step_once_the_previous_one_is_ready() {
    // Rack b is back and Ready: rack c follows under its own narrowed budget.
    let (obj, pods) = roll(&[1, 4], &[]);
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        reads_back_rack_b_step(&mut v, pods).await;
        rack_step(&mut v, &["2", "5"]).await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_rack_eviction_waits_for_the_budget() {
    // Another budget (the user's own) refuses the rack's first eviction: the second is
    // not attempted, and status says the roll waits.
    let (obj, pods) = roll(&[], &[]);
    let cluster = obj.clone();
    drive(obj, admin(), move |mut v| async move {
        v.list_pods(pods).await;
        apply_configs_services_and_claims(&mut v, &CONTROLLERS).await;
        v.apply(&pdb_path()).await;
        let refusal = failure(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        v.evict_with("t-broker-1", refusal).await;
        v.event("DisruptionBudgetLowered").await;
        let status = v.status(&cluster).await;
        assert_condition(
            &status,
            "Progressing",
            "WaitingForDisruptionBudget",
            &["t-broker-1"],
        );
        v.done().await;
    })
    .await;
}
