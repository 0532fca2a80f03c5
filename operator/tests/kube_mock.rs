//! Mocked API server tests: each reconcile is driven against `tower_test::mock::pair` and
//! the exact request sequence (method, path, key body parts) is asserted, in order, like
//! kube-rs controller-rs's `ApiServerVerifier`. Dropping the client ends the stream, so
//! "no further request" is asserted exactly, not by timeout.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Method, Request, Response};
use kube::Client;
use kube::api::DynamicObject;
use kube::client::Body;
use serde_json::{Value, json};
use tidewater_operator::build;
use tidewater_operator::controller::{Context, FINALIZER, reconcile};
use tidewater_operator::metrics::Metrics;
use tidewater_operator::render::parse_cluster;
use tidewater_operator::runtime::{AdminSnapshot, AdminSource};
use tidewater_operator::validate::validate;
use tower_test::mock::{Handle, SendResponse};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// Kafka metadata as a healthy cluster of `brokers` would report it; counts its calls.
#[derive(Clone, Default)]
struct FixedAdmin {
    brokers: i32,
    calls: Arc<AtomicUsize>,
}

impl AdminSource for FixedAdmin {
    async fn snapshot(&self, _bootstrap: &[String]) -> Result<AdminSnapshot, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(AdminSnapshot {
            registered: (0..self.brokers).collect(),
            controller: Some(0),
            ..AdminSnapshot::default()
        })
    }
}

const NS: &str = "kafka";

