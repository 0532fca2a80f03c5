//! Mocked API server tests of issue 21: claims outlive the `KafkaCluster` unless
//! `storage.deleteClaim` is true, record the cluster id, and a cluster re-created over
//! them adopts that id; a claim of another cluster id is never touched nor mounted.
//! Exact request sequences (see `mock`).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use serde_json::{Value, json};
use tidewater_operator::build::pvc::CLUSTER_ID_ANNOTATION;
use tidewater_operator::build::{self, NODE_ID_LABEL};
use tidewater_operator::controller::FINALIZER;

use mock::*;

const UID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
/// Uid of a second `KafkaCluster` `t`, created after the first was deleted.
const NEW_UID: &str = "6d2d0d1e-4b8e-4c43-9d0c-5a9d8c1a7e11";

fn cluster(spec: Value, uid: &str, status_id: Option<&str>) -> Value {
    let mut obj = cluster_json(spec, &[FINALIZER], false);
    obj["metadata"]["uid"] = json!(uid);
    if let Some(id) = status_id {
        obj["status"] = json!({ "clusterId": id });
    }
    obj
}

fn annotation(pvc: &Value) -> &Value {
    &pvc["metadata"]["annotations"][CLUSTER_ID_ANNOTATION]
}

/// One broker created from nothing: returns the applied ConfigMap, claim and status.
async fn create_one(v: &mut Verifier, obj: &Value, claims: Vec<Value>) -> (Value, Value, Value) {
    v.list_pods_and_claims(vec![], claims).await;
    let cm = v.apply(&core("configmaps", "t-broker-0-config")).await;
    v.apply(&core("services", "t-brokers")).await;
    v.apply(&core("services", "t-bootstrap")).await;
    let pvc = v
        .apply(&core("persistentvolumeclaims", "data-t-broker-0"))
        .await;
    v.apply(&core("pods", "t-broker-0")).await;
    v.apply(&pdb_path()).await;
    v.sweep_orphans(&[]).await;
    v.event("NodeCreated").await;
    let status = v.status(obj).await;
    (cm, pvc, status)
}

