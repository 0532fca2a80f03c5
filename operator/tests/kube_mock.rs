//! Mocked API server tests of the reconcile lifecycle: finalizer, create, delete, invalid
//! and malformed specs, paused, leader Lease. Exact request sequences (see `mock`).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use std::sync::atomic::Ordering;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tidewater_operator::build;
use tidewater_operator::controller::FINALIZER;

use mock::*;

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_only() {
    let obj = cluster_json(json!({"version": "0.1.0", "brokers": 1}), &[], false);
    let echoed = cluster_json(
        json!({"version": "0.1.0", "brokers": 1}),
        &[FINALIZER],
        false,
    );
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let body = v.patch_cluster(&echoed).await;
        assert!(body.to_string().contains(FINALIZER), "{body}");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn create_applies_every_object_in_order_then_status() {
    let spec = json!({"version": "0.1.0", "brokers": 1});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let admin = FixedAdmin {
        brokers: 1,
        ..FixedAdmin::default()
    };
    let calls = admin.calls.clone();
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        v.list_pods(vec![]).await;
        let cm = v.apply(&core("configmaps", "t-broker-0-config")).await;
        assert!(
            cm["data"]["server.properties"]
                .as_str()
                .unwrap()
                .contains("node.id=0")
        );
        assert_eq!(cm["metadata"]["ownerReferences"][0]["kind"], "KafkaCluster");
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        v.apply(&core("persistentvolumeclaims", "data-t-broker-0"))
            .await;
        let pod = v.apply(&core("pods", "t-broker-0")).await;
        assert!(pod["metadata"]["annotations"][build::REVISION_ANNOTATION].is_string());
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "Creating");
        assert_eq!(cond(&status, "Ready")["status"], "False");
        assert_eq!(status["bootstrapServers"], "t-bootstrap.kafka.svc:9092");
        assert_eq!(status["observedGeneration"], 1);
        v.done().await;
    })
    .await;
    // No pods existed, so there was nobody to ask over the Kafka protocol.
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn delete_runs_cleanup_then_removes_the_finalizer() {
    let obj = cluster_json(
        json!({"version": "0.1.0", "brokers": 1}),
        &[FINALIZER],
        true,
    );
    let mut echoed = obj.clone();
    echoed["metadata"]["finalizers"] = json!([]);
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.event("Deleting").await;
        let body = v.patch_cluster(&echoed).await;
        // A JSON patch that tests the finalizer list before removing ours.
        assert!(body.to_string().contains("/metadata/finalizers"), "{body}");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_spec_changes_nothing_and_says_why() {
    let spec = json!({"version": "0.1.0", "brokers": 1, "config": {"node.id": 5}});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let cluster = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.event("InvalidSpec").await;
        let status = v.status(&cluster).await;
        let degraded =
            assert_condition(&status, "Degraded", "InvalidSpec", &["spec.config.node.id"]);
        assert_eq!(degraded["status"], "True");
        // No list, apply or delete of any owned object.
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_object_gets_degraded_without_breaking_anything() {
    let obj = cluster_json(
        json!({"version": "0.1.0", "brokers": "three"}),
        &[FINALIZER],
        false,
    );
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (body, _, send) = v
            .expect(Method::PATCH, &format!("{}/status", cluster_path()))
            .await;
        assert_eq!(cond(&body["status"], "Degraded")["reason"], "InvalidSpec");
        send.send_response(ok(&body));
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn paused_cluster_only_reports() {
    let obj = cluster_json(
        json!({"version": "0.1.0", "brokers": 1, "paused": true}),
        &[FINALIZER],
        false,
    );
    let cluster = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.event("Paused").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "Paused");
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn lease_is_created_when_absent_and_respected_when_held() {
    use tidewater_operator::lease::LeaseLock;
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let path = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/tidewater-operator";
    let server = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!((req.method(), req.uri().path()), (&Method::GET, path));
        send.send_response(failure(404, "NotFound", "not found"));
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(
            (req.method(), req.uri().path()),
            (
                &Method::POST,
                "/apis/coordination.k8s.io/v1/namespaces/ops/leases"
            )
        );
        let body: Value =
            serde_json::from_slice(&req.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(body["spec"]["holderIdentity"], "me");
        send.send_response(ok(&body));
        // Second candidate: the lease is held by "me" and fresh, so "you" waits.
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!((req.method(), req.uri().path()), (&Method::GET, path));
        let mut held = body.clone();
        held["spec"]["renewTime"] = json!(k8s_openapi::jiff::Timestamp::now().to_string());
        held["metadata"]["resourceVersion"] = json!("5");
        send.send_response(ok(&held));
        assert!(
            handle.next_request().await.is_none(),
            "a waiting candidate must not write"
        );
    });
    let me = LeaseLock::new(
        client.clone(),
        "ops",
        "tidewater-operator",
        "me",
        std::time::Duration::from_secs(15),
    );
    assert!(me.try_acquire_or_renew().await.unwrap());
    let you = LeaseLock::new(
        client,
        "ops",
        "tidewater-operator",
        "you",
        std::time::Duration::from_secs(15),
    );
    assert!(!you.try_acquire_or_renew().await.unwrap());
    drop((me, you));
    server.await.unwrap();
}
