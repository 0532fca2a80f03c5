//! Mocked API server tests of the KafkaUser controller (issue 14 item 7): a SCRAM user
//! of a secured cluster gets its credential and ACLs through the admin API first, then
//! its Secret (owned by the user, Strimzi's keys) and a `Ready` status; the same
//! reconcile again writes no Secret; a missing cluster, a cluster without the
//! authentication and a refused admin call are `Ready=False` with their reasons;
//! deleting the user removes the credential and ACLs before the finalizer goes. Every
//! admin call to the secured cluster goes over mTLS with the operator's certificate;
//! before the cluster controller issued one, the user waits (`AdminFailed`).
//!
//! The admin calls are answered by `Users` (what the brokers would say); the real
//! calls run against brokers in `local_user.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use std::sync::{Arc, Mutex};

use http::{Method, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tidewater_client::ClientError;
use tidewater_client::kafka_protocol::messages::ApiKey;
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::controller::user::reconcile_user;
use tidewater_operator::crd::KafkaCluster;
use tidewater_operator::identity::AdminAccess;
use tidewater_operator::pki::{self, Validity};
use tidewater_operator::user::acl::AclDiff;
use tidewater_operator::user::admin::{DesiredUser, Synced, UserAdmin};
use tidewater_operator::validate::validate;

use mock::{NS, Verifier, cluster_json, failure, ok};

/// What the brokers answer to the user calls; records every call.
#[derive(Clone, Default)]
struct Users {
    synced: Arc<Mutex<Vec<(String, DesiredUser)>>>,
    removed: Arc<Mutex<Vec<(String, String, bool)>>>,
    /// Kafka error code every sync is refused with.
    refuse: Option<i16>,
    /// Per call (sync or remove): whether it was to go over mTLS.
    mtls: Arc<Mutex<Vec<bool>>>,
}

impl UserAdmin for Users {
    async fn sync_user(
        &self,
        bootstrap: &str,
        access: &AdminAccess,
        user: &DesiredUser,
    ) -> Result<Synced, ClientError> {
        self.mtls.lock().unwrap().push(access.security.is_some());
        self.synced
            .lock()
            .unwrap()
            .push((bootstrap.to_owned(), user.clone()));
        if let Some(code) = self.refuse {
            return Err(ClientError::Protocol {
                code,
                api: ApiKey::CreateAcls,
                message: None,
            });
        }
        Ok(Synced {
            credential_written: user.password_changed,
            acls: AclDiff {
                create: user.acls.clone().unwrap_or_default(),
                delete: Vec::new(),
            },
        })
    }

    async fn remove_user(
        &self,
        _bootstrap: &str,
        access: &AdminAccess,
        username: &str,
        principal: &str,
        scram: bool,
    ) -> Result<(), ClientError> {
        self.mtls.lock().unwrap().push(access.security.is_some());
        self.removed
            .lock()
            .unwrap()
            .push((username.to_owned(), principal.to_owned(), scram));
        Ok(())
    }
}

fn secured() -> Value {
    cluster_json(
        json!({"version": "0.3.0", "brokers": 3, "listeners": [
            {"name": "scram", "port": 9095, "tls": true, "authentication": {"type": "scram-sha-512"}}]}),
        &[FINALIZER],
        false,
    )
}

fn user_json(deleting: bool) -> Value {
    let mut meta = json!({"name": "alice", "namespace": NS, "generation": 2,
        "uid": "6e3f8b1c-0000-4000-8000-000000000001", "resourceVersion": "7",
        "labels": {"tidewater.io/cluster": "t"}, "finalizers": [FINALIZER]});
    if deleting {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    json!({"apiVersion": "tidewater.io/v1alpha1", "kind": "KafkaUser", "metadata": meta,
        "spec": {"authentication": {"type": "scram-sha-512"}, "authorization": {"type": "simple",
            "acls": [{"resource": {"type": "topic", "name": "orders", "patternType": "prefix"},
                      "operations": ["Write"]}]}}})
}

fn cluster_get() -> String {
    format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkaclusters/t")
}

fn user_path() -> String {
    format!("/apis/tidewater.io/v1alpha1/namespaces/{NS}/kafkausers/alice")
}

fn secret_path() -> String {
    format!("/api/v1/namespaces/{NS}/secrets/alice")
}

async fn get(v: &mut Verifier, path: &str, answer: Response<Body>) {
    let (_, _, send) = v.expect(Method::GET, path).await;
    send.send_response(answer);
}

fn not_found() -> Response<Body> {
    failure(404, "NotFound", "not found")
}

async fn user_event(v: &mut Verifier, reason: &str) -> Value {
    v.event_about("KafkaUser", reason).await
}

async fn user_status(v: &mut Verifier) -> Value {
    let (body, query, send) = v
        .expect(Method::PATCH, &format!("{}/status", user_path()))
        .await;
    assert!(query.contains("fieldManager=tidewater-operator"), "{query}");
    let mut echoed = user_json(false);
    echoed["status"] = body["status"].clone();
    send.send_response(ok(&echoed));
    body["status"].clone()
}

fn ready(status: &Value) -> (String, String) {
    let c = mock::cond(status, "Ready");
    (
        c["status"].as_str().unwrap().to_owned(),
        c["reason"].as_str().unwrap().to_owned(),
    )
}

/// The reconcile of `obj` after the cluster controller issued the operator's
/// certificate of cluster `t` (as its reconcile of `t` does).
async fn run<F, Fut>(obj: Value, admin: Users, script: F)
where
    F: FnOnce(Verifier) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let reconcile = |obj, ctx: Arc<tidewater_operator::controller::Context<Users>>| async move {
        let k: KafkaCluster = serde_json::from_value(secured()).unwrap();
        let c = validate(&k).unwrap();
        let v = Validity::from(&c.cluster_ca);
        let ca = pki::generate_ca("t cluster-ca", v, 1_800_000_000).unwrap();
        ctx.identities.ensure(&c, &ca, v, 1_800_000_000).unwrap();
        reconcile_user(obj, ctx).await
    };
    mock::drive_with(obj, admin, reconcile, script, true).await;
}

#[tokio::test]
async fn create_syncs_kafka_then_writes_the_owned_secret_and_ready() {
    let admin = Users::default();
    let written = Arc::new(Mutex::new(Value::Null));
    let w = Arc::clone(&written);
    run(user_json(false), admin.clone(), |mut v| async move {
        get(&mut v, &cluster_get(), ok(&secured())).await;
        get(&mut v, &secret_path(), not_found()).await;
        // Kafka first (the admin mock), then the Secret.
        let secret = v.apply(&secret_path()).await;
        *w.lock().unwrap() = secret;
        user_event(&mut v, "UserUpdated").await;
        let status = user_status(&mut v).await;
        assert_eq!(ready(&status), ("True".into(), "Ready".into()));
        assert_eq!(status["username"], "alice");
        assert_eq!(status["secret"], "alice");
        assert_eq!(status["observedGeneration"], 2);
        v.done().await;
    })
    .await;
    let synced = admin.synced.lock().unwrap().clone();
    assert_eq!(synced.len(), 1);
    let (bootstrap, user) = &synced[0];
    // A secured cluster's admin listener: OPERATOR on the bootstrap Service.
    assert_eq!(bootstrap, "t-bootstrap.kafka.svc:9090");
    assert_eq!(admin.mtls.lock().unwrap().clone(), [true], "over mTLS");
    assert_eq!(user.principal, "User:alice");
    assert!(user.password_changed);
    let acls = user.acls.clone().unwrap();
    assert_eq!(acls.len(), 1);
    assert_eq!(
        (
            acls[0].resource_name.as_str(),
            acls[0].pattern_type,
            acls[0].operation
        ),
        ("orders", 4, 4)
    );
    let secret = written.lock().unwrap().clone();
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["kind"],
        "KafkaUser"
    );
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        "6e3f8b1c-0000-4000-8000-000000000001"
    );
    let data = secret["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["password", "sasl.jaas.config"]);
    // The Secret holds the password Kafka was given.
    use base64::Engine;
    let password = base64::engine::general_purpose::STANDARD
        .decode(data["password"].as_str().unwrap())
        .unwrap();
    assert_eq!(Some(String::from_utf8(password).unwrap()), user.password);
}