fn cluster_json(spec: Value, finalizers: &[&str], deleting: bool) -> Value {
    let mut meta = json!({
        "name": "t",
        "namespace": NS,
        "uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "generation": 1,
        "resourceVersion": "1",
        "finalizers": finalizers,
    });
    if deleting {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    json!({"apiVersion": "tidewater.io/v1alpha1", "kind": "KafkaCluster", "metadata": meta, "spec": spec})
}

fn dynamic(v: &Value) -> Arc<DynamicObject> {
    Arc::new(serde_json::from_value(v.clone()).unwrap())
}

struct Verifier {
    handle: ApiHandle,
}

impl Verifier {
    /// Takes the next request, asserts method and path (query ignored), returns body.
    async fn expect(
        &mut self,
        method: Method,
        path: &str,
    ) -> (Value, String, SendResponse<Response<Body>>) {
        let (req, send) = self.handle.next_request().await.unwrap_or_else(|| {
            panic!("expected {method} {path}, but the reconcile made no further request")
        });
        let uri = req.uri().clone();
        assert_eq!(
            (req.method(), uri.path()),
            (&method, path),
            "unexpected request {} {uri}",
            req.method()
        );
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (body, uri.query().unwrap_or_default().to_owned(), send)
    }

    /// Server-side apply of an object: PATCH, forced, our field manager; echoes it back.
    async fn apply(&mut self, path: &str) -> Value {
        let (body, query, send) = self.expect(Method::PATCH, path).await;
        assert!(query.contains("fieldManager=tidewater-operator"), "{query}");
        assert!(query.contains("force=true"), "{query}");
        send.send_response(ok(&body));
        body
    }

    async fn list(&mut self, path: &str, kind: &str, items: Vec<Value>) {
        let (_, query, send) = self.expect(Method::GET, path).await;
        assert!(
            query.contains("app.kubernetes.io%2Finstance%3Dt")
                || query.contains("app.kubernetes.io/instance=t"),
            "{query}"
        );
        send.send_response(ok(
            &json!({"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items}),
        ));
    }

    async fn event(&mut self, reason: &str) {
        let (body, _, send) = self
            .expect(
                Method::POST,
                &format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"),
            )
            .await;
        assert_eq!(body["reason"], reason, "{body}");
        assert_eq!(body["regarding"]["kind"], "KafkaCluster");
        send.send_response(ok(&body));
    }

    async fn status(&mut self, cluster: &Value) -> Value {
        let (body, query, send) = self
            .expect(
                Method::PATCH,
                &format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t/status"),
            )
            .await;
        assert!(query.contains("fieldManager=tidewater-operator"), "{query}");
        let mut echoed = cluster.clone();
        echoed["status"] = body["status"].clone();
        send.send_response(ok(&echoed));
        body["status"].clone()
    }

    async fn done(mut self) {
        if let Some((req, _)) = self.handle.next_request().await {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
    }
}

fn ok(v: &Value) -> Response<Body> {
    Response::builder()
        .status(200)
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

/// Runs one reconcile against a fresh mock; `script` plays the API server.
async fn drive<F, Fut>(obj: Value, admin: FixedAdmin, script: F)
where
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    drive_expecting(obj, admin, script, true).await;
}

async fn drive_expecting<F, Fut>(obj: Value, admin: FixedAdmin, script: F, succeeds: bool)
where
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = Arc::new(Context::new(client, Metrics::new().unwrap(), admin, None));
    let verifier = tokio::spawn(script(Verifier { handle }));
    let result = reconcile(dynamic(&obj), ctx).await;
    // Dropping the context drops the last client: the verifier's stream ends.
    assert_eq!(result.is_ok(), succeeds, "{result:?}");
    tokio::time::timeout(std::time::Duration::from_secs(10), verifier)
        .await
        .expect("verifier finished")
        .unwrap();
}

fn cond<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap()
}

fn core(kind: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/{kind}/{name}")
}

fn pdb_path() -> String {
    format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/t-kafka")
}

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_only() {
    let obj = cluster_json(json!({"version": "0.1.0", "brokers": 1}), &[], false);
    let echoed = cluster_json(
        json!({"version": "0.1.0", "brokers": 1}),
        &[FINALIZER],
        false,
    );
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        let (body, _, send) = v
            .expect(
                Method::PATCH,
                &format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t"),
            )
            .await;
        assert!(body.to_string().contains(FINALIZER), "{body}");
        send.send_response(ok(&echoed));
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
        v.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", vec![])
            .await;
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
        v.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            vec![],
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

fn ready_pod(c: &tidewater_operator::validate::ValidatedCluster, i: usize) -> Value {
    let mut pod = serde_json::to_value(build::pod::pod(c, &c.nodes[i])).unwrap();
    pod["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    pod
}

#[tokio::test]
async fn scale_out_creates_only_the_new_broker_and_deletes_orphans() {
    let spec = json!({"version": "0.1.0", "brokers": 4});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let valid = validate(&parse_cluster(&serde_yaml::to_string(&obj).unwrap()).unwrap()).unwrap();
    let pods: Vec<Value> = (0..3).map(|i| ready_pod(&valid, i)).collect();
    let admin = FixedAdmin {
        brokers: 3,
        ..FixedAdmin::default()
    };
    let calls = admin.calls.clone();
    let cluster = obj.clone();
    drive(obj, admin, move |mut v| async move {
        v.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", pods)
            .await;
        for i in 0..4 {
            v.apply(&core("configmaps", &format!("t-broker-{i}-config")))
                .await;
        }
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        for i in 0..4 {
            v.apply(&core(
                "persistentvolumeclaims",
                &format!("data-t-broker-{i}"),
            ))
            .await;
        }
        // Pods 0-2 are unchanged: no request. Only the new broker's pod is applied.
        v.apply(&core("pods", "t-broker-3")).await;
        v.apply(&pdb_path()).await;
        let stale = json!({"metadata": {"name": "t-broker-9-config", "namespace": NS}});
        v.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            vec![stale],
        )
        .await;
        let (_, _, send) = v
            .expect(Method::DELETE, &core("configmaps", "t-broker-9-config"))
            .await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
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
        let (body, _, send) = v
            .expect(
                Method::PATCH,
                &format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t"),
            )
            .await;
        // A JSON patch that tests the finalizer list before removing ours.
        assert!(body.to_string().contains("/metadata/finalizers"), "{body}");
        send.send_response(ok(&echoed));
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
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["status"], "True");
        assert_eq!(degraded["reason"], "InvalidSpec");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .contains("spec.config.node.id"),
            "{degraded}"
        );
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
            .expect(
                Method::PATCH,
                &format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t/status"),
            )
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
async fn changed_spec_restarts_exactly_one_pod_by_deleting_it() {
    // Pods run the revision of num.partitions=1; the spec now says 2.
    let old = json!({"version": "0.1.0", "brokers": 3, "config": {"num.partitions": 1}});
    let old_obj = cluster_json(old, &[FINALIZER], false);
    let old_valid =
        validate(&parse_cluster(&serde_yaml::to_string(&old_obj).unwrap()).unwrap()).unwrap();
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
        v.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", pods)
            .await;
        for i in 0..3 {
            let cm = v
                .apply(&core("configmaps", &format!("t-broker-{i}-config")))
                .await;
            assert!(
                cm["data"]["server.properties"]
                    .as_str()
                    .unwrap()
                    .contains("num.partitions=2")
            );
        }
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        for i in 0..3 {
            v.apply(&core(
                "persistentvolumeclaims",
                &format!("data-t-broker-{i}"),
            ))
            .await;
        }
        // No pod is patched (immutable); then exactly one is deleted: broker 1, since
        // broker 0 is the active controller and rolls last.
        v.apply(&pdb_path()).await;
        let (_, _, send) = v.expect(Method::DELETE, &core("pods", "t-broker-1")).await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
        v.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            vec![],
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
    let valid = validate(&parse_cluster(&serde_yaml::to_string(&obj).unwrap()).unwrap()).unwrap();
    let mut pod = serde_json::to_value(build::pod::pod(&valid, &valid.nodes[0])).unwrap();
    pod["status"] = json!({"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    }]});
    let cluster = obj.clone();
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list(
            &format!("/api/v1/namespaces/{NS}/pods"),
            "PodList",
            vec![pod],
        )
        .await;
        v.apply(&core("configmaps", "t-broker-0-config")).await;
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        v.apply(&core("persistentvolumeclaims", "data-t-broker-0"))
            .await;
        v.apply(&pdb_path()).await;
        v.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            vec![],
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
        let status = v.status(&cluster).await;
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["reason"], "ZoneUnschedulable");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .contains("zone zone-x"),
            "{degraded}"
        );
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
        send.send_response(
            Response::builder()
                .status(404)
                .body(Body::from(
                    serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}))
                        .unwrap(),
                ))
                .unwrap(),
        );
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
    let three_valid =
        validate(&parse_cluster(&serde_yaml::to_string(&three).unwrap()).unwrap()).unwrap();
    // Brokers 0-2 and controller 1000 (index 3) run; the spec now asks for 2 brokers.
    let pods: Vec<Value> = (0..4).map(|i| ready_pod(&three_valid, i)).collect();
    let obj = cluster_json(spec(2), &[FINALIZER], false);
    let cluster = obj.clone();
    let admin = FixedAdmin {
        brokers: 3,
        ..FixedAdmin::default()
    };
    drive(obj, admin, move |mut v| async move {
        v.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", pods)
            .await;
        for name in [
            "t-broker-0-config",
            "t-broker-1-config",
            "t-controller-1000-config",
        ] {
            v.apply(&core("configmaps", name)).await;
        }
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        for name in [
            "data-t-broker-0",
            "data-t-broker-1",
            "data-t-controller-1000",
        ] {
            v.apply(&core("persistentvolumeclaims", name)).await;
        }
        // Every remaining pod is unchanged: no pod request until the removal.
        v.apply(&pdb_path()).await;
        let (_, _, send) = v.expect(Method::DELETE, &core("pods", "t-broker-2")).await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
        let (_, _, send) = v
            .expect(
                Method::DELETE,
                &core("persistentvolumeclaims", "data-t-broker-2"),
            )
            .await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
        let gone = json!({"metadata": {"name": "t-broker-2-config", "namespace": NS}});
        v.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            vec![gone],
        )
        .await;
        let (_, _, send) = v
            .expect(Method::DELETE, &core("configmaps", "t-broker-2-config"))
            .await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
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
        v.event("NodeRemoved").await;
        let status = v.status(&cluster).await;
        assert_eq!(cond(&status, "Progressing")["reason"], "ScalingDown");
        let ids: Vec<i64> = status["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [0, 1, 1000]);
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
        v.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", vec![])
            .await;
        v.apply(&core("configmaps", "t-broker-0-config")).await;
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        let (_, _, send) = v
            .expect(
                Method::PATCH,
                &core("persistentvolumeclaims", "data-t-broker-0"),
            )
            .await;
        let refusal = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid",
            "code": 422, "message": "spec.resources.requests.storage: Forbidden: field can not be less than previous value"});
        send.send_response(
            Response::builder()
                .status(422)
                .body(Body::from(serde_json::to_vec(&refusal).unwrap()))
                .unwrap(),
        );
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
        let degraded = cond(&status, "Degraded");
        assert_eq!(degraded["reason"], "ApplyFailed");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .contains("less than previous value"),
            "{degraded}"
        );
        v.done().await;
    };
    drive_expecting(obj, FixedAdmin::default(), script, false).await;
}
