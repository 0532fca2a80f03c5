//! Mocked API server tests of one step of a version roll on the kube runtime (issue 11):
//! the exact request sequence when the roll gate lets a broker restart (its pod is
//! deleted, the next reconcile recreates it with the new version's image), and when a
//! broker that is gone keeps a partition below min.insync.replicas (no delete at all,
//! RollBlocked on the status and as an Event).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::roll::gate::PartitionView;

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

/// Three ready pods of 0.1.0 and the spec at 0.2.0.
fn upgrade() -> (Value, Vec<Value>) {
    let old = cluster_json(
        json!({"version": "0.1.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    let old_valid = validated(&old);
    let pods = (0..3).map(|i| ready_pod(&old_valid, i)).collect();
    let mut obj = cluster_json(
        json!({"version": "0.2.0", "brokers": 3}),
        &[FINALIZER],
        false,
    );
    obj["status"] = json!({"version": "0.1.0", "metadataVersion": "3.9-IV0"});
    (obj, pods)
}

async fn apply_all(v: &mut Verifier) {
    v.apply_configs_services_and_claims(&["t-broker-0", "t-broker-1", "t-broker-2"])
        .await;
    v.apply(&pdb_path()).await;
}

/// One reconcile that restarts nothing: every object applied, no pod deleted, one
/// Warning Event `reason`; returns the status written.
async fn held_back(mut v: Verifier, pods: Vec<Value>, reason: &str, cluster: &Value) -> Value {
    v.list_pods(pods).await;
    apply_all(&mut v).await;
    v.sweep_orphans(&[]).await;
    v.event(reason).await;
    let status = v.status(cluster).await;
    v.done().await;
    status
}

#[tokio::test]
async fn a_version_bump_deletes_one_pod_when_every_partition_keeps_min_isr() {
    let (obj, pods) = upgrade();
    let admin = FixedAdmin {
        brokers: 3,
        partitions: (0..3).map(|p| partition(p, &[0, 1, 2])).collect(),
        ..FixedAdmin::default()
    };
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods(pods).await;
        apply_all(&mut v).await;
        // Broker 0 is the active controller: broker 1 goes first.
        v.delete(&core("pods", "t-broker-1")).await;
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
        let progressing = cond(&status, "Progressing");
        assert_eq!(progressing["status"], "False");
        assert_eq!(progressing["reason"], "RollBlocked");
        assert!(
            progressing["message"]
                .as_str()
                .unwrap()
                .contains("orders-1"),
            "{progressing}"
        );
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
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["reason"], "DowngradeBlocked");
        assert!(degraded["message"].as_str().unwrap().contains("4.0-IV3"));
    })
    .await;
}