#[tokio::test]
async fn an_unchanged_user_writes_no_secret() {
    let admin = Users::default();
    // The Secret as the first reconcile wrote it, owned by the user.
    let existing = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "alice", "namespace": NS, "ownerReferences": [{"apiVersion": "tidewater.io/v1alpha1",
            "kind": "KafkaUser", "name": "alice", "uid": "6e3f8b1c-0000-4000-8000-000000000001"}]},
        "data": {"password": "czNjcmV0",
                 "sasl.jaas.config": base64_of("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cret\";")}});
    run(user_json(false), admin.clone(), |mut v| async move {
        get(&mut v, &cluster_get(), ok(&secured())).await;
        get(&mut v, &secret_path(), ok(&existing)).await;
        // The mock reports the ACL created: an event, but no Secret write.
        user_event(&mut v, "UserUpdated").await;
        let status = user_status(&mut v).await;
        assert_eq!(ready(&status).0, "True");
        v.done().await;
    })
    .await;
    let synced = admin.synced.lock().unwrap().clone();
    assert_eq!(synced[0].1.password.as_deref(), Some("s3cret"));
    assert!(!synced[0].1.password_changed);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_missing_cluster_is_cluster_not_found() {
    let admin = Users::default();
    run(user_json(false), admin.clone(), |mut v| async move {
        get(&mut v, &cluster_get(), not_found()).await;
        user_event(&mut v, "ClusterNotFound").await;
        let status = user_status(&mut v).await;
        assert_eq!(ready(&status), ("False".into(), "ClusterNotFound".into()));
        v.done().await;
    })
    .await;
    assert!(admin.synced.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_cluster_without_scram_is_authentication_not_enabled() {
    let plain = cluster_json(
        json!({"version": "0.3.0", "brokers": 1}),
        &[FINALIZER],
        false,
    );
    run(user_json(false), Users::default(), |mut v| async move {
        get(&mut v, &cluster_get(), ok(&plain)).await;
        user_event(&mut v, "AuthenticationNotEnabled").await;
        let status = user_status(&mut v).await;
        assert_eq!(
            ready(&status),
            ("False".into(), "AuthenticationNotEnabled".into())
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_admin_call_is_admin_failed_and_writes_no_secret() {
    let admin = Users {
        refuse: Some(31), // CLUSTER_AUTHORIZATION_FAILED
        ..Users::default()
    };
    run(user_json(false), admin, |v| {
        admin_failed(v, "ClusterAuthorizationFailed")
    })
    .await;
}

/// The API requests of a create whose admin call did not happen or failed: the user is
/// `Ready=False, AdminFailed` with `message` in the condition, and no Secret is written.
async fn admin_failed(mut v: Verifier, message: &'static str) {
    get(&mut v, &cluster_get(), ok(&secured())).await;
    get(&mut v, &secret_path(), not_found()).await;
    user_event(&mut v, "AdminFailed").await;
    let status = user_status(&mut v).await;
    assert_eq!(ready(&status), ("False".into(), "AdminFailed".into()));
    let got = mock::cond(&status, "Ready")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(got.contains(message), "{got}");
    v.done().await;
}

#[tokio::test]
async fn without_the_operators_certificate_the_user_waits() {
    let admin = Users::default();
    let script = |v| admin_failed(v, "no client certificate");
    mock::drive_with(
        user_json(false),
        admin.clone(),
        reconcile_user,
        script,
        true,
    )
    .await;
    assert!(
        admin.synced.lock().unwrap().is_empty(),
        "no admin call without mTLS"
    );
}

#[tokio::test]
async fn delete_removes_the_credential_and_acls_then_the_finalizer() {
    let admin = Users::default();
    run(user_json(true), admin.clone(), |mut v| async move {
        get(&mut v, &cluster_get(), ok(&secured())).await;
        user_event(&mut v, "UserDeleted").await;
        let (body, _, send) = v.expect(Method::PATCH, &user_path()).await;
        assert!(body.to_string().contains("/metadata/finalizers"), "{body}");
        let mut echoed = user_json(true);
        echoed["metadata"]["finalizers"] = json!([]);
        send.send_response(ok(&echoed));
        v.done().await;
    })
    .await;
    assert_eq!(
        admin.removed.lock().unwrap().clone(),
        [("alice".to_owned(), "User:alice".to_owned(), true)]
    );
    assert_eq!(admin.mtls.lock().unwrap().clone(), [true]);
}

#[tokio::test]
async fn a_changed_authentication_type_names_the_old_principal_to_remove() {
    let admin = Users::default();
    let mut was_tls = user_json(false);
    was_tls["status"] = json!({"username": "CN=alice", "secret": "alice"});
    run(was_tls, admin.clone(), |mut v| async move {
        get(&mut v, &cluster_get(), ok(&secured())).await;
        get(&mut v, &secret_path(), not_found()).await;
        v.apply(&secret_path()).await;
        user_event(&mut v, "UserUpdated").await;
        let status = user_status(&mut v).await;
        assert_eq!(status["username"], "alice");
        v.done().await;
    })
    .await;
    let synced = admin.synced.lock().unwrap().clone();
    // The admin removes User:CN=alice's ACLs (no SCRAM credential: it was a tls user).
    assert_eq!(synced[0].1.stale(), Some(("CN=alice", false)));
}
