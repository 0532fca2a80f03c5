//! Shared harness of the mocked API server tests: plays the API server on
//! `tower_test::mock::pair`, asserting each request's method, path and key body parts in
//! order, like kube-rs controller-rs's `ApiServerVerifier`. Dropping the client ends the
//! stream, so "no further request" is asserted exactly, not by timeout.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::DynamicObject;
use kube::client::Body;
use serde_json::{Value, json};
use tidewater_operator::build;
use tidewater_operator::controller::{Context, Rebalancer, reconcile};
use tidewater_operator::crd::{RebalanceSpec, RebalanceStatus};
use tidewater_operator::identity::AdminAccess;
use tidewater_operator::metrics::Metrics;
use tidewater_operator::observed::{AdminError, AdminSnapshot, PartitionView};
use tidewater_operator::plan::AdminOp;
use tidewater_operator::rebalance::drive::DriveError;
use tidewater_operator::rebalance::outcome::{EmptyCheck, Outcome};
use tidewater_operator::render::parse_cluster;
use tidewater_operator::runtime::AdminSource;
use tidewater_operator::validate::{CONTROLLER_ID_BASE, ValidatedCluster, validate};
use tower_test::mock::{Handle, SendResponse};

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// Kafka metadata as a healthy cluster of `brokers` would report it; counts its calls.
#[derive(Clone, Default)]
pub struct FixedAdmin {
    pub brokers: i32,
    pub calls: Arc<AtomicUsize>,
    /// Partitions reported (the roll gate reads them); none by default.
    pub partitions: Vec<PartitionView>,
    /// Brokers reported registered when set (default: all `brokers`).
    pub registered: Option<Vec<i32>>,
    /// Metadata cannot be read (every snapshot fails).
    pub unreadable: bool,
    /// What the rebalance drive reports; by default no plan, and the brokers hosting
    /// no replica of `partitions` verified empty.
    pub outcome: Option<Outcome>,
    /// The `keep` list of each rebalance drive call.
    pub drives: Arc<Mutex<Vec<Vec<i32>>>>,
    /// Brokers unregistered (UnregisterBroker), in order.
    pub unregistered: Arc<Mutex<Vec<i32>>>,
    /// The KRaft quorum DescribeQuorum shows: (voters, active controller). By default
    /// no voters are read and broker 0 is the active controller.
    pub quorum: Option<(Vec<i32>, i32)>,
    /// Admin operations run (AddRaftVoter, RemoveRaftVoter, ...), in order; each
    /// succeeds unless `refusal` is set.
    pub ops: Arc<Mutex<Vec<AdminOp>>>,
    /// The Kafka error (code, message) every admin operation is answered with.
    pub refusal: Option<(i16, String)>,
}

impl FixedAdmin {
    fn registered_ids(&self) -> BTreeSet<i32> {
        self.registered
            .clone()
            .map_or_else(|| (0..self.brokers).collect(), |r| r.into_iter().collect())
    }
}

impl Rebalancer for FixedAdmin {
    async fn rebalance(
        &self,
        _bootstrap: &str,
        _access: &AdminAccess,
        keep: &[i32],
        _spec: Option<&RebalanceSpec>,
        previous: Option<&RebalanceStatus>,
        _now: Timestamp,
    ) -> Outcome {
        self.drives.lock().unwrap().push(keep.to_vec());
        if let Some(o) = &self.outcome {
            return o.clone();
        }
        let hosting: BTreeSet<i32> = self
            .partitions
            .iter()
            .flat_map(|p| p.replicas.iter().copied().chain([p.leader]))
            .collect();
        let registered = self.registered_ids();
        Outcome {
            status: previous.cloned(),
            empty: Some(EmptyCheck {
                no_log_dirs: registered.difference(&hosting).copied().collect(),
                hosting,
                registered,
            }),
            ..Outcome::default()
        }
    }

    async fn unregister(
        &self,
        _bootstrap: &str,
        _access: &AdminAccess,
        id: i32,
    ) -> Result<(), DriveError> {
        self.unregistered.lock().unwrap().push(id);
        Ok(())
    }
}

impl AdminSource for FixedAdmin {
    async fn snapshot(
        &self,
        _bootstrap: &[String],
        _access: &AdminAccess,
    ) -> Result<AdminSnapshot, AdminError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unreadable {
            return Err(AdminError::Unreachable("connection refused".to_owned()));
        }
        let (voters, active) = self.quorum.clone().unwrap_or((vec![], 0));
        Ok(AdminSnapshot {
            registered: self.registered_ids(),
            controller: Some(active),
            voters: voters.into_iter().collect(),
            partitions: self.partitions.clone(),
            ..AdminSnapshot::default()
        })
    }

    async fn execute(
        &self,
        _bootstrap: &[String],
        _access: &AdminAccess,
        op: &AdminOp,
    ) -> Result<(), AdminError> {
        self.ops.lock().unwrap().push(op.clone());
        match &self.refusal {
            Some((code, message)) => Err(AdminError::Kafka {
                request: format!("{op:?}"),
                code: *code,
                message: Some(message.clone()),
            }),
            None => Ok(()),
        }
    }
}