#[tokio::test]
async fn claims_are_kept_by_default_and_record_the_cluster_id() {
    let obj = cluster(json!({"version": "0.1.0", "brokers": 1}), UID, None);
    let id = build::cluster_id_from_seed(UID);
    let o = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (cm, pvc, status) = create_one(&mut v, &o, vec![]).await;
        // No owner reference: the garbage collector leaves the claim when `t` goes.
        assert!(pvc["metadata"].get("ownerReferences").is_none(), "{pvc}");
        let labels = &pvc["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/instance"], "t");
        assert_eq!(labels[NODE_ID_LABEL], "0");
        assert_eq!(annotation(&pvc), &json!(id));
        // Everything else is still owned and goes with the cluster.
        assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], UID);
        assert_eq!(cm["data"]["cluster.id"], id);
        assert_eq!(status["clusterId"], id);
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn delete_claim_true_makes_the_cluster_own_its_claims() {
    let spec = json!({"version": "0.1.0", "brokers": 1, "storage": {"deleteClaim": true}});
    let obj = cluster(spec, UID, None);
    let o = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (_, pvc, _) = create_one(&mut v, &o, vec![]).await;
        let owner = &pvc["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "KafkaCluster");
        assert_eq!(owner["name"], "t");
        assert_eq!(owner["uid"], UID);
        assert_eq!(owner["controller"], true);
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn turning_delete_claim_off_applies_the_claim_without_its_owner_reference() {
    // A live cluster (status has its id) whose claim was owned: the next apply leaves
    // `ownerReferences` out, and server-side apply removes what this manager set.
    let mut owned = retained_claim(0, Some("LIVE"));
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "tidewater.io/v1alpha1",
        "kind": "KafkaCluster", "name": "t", "uid": UID, "controller": true}]);
    let obj = cluster(json!({"version": "0.1.0", "brokers": 1}), UID, Some("LIVE"));
    let o = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (_, pvc, status) = create_one(&mut v, &o, vec![owned]).await;
        assert!(pvc["metadata"].get("ownerReferences").is_none(), "{pvc}");
        assert_eq!(annotation(&pvc), "LIVE");
        assert_eq!(status["clusterId"], "LIVE");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_recreated_cluster_adopts_the_id_of_its_retained_claims() {
    // `t` was deleted and created again: a new uid, no status, its old claim retained.
    let old_id = build::cluster_id_from_seed(UID);
    assert_ne!(old_id, build::cluster_id_from_seed(NEW_UID));
    let obj = cluster(json!({"version": "0.1.0", "brokers": 1}), NEW_UID, None);
    let o = obj.clone();
    let claim = retained_claim(0, Some(&old_id));
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (cm, pvc, status) = create_one(&mut v, &o, vec![claim]).await;
        // `format` in the pod runs with the old id, so the broker opens its old logs.
        assert_eq!(cm["data"]["cluster.id"], old_id);
        assert!(
            cm["data"]["server.properties"]
                .as_str()
                .unwrap()
                .contains("node.id=0")
        );
        assert_eq!(annotation(&pvc), &json!(old_id));
        assert!(pvc["metadata"].get("ownerReferences").is_none(), "{pvc}");
        assert_eq!(status["clusterId"], old_id);
        assert_eq!(cond(&status, "Degraded")["status"], "False");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_claim_of_another_cluster_id_is_never_touched_nor_mounted() {
    let obj = cluster(json!({"version": "0.1.0", "brokers": 2}), UID, Some("MINE"));
    let o = obj.clone();
    let claims = vec![
        retained_claim(0, Some("MINE")),
        retained_claim(1, Some("THEIRS")),
    ];
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list_pods_and_claims(vec![], claims).await;
        // Node 1's ConfigMap, claim and pod are skipped: no request names them.
        v.apply(&core("configmaps", "t-broker-0-config")).await;
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        let pvc = v
            .apply(&core("persistentvolumeclaims", "data-t-broker-0"))
            .await;
        assert_eq!(annotation(&pvc), "MINE");
        v.apply(&core("pods", "t-broker-0")).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        // Only node 0 is created, and only node 0's creation is reported.
        v.event("NodeCreated").await;
        let status = v.status(&o).await;
        let progressing = cond(&status, "Progressing");
        assert_eq!(progressing["reason"], "Creating");
        assert_eq!(status["clusterId"], "MINE");
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["status"], "True");
        assert_eq!(degraded["reason"], "ClaimOfAnotherCluster");
        let msg = degraded["message"].as_str().unwrap();
        for needle in [
            "claim data-t-broker-1 holds data of Kafka cluster THEIRS",
            "node 1 is not started",
            "kubectl delete pvc data-t-broker-1 -n kafka",
            r#"--subresource=status --type=merge -p '{"status":{"clusterId":"THEIRS"}}'"#,
        ] {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }
        assert_eq!(cond(&status, "Ready")["status"], "False");
        let broker1 = &status["brokers"][1];
        assert_eq!(
            (broker1["id"].as_i64(), broker1["ready"].as_bool()),
            (Some(1), Some(false))
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn claims_of_removed_nodes_are_reported_and_kept() {
    // Re-created with one broker over the claims of three: nodes 1 and 2's claims stay.
    let old_id = build::cluster_id_from_seed(UID);
    let obj = cluster(json!({"version": "0.1.0", "brokers": 1}), NEW_UID, None);
    let o = obj.clone();
    let claims = (0..3).map(|i| retained_claim(i, Some(&old_id))).collect();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (cm, _, status) = create_one(&mut v, &o, claims).await;
        assert_eq!(cm["data"]["cluster.id"], old_id);
        let retained = assert_condition(
            &status,
            "ClaimsRetained",
            "ClaimsOfRemovedNodes",
            &["kubectl delete pvc -n kafka data-t-broker-1 data-t-broker-2"],
        );
        assert_eq!(retained["status"], "True");
        // Kept, not a fault: nothing is degraded by an unused claim.
        assert_eq!(cond(&status, "Degraded")["status"], "False");
        // `done` proves no DELETE of any claim was sent.
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_format_refusal_in_the_init_container_is_reported_with_its_message() {
    // Claims made before the annotation existed give no id to check against: then the
    // broker's own `format` refuses the foreign log dir, and its words reach the status.
    let obj = cluster(json!({"version": "0.1.0", "brokers": 1}), UID, Some("MINE"));
    let c = validated(&obj);
    let mut pod = ready_pod(&c, 0);
    pod["status"] = json!({
        "conditions": [{"type": "Ready", "status": "False"}],
        "initContainerStatuses": [{
            "name": "format", "image": "x", "imageID": "", "ready": false,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message":
                "error: log directory /var/lib/tidewater/data is already formatted for cluster THEIRS, not MINE\n"}}
        }]
    });
    let o = obj.clone();
    let admin = FixedAdmin {
        brokers: 1,
        ..FixedAdmin::default()
    };
    drive(obj, admin, move |mut v| async move {
        v.list_pods_and_claims(vec![pod], vec![retained_claim(0, None)])
            .await;
        v.apply_configs_services_and_claims(&["t-broker-0"]).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        let status = v.status(&o).await;
        assert_condition(
            &status,
            "Degraded",
            "CrashLoopBackOff",
            &[
                "container format is crash-looping (4 restarts): error: log directory",
                "formatted for cluster THEIRS, not MINE",
            ],
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_held_back_node_is_what_progressing_reports_once_the_rest_runs() {
    let obj = cluster(json!({"version": "0.1.0", "brokers": 2}), UID, Some("MINE"));
    let c = validated(&obj);
    let o = obj.clone();
    let admin = FixedAdmin {
        brokers: 2,
        ..FixedAdmin::default()
    };
    let claims = vec![
        retained_claim(0, Some("MINE")),
        retained_claim(1, Some("THEIRS")),
    ];
    drive(obj, admin, move |mut v| async move {
        v.list_pods_and_claims(vec![ready_pod(&c, 0)], claims).await;
        v.apply(&core("configmaps", "t-broker-0-config")).await;
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        v.apply(&core("persistentvolumeclaims", "data-t-broker-0"))
            .await;
        // Pod 0 is up to date; nothing is created, restarted or reported as created.
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        let status = v.status(&o).await;
        let progressing = assert_condition(
            &status,
            "Progressing",
            "ClaimOfAnotherCluster",
            &["node 1 held back"],
        );
        assert_eq!(progressing["status"], "True");
        assert_eq!(cond(&status, "Degraded")["reason"], "ClaimOfAnotherCluster");
        v.done().await;
    })
    .await;
}
