//! Mocked API server tests of a scale-in on the kube runtime (issue 12): the broker
//! scaled away keeps its pod, claim and ConfigMap while the rebalance drive reports it
//! still hosts replicas (no DELETE at all); once the drive verified it empty, exactly
//! its pod is deleted, then its claim when `storage.deleteClaimOnScaleDown` says so,
//! then its ConfigMap by the orphan sweep, and it is unregistered. Metadata that cannot
//! be read removes nothing, and a refused scale-in is `Degraded` `ScaleInBlocked`.
//!
//! The drive's outcome (what the brokers hold) is given by `FixedAdmin`; the drive
//! itself runs against real brokers in `local_rebalance.rs` and in e2e `scale_to_four`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::crd::{RebalancePhase, RebalanceStatus};
use tidewater_operator::rebalance::outcome::{EmptyCheck, Outcome};

use mock::*;

const KEPT: [&str; 4] = [
    "t-broker-0",
    "t-broker-1",
    "t-broker-2",
    "t-controller-1000",
];

fn spec(brokers: i32, delete_claim: bool) -> Value {
    json!({"version": "0.1.0", "brokers": brokers, "controllers": 1,
           "storage": {"size": "1Gi", "deleteClaimOnScaleDown": delete_claim},
           "rebalance": {"throttleBytesPerSecond": 1_048_576}})
}

/// Brokers 0-3 and controller 1000 run (broker 3 ready or not); the spec asks for 3.
fn scale_in(delete_claim: bool, broker_3_ready: bool) -> (Value, Vec<Value>) {
    let four = validated(&cluster_json(spec(4, delete_claim), &[FINALIZER], false));
    let mut pods: Vec<Value> = (0..5).map(|i| ready_pod(&four, i)).collect();
    if !broker_3_ready {
        pods[3]["status"] = json!({"conditions": [{"type": "Ready", "status": "False"}]});
    }
    let obj = cluster_json(spec(3, delete_claim), &[FINALIZER], false);
    (obj, pods)
}

fn draining(phase: RebalancePhase, moved: i32) -> RebalanceStatus {
    RebalanceStatus {
        phase,
        trigger: "scale-in".into(),
        brokers: vec![0, 1, 2],
        draining: vec![3],
        batches: 1,
        batch_size: 8,
        submitted: phase != RebalancePhase::Done,
        partitions_total: 4,
        partitions_moved: moved,
        bytes_moved: i64::from(moved) * 1000,
        bytes_total: 4000,
        throttle_bytes_per_second: (phase == RebalancePhase::Throttled).then_some(1_048_576),
        ..RebalanceStatus::default()
    }
}

fn check(hosting: &[i32], no_log_dirs: &[i32]) -> Option<EmptyCheck> {
    Some(EmptyCheck {
        hosting: hosting.iter().copied().collect(),
        registered: [0, 1, 2, 3].into(),
        no_log_dirs: no_log_dirs.iter().copied().collect(),
    })
}

/// The pods listed, then everything the reconcile applies for the kept nodes, in order.
async fn apply_kept(v: &mut Verifier, pods: Vec<Value>) {
    v.list_pods(pods).await;
    v.apply_configs_services_and_claims(&KEPT).await;
    v.apply(&pdb_path()).await;
}

/// A reconcile that holds broker 3: the kept nodes applied, then the sweep that keeps
/// broker 3's ConfigMap.
async fn apply_kept_holding_broker_3(v: &mut Verifier, pods: Vec<Value>) {
    apply_kept(v, pods).await;
    sweep_keeping_broker_3(v).await;
}

/// The orphan sweep while broker 3 is held: its ConfigMap is listed but kept (its pod
/// mounts it), nothing is deleted.
async fn sweep_keeping_broker_3(v: &mut Verifier) {
    let cm = json!({"metadata": {"name": "t-broker-3-config", "namespace": NS}});
    v.list(
        &format!("/api/v1/namespaces/{NS}/configmaps"),
        "ConfigMapList",
        vec![cm],
    )
    .await;
    v.list(
        &format!("/api/v1/namespaces/{NS}/services"),
        "ServiceList",
        vec![],
    )
    .await;
    v.list(
        &format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"),
        "PodDisruptionBudgetList",
        vec![],
    )
    .await;
}