pub const NS: &str = "kafka";

pub fn cluster_json(spec: Value, finalizers: &[&str], deleting: bool) -> Value {
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

pub fn dynamic(v: &Value) -> Arc<DynamicObject> {
    Arc::new(serde_json::from_value(v.clone()).unwrap())
}

pub struct Verifier {
    pub handle: ApiHandle,
}

impl Verifier {
    /// Takes the next request, asserts method and path (query ignored), returns body.
    pub async fn expect(
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
    pub async fn apply(&mut self, path: &str) -> Value {
        let (body, query, send) = self.expect(Method::PATCH, path).await;
        assert!(query.contains("fieldManager=tidewater-operator"), "{query}");
        assert!(query.contains("force=true"), "{query}");
        send.send_response(ok(&body));
        body
    }

    pub async fn list(&mut self, path: &str, kind: &str, items: Vec<Value>) {
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

    /// The reconcile's first reads: the cluster's pods, then its claims (none here).
    pub async fn list_pods(&mut self, pods: Vec<Value>) {
        self.list_pods_and_claims(pods, vec![]).await;
    }

    /// The reconcile's first reads: the cluster's pods, then its claims (retained ones
    /// included: they carry the cluster's labels), then (with pods) its normal
    /// disruption budget.
    pub async fn list_pods_and_claims(&mut self, pods: Vec<Value>, claims: Vec<Value>) {
        let budget = (!pods.is_empty()).then(|| normal_budget(pods.len()));
        self.observe(pods, claims, budget).await;
    }

    /// As [`Verifier::list_pods`], the disruption budget read back as `budget` (`None`:
    /// not found).
    pub async fn list_pods_with_budget(&mut self, pods: Vec<Value>, budget: Option<Value>) {
        self.observe(pods, vec![], budget).await;
    }

    async fn observe(&mut self, pods: Vec<Value>, claims: Vec<Value>, budget: Option<Value>) {
        let seed = started_with(&pods);
        self.observe_seeded(pods, claims, budget, seed).await;
    }

    /// The reads of a reconcile of a cluster with dedicated controllers (`pods` has
    /// one): pods, claims, the normal budget, then the ConfigMap of the lowest
    /// controller, read back as `seed` (`None`: not found).
    pub async fn list_pods_with_seed(&mut self, pods: Vec<Value>, seed: Option<Value>) {
        let budget = normal_budget(pods.len());
        self.observe_seeded(pods, vec![], Some(budget), seed).await;
    }

    async fn observe_seeded(
        &mut self,
        pods: Vec<Value>,
        claims: Vec<Value>,
        budget: Option<Value>,
        seed: Option<Value>,
    ) {
        let any = !pods.is_empty();
        let lowest_controller = pods
            .iter()
            .filter_map(|p| p["metadata"]["labels"][build::NODE_ID_LABEL].as_str())
            .filter_map(|id| id.parse::<i32>().ok())
            .filter(|id| *id >= CONTROLLER_ID_BASE)
            .min();
        self.list(&format!("/api/v1/namespaces/{NS}/pods"), "PodList", pods)
            .await;
        self.list(
            &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"),
            "PersistentVolumeClaimList",
            claims,
        )
        .await;
        if any {
            let (_, _, send) = self.expect(Method::GET, &pdb_path()).await;
            send.send_response(match budget {
                Some(b) => ok(&b),
                None => failure(
                    404,
                    "NotFound",
                    "poddisruptionbudgets \"t-kafka\" not found",
                ),
            });
        }
        // The voters its nodes were started with, as its controllers' ConfigMaps list
        // them: one GET, of the lowest controller's.
        if let Some(id) = lowest_controller {
            let name = format!("t-controller-{id}-config");
            let (_, _, send) = self.expect(Method::GET, &core("configmaps", &name)).await;
            send.send_response(match seed {
                Some(map) => ok(&map),
                None => failure(404, "NotFound", &format!("configmaps \"{name}\" not found")),
            });
        }
    }

    /// What every reconcile of a valid spec applies before pods: each node's
    /// ConfigMap, both Services, each node's claim (`nodes` are pod names).
    pub async fn apply_configs_services_and_claims(&mut self, nodes: &[&str]) {
        self.apply_services_and_claims(nodes, nodes).await;
    }

    /// As [`Verifier::apply_configs_services_and_claims`], with the ConfigMaps of
    /// `configs` only: a node whose pod still runs an older revision gets its new config
    /// at its turn in the roll, not before.
    pub async fn apply_services_and_claims(&mut self, configs: &[&str], nodes: &[&str]) {
        for n in configs {
            self.apply(&core("configmaps", &format!("{n}-config")))
                .await;
        }
        self.apply(&core("services", "t-brokers")).await;
        self.apply(&core("services", "t-bootstrap")).await;
        for n in nodes {
            self.apply(&core("persistentvolumeclaims", &format!("data-{n}")))
                .await;
        }
    }

    /// An eviction of pod `name` (POST of its `eviction` subresource, never a DELETE),
    /// answered with `response`; returns the Eviction sent.
    pub async fn evict_with(&mut self, name: &str, response: Response<Body>) -> Value {
        let (body, _, send) = self
            .expect(Method::POST, &format!("{}/eviction", core("pods", name)))
            .await;
        assert_eq!(body["kind"], "Eviction", "{body}");
        assert_eq!(body["metadata"]["name"], name, "{body}");
        send.send_response(response);
        body
    }

    /// An eviction of pod `name` the API server grants.
    pub async fn evict(&mut self, name: &str) -> Value {
        let granted = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
        self.evict_with(name, ok(&granted)).await
    }

    /// DELETE of `path`, answered with success.
    pub async fn delete(&mut self, path: &str) {
        let (_, _, send) = self.expect(Method::DELETE, path).await;
        send.send_response(ok(
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
    }

    /// The orphan sweep after apply: ConfigMaps (these `stale` ones exist and are
    /// deleted), then Services and PodDisruptionBudgets (none left over).
    pub async fn sweep_orphans(&mut self, stale_config_maps: &[&str]) {
        self.sweep_orphans_keeping(&[], stale_config_maps).await;
    }

    /// As [`Verifier::sweep_orphans`], the ConfigMaps of `kept` existing too (ConfigMaps
    /// of nodes the spec dropped but whose pods stay): they are not deleted.
    pub async fn sweep_orphans_keeping(&mut self, kept: &[&str], stale_config_maps: &[&str]) {
        let items = kept
            .iter()
            .chain(stale_config_maps)
            .map(|n| json!({"metadata": {"name": n, "namespace": NS}}))
            .collect();
        self.list(
            &format!("/api/v1/namespaces/{NS}/configmaps"),
            "ConfigMapList",
            items,
        )
        .await;
        for n in stale_config_maps {
            self.delete(&core("configmaps", n)).await;
        }
        self.list(
            &format!("/api/v1/namespaces/{NS}/services"),
            "ServiceList",
            vec![],
        )
        .await;
        self.list(
            &format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"),
            "PodDisruptionBudgetList",
            vec![],
        )
        .await;
    }

    /// A patch of the `KafkaCluster` object itself (finalizer changes); returns the
    /// patch body and answers with `echoed`.
    pub async fn patch_cluster(&mut self, echoed: &Value) -> Value {
        let (body, _, send) = self.expect(Method::PATCH, &cluster_path()).await;
        send.send_response(ok(echoed));
        body
    }

    /// An Event of `reason` about the cluster; returns its note.
    pub async fn event(&mut self, reason: &str) -> String {
        let body = self.event_about("KafkaCluster", reason).await;
        body["note"].as_str().unwrap_or_default().to_owned()
    }

    /// An Event of `reason` about an object of `kind`; returns the Event.
    pub async fn event_about(&mut self, kind: &str, reason: &str) -> Value {
        let (body, _, send) = self
            .expect(
                Method::POST,
                &format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"),
            )
            .await;
        assert_eq!(body["reason"], reason, "{body}");
        assert_eq!(body["regarding"]["kind"], kind);
        send.send_response(ok(&body));
        body
    }

    pub async fn status(&mut self, cluster: &Value) -> Value {
        let (body, query, send) = self
            .expect(Method::PATCH, &format!("{}/status", cluster_path()))
            .await;
        assert!(query.contains("fieldManager=tidewater-operator"), "{query}");
        let mut echoed = cluster.clone();
        echoed["status"] = body["status"].clone();
        send.send_response(ok(&echoed));
        body["status"].clone()
    }

    pub async fn done(mut self) {
        if let Some((req, _)) = self.handle.next_request().await {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
    }
}

pub fn ok(v: &Value) -> Response<Body> {
    Response::builder()
        .status(200)
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

/// Runs one reconcile against a fresh mock; `script` plays the API server.
pub async fn drive<F, Fut>(obj: Value, admin: FixedAdmin, script: F)
where
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    drive_expecting(obj, admin, script, true).await;
}

pub async fn drive_expecting<F, Fut>(obj: Value, admin: FixedAdmin, script: F, succeeds: bool)
where
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    drive_with(obj, admin, reconcile, script, succeeds).await;
}

/// Runs one reconcile of `obj` by `run` (the cluster's or another controller's) with
/// `admin` in its context against a fresh mock; `script` plays the API server.
pub async fn drive_with<A, R, RFut, F, Fut>(obj: Value, admin: A, run: R, script: F, succeeds: bool)
where
    R: FnOnce(Arc<DynamicObject>, Arc<Context<A>>) -> RFut,
    RFut: std::future::Future<
            Output = Result<
                kube::runtime::controller::Action,
                tidewater_operator::controller::ReconcileError,
            >,
        >,
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = Arc::new(Context::new(client, Metrics::new().unwrap(), admin, None));
    let verifier = tokio::spawn(script(Verifier { handle }));
    let result = run(dynamic(&obj), ctx).await;
    // Dropping the context drops the last client: the verifier's stream ends.
    assert_eq!(result.is_ok(), succeeds, "{result:?}");
    tokio::time::timeout(std::time::Duration::from_secs(10), verifier)
        .await
        .expect("verifier finished")
        .unwrap();
}

pub fn cond<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap()
}

/// The node ids `status.brokers` lists, in its order.
pub fn broker_ids(status: &Value) -> Vec<i64> {
    status["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect()
}

/// The condition `t` of `status`, asserted to carry `reason` and a message holding
/// each of `message_parts`; returned for further checks.
pub fn assert_condition<'a>(
    status: &'a Value,
    t: &str,
    reason: &str,
    message_parts: &[&str],
) -> &'a Value {
    let condition = cond(status, t);
    assert_eq!(condition["reason"], reason, "{condition}");
    let message = condition["message"].as_str().unwrap_or_default();
    for part in message_parts {
        assert!(message.contains(part), "{t} lacks {part:?}: {condition}");
    }
    condition
}

/// Path of the test's `KafkaCluster` `t`.
pub fn cluster_path() -> String {
    format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t")
}

/// `obj` (a `cluster_json`) as the operator validates it.
pub fn validated(obj: &Value) -> ValidatedCluster {
    validate(&parse_cluster(&serde_yaml::to_string(obj).unwrap()).unwrap()).unwrap()
}

/// An API server error answer (`Status` object) with `code` and `reason`.
pub fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": reason, "code": code, "message": message});
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(&status).unwrap()))
        .unwrap()
}

