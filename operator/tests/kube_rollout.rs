//! Mocked API server tests of changes to a running cluster: scale out and down, rolling
//! restart, unschedulable zones, API refusals. Exact request sequences (see `mock`).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use std::sync::atomic::Ordering;

use http::Method;
use serde_json::{Value, json};
use tidewater_operator::build;
use tidewater_operator::controller::FINALIZER;

use mock::*;

#[tokio::test]
async fn scale_out_creates_only_the_new_broker_and_deletes_orphans() {
    let spec = json!({"version": "0.1.0", "brokers": 4});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let valid = validated(&obj);
    let pods: Vec<Value> = (0..3).map(|i| ready_pod(&valid, i)).collect();
    let admin = FixedAdmin {
        brokers: 3,
        ..FixedAdmin::default()
    };
    let calls = admin.calls.clone();
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods(pods).await;
        v.apply_configs_services_and_claims(&[
            "t-broker-0",
            "t-broker-1",
            "t-broker-2",
            "t-broker-3",
        ])
        .await;
        // Pods 0-2 are unchanged: no request. Only the new broker's pod is applied.
        v.apply(&core("pods", "t-broker-3")).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&["t-broker-9-config"]).await;
        v.event("NodeCreated").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["message"], "creating nodes 3");
        assert_eq!(cond(&status, "Ready")["reason"], "NodesNotReady");
        assert_eq!(status["controller"]["activeId"], 0);
        v.done().await;
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn changed_spec_restarts_exactly_one_pod_by_evicting_it() {
    // Pods run the revision of num.partitions=1; the spec now says 2.
    let old = json!({"version": "0.1.0", "brokers": 3, "config": {"num.partitions": 1}});
    let old_obj = cluster_json(old, &[FINALIZER], false);
    let old_valid = validated(&old_obj);
    let pods: Vec<Value> = (0..3).map(|i| ready_pod(&old_valid, i)).collect();
    let obj = cluster_json(
        json!({"version": "0.1.0", "brokers": 3, "config": {"num.partitions": 2}}),
        &[FINALIZER],
        false,
    );
    let admin = FixedAdmin {
        brokers: 3,
        ..FixedAdmin::default()
    };
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods(pods).await;
        // No ConfigMap is written while its pod runs the old revision (each node gets
        // num.partitions=2 at its turn: see kube_upgrade.rs), no pod is patched
        // (immutable); then exactly one is evicted: broker 1, since broker 0 is the
        // active controller and rolls last.
        v.apply_services_and_claims(&[], &["t-broker-0", "t-broker-1", "t-broker-2"])
            .await;
        v.apply(&pdb_path()).await;
        v.evict("t-broker-1").await;
        v.sweep_orphans(&[]).await;
        v.event("NodeRestarting").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "RollingRestart");
        assert_eq!(cond(&status, "Ready")["status"], "False");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn zone_without_schedulable_nodes_is_a_degraded_condition() {
    let spec = json!({"version": "0.1.0", "brokers": 1, "rack": {"zones": ["zone-x"]}});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let valid = validated(&obj);
    let mut pod = serde_json::to_value(build::pod::pod(&valid, &valid.nodes[0])).unwrap();
    pod["status"] = json!({"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    }]});
    let cluster = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list_pods(vec![pod]).await;
        v.apply_configs_services_and_claims(&["t-broker-0"]).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        let status = v.status(&cluster).await;
        assert_condition(&status, "Degraded", "ZoneUnschedulable", &["zone zone-x"]);
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn scale_down_deletes_removed_pods_their_claims_when_asked_and_orphaned_config() {
    let spec = |brokers: i32| {
        json!({"version": "0.1.0", "brokers": brokers, "controllers": 1,
               "storage": {"size": "1Gi", "deleteClaimOnScaleDown": true},
               "config": {"offsets.topic.replication.factor": 1,
                          "transaction.state.log.replication.factor": 1,
                          "transaction.state.log.min.isr": 1}})
    };
    let three = cluster_json(spec(3), &[FINALIZER], false);
    let three_valid = validated(&three);
    // Brokers 0-2 and controller 1000 (index 3) run; the spec now asks for 2 brokers.
    let pods: Vec<Value> = (0..4).map(|i| ready_pod(&three_valid, i)).collect();
    let obj = cluster_json(spec(2), &[FINALIZER], false);
    let cluster = obj.clone();
    let admin = FixedAdmin {
        brokers: 3,
        ..FixedAdmin::default()
    };
    drive(obj, admin, move |mut v| async move {
        v.list_pods(pods).await;
        v.apply_configs_services_and_claims(&["t-broker-0", "t-broker-1", "t-controller-1000"])
            .await;
        // Every remaining pod is unchanged: no pod request until the removal.
        v.apply(&pdb_path()).await;
        v.delete(&core("pods", "t-broker-2")).await;
        v.delete(&core("persistentvolumeclaims", "data-t-broker-2"))
            .await;
        v.sweep_orphans(&["t-broker-2-config"]).await;
        v.event("NodeRemoved").await;
        v.event("BrokerUnregistered").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "ScalingDown");
        assert_eq!(broker_ids(&status), [0, 1, 1000]);
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn an_api_refusal_is_reported_on_the_cluster_and_fails_the_reconcile() {
    let spec = json!({"version": "0.1.0", "brokers": 1, "storage": {"size": "1Gi"}});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let cluster = obj.clone();
    let script = move |mut v: Verifier| async move {
        v.list_pods(vec![]).await;
        v.apply(&core("configmaps", "t-broker-0-config")).await;
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        let (_, _, send) = v
            .expect(
                Method::PATCH,
                &core("persistentvolumeclaims", "data-t-broker-0"),
            )
            .await;
        send.send_response(failure(
            422,
            "Invalid",
            "spec.resources.requests.storage: Forbidden: field can not be less than previous value",
        ));
        let (body, _, send) = v
            .expect(
                Method::POST,
                &format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"),
            )
            .await;
        assert_eq!(
            (body["reason"].as_str(), body["type"].as_str()),
            (Some("ApplyFailed"), Some("Warning"))
        );
        send.send_response(ok(&body));
        let status = v.status(&cluster).await;
        assert_condition(
            &status,
            "Degraded",
            "ApplyFailed",
            &["less than previous value"],
        );
        v.done().await;
    };
    drive_expecting(obj, FixedAdmin::default(), script, false).await;
}