#[tokio::test]
async fn a_broker_still_hosting_replicas_keeps_its_pod_while_it_drains() {
    let (obj, pods) = scale_in(true, true);
    let admin = FixedAdmin {
        brokers: 4,
        outcome: Some(Outcome {
            status: Some(draining(RebalancePhase::Throttled, 1)),
            events: vec![(
                "Normal",
                "RebalanceBatchStarted",
                "batch 1 of 1: 4 partitions of topic orders".into(),
            )],
            empty: check(&[0, 1, 2, 3], &[]),
            ..Outcome::default()
        }),
        ..FixedAdmin::default()
    };
    let (drives, unregistered) = (admin.drives.clone(), admin.unregistered.clone());
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        // No DELETE: not of the pod, nor of its claim, nor of its ConfigMap.
        apply_kept_holding_broker_3(&mut v, pods).await;
        v.event("RebalanceBatchStarted").await;
        let status = v.status(&cluster).await;
        assert_eq!(status["rebalance"]["phase"], "Throttled");
        assert_eq!(status["rebalance"]["draining"], json!([3]));
        assert_condition(
            &status,
            "Progressing",
            "Rebalancing",
            &["1 of 4 partitions moved"],
        );
        v.done().await;
    })
    .await;
    assert_eq!(*drives.lock().unwrap(), [vec![0, 1, 2]]);
    assert!(unregistered.lock().unwrap().is_empty());
}

/// Broker 3 verified empty: pod, then claim (when the policy says so), then ConfigMap;
/// then UnregisterBroker.
async fn removed_once_empty(delete_claim: bool) {
    let (obj, pods) = scale_in(delete_claim, true);
    let admin = FixedAdmin {
        brokers: 4,
        outcome: Some(Outcome {
            status: Some(draining(RebalancePhase::Done, 4)),
            events: vec![(
                "Normal",
                "RebalanceDone",
                "moved 4 partitions (4000 bytes)".into(),
            )],
            empty: check(&[0, 1, 2], &[3]),
            ..Outcome::default()
        }),
        ..FixedAdmin::default()
    };
    let unregistered = admin.unregistered.clone();
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        apply_kept(&mut v, pods).await;
        v.delete(&core("pods", "t-broker-3")).await;
        if delete_claim {
            v.delete(&core("persistentvolumeclaims", "data-t-broker-3"))
                .await;
        }
        v.sweep_orphans(&["t-broker-3-config"]).await;
        v.event("NodeRemoved").await;
        v.event("BrokerUnregistered").await;
        v.event("RebalanceDone").await;
        let status = v.status(&cluster).await;
        assert_eq!(status["rebalance"]["phase"], "Done");
        assert_eq!(broker_ids(&status), [0, 1, 2, 1000]);
        v.done().await;
    })
    .await;
    assert_eq!(*unregistered.lock().unwrap(), [3]);
}

#[tokio::test]
async fn a_broker_verified_empty_loses_its_pod_then_its_claim_then_its_registration() {
    removed_once_empty(true).await;
}

#[tokio::test]
async fn a_broker_verified_empty_keeps_its_claim_when_the_policy_retains_it() {
    removed_once_empty(false).await;
}

#[tokio::test]
async fn unreadable_metadata_removes_nothing_not_even_a_broker_that_is_not_ready() {
    let (obj, pods) = scale_in(true, false);
    let admin = FixedAdmin {
        brokers: 4,
        unreadable: true,
        ..FixedAdmin::default()
    };
    let (drives, unregistered) = (admin.drives.clone(), admin.unregistered.clone());
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        apply_kept_holding_broker_3(&mut v, pods).await;
        let status = v.status(&cluster).await;
        assert!(status.get("rebalance").is_none(), "{status}");
        v.done().await;
    })
    .await;
    assert!(drives.lock().unwrap().is_empty(), "the drive ran blind");
    assert!(unregistered.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_scale_in_is_degraded_scale_in_blocked_and_removes_nothing() {
    let (obj, pods) = scale_in(true, true);
    let message = "topic wide has replication factor 4 but only 3 brokers would remain; \
                   nothing was changed";
    let mut refused = draining(RebalancePhase::Failed, 0);
    refused.message = Some(message.into());
    let admin = FixedAdmin {
        brokers: 4,
        outcome: Some(Outcome {
            status: Some(refused),
            blocked: Some(("ScaleInBlocked", message.into())),
            events: vec![("Warning", "ScaleInBlocked", message.into())],
            empty: check(&[0, 1, 2, 3], &[]),
        }),
        ..FixedAdmin::default()
    };
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        apply_kept_holding_broker_3(&mut v, pods).await;
        v.event("ScaleInBlocked").await;
        let status = v.status(&cluster).await;
        let degraded = assert_condition(&status, "Degraded", "ScaleInBlocked", &["topic wide"]);
        assert_eq!(degraded["status"], "True");
        assert_eq!(status["rebalance"]["phase"], "Failed");
        v.done().await;
    })
    .await;
}