pub fn core(kind: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/{kind}/{name}")
}

/// The normal budget of cluster `t` with `nodes` nodes, as the API server returns it.
pub fn normal_budget(nodes: usize) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "t-kafka", "namespace": NS},
        "spec": {"minAvailable": nodes.saturating_sub(1),
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "t"}}}})
}

pub fn pdb_path() -> String {
    format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/t-kafka")
}

/// A retained claim of node `id` of cluster `t`, annotated with `cluster_id` (none: made
/// before the annotation existed).
pub fn retained_claim(id: i32, cluster_id: Option<&str>) -> Value {
    let mut meta = json!({
        "name": format!("data-t-broker-{id}"),
        "namespace": NS,
        "labels": {
            "app.kubernetes.io/instance": "t",
            "app.kubernetes.io/managed-by": "tidewater-operator",
            build::NODE_ID_LABEL: id.to_string(),
        },
    });
    if let Some(cid) = cluster_id {
        meta["annotations"] = json!({ build::pvc::CLUSTER_ID_ANNOTATION: cid });
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}})
}

/// The ConfigMap the operator wrote for node `i` of `c`, as the API server returns it.
pub fn config_map(c: &ValidatedCluster, i: usize) -> Value {
    let mut map = serde_json::to_value(build::config::config_map(c, &c.nodes[i])).unwrap();
    map["apiVersion"] = json!("v1");
    map["kind"] = json!("ConfigMap");
    map
}

/// A controller's ConfigMap as if the controllers among `pods` were the voters the
/// cluster was formed with (no voter change ever happened): what the tests that do
/// not change the voter set read back.
fn started_with(pods: &[Value]) -> Option<Value> {
    let voters: Vec<String> = pods
        .iter()
        .filter_map(|p| {
            let id: i32 = p["metadata"]["labels"][build::NODE_ID_LABEL]
                .as_str()?
                .parse()
                .ok()?;
            let spec = &p["spec"];
            let host = format!(
                "{}.{}.{NS}.svc",
                spec["hostname"].as_str()?,
                spec["subdomain"].as_str()?
            );
            (id >= CONTROLLER_ID_BASE).then(|| format!("{id}@{host}:{}", build::CONTROLLER_PORT))
        })
        .collect();
    let properties = format!("controller.quorum.voters={}\n", voters.join(","));
    Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "started-with", "namespace": NS},
        "data": {build::config::PROPERTIES_KEY: properties}}))
}

pub fn ready_pod(c: &ValidatedCluster, i: usize) -> Value {
    let mut pod = serde_json::to_value(build::pod::pod(c, &c.nodes[i])).unwrap();
    pod["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    pod
}
