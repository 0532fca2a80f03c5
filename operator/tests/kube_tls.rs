//! Mocked API server tests of a secured cluster's certificates (issue 14 item 6): the
//! CAs and each node's certificate live in Secrets owned by the `KafkaCluster`, written
//! before the pods that mount them; a fresh certificate is left alone, and one inside
//! its renewal window is reissued by rewriting its Secret (no pod is touched: the
//! broker reloads the mounted files). Exact request sequences (see `mock`).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use base64::Engine;
use http::Method;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tidewater_operator::build::secrets::node_sans;
use tidewater_operator::controller::FINALIZER;
use tidewater_operator::pki::{self, CaPem, Validity};

use mock::*;

const DAY: i64 = 86_400;

fn secured_spec() -> Value {
    json!({"version": "0.1.0", "brokers": 1,
           "listeners": [{"name": "tls", "port": 9092, "tls": true, "authentication": {"type": "tls"}}],
           "clusterCa": {"validityDays": 30, "renewalDays": 5}})
}

fn secret_text(s: &Value, key: &str) -> String {
    let b64 = s["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {s}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn secret(name: &str, entries: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "data": data})
}

/// GET of a Secret answered 404.
async fn absent(v: &mut Verifier, name: &str) {
    let (_, _, send) = v.expect(Method::GET, &core("secrets", name)).await;
    send.send_response(failure(404, "NotFound", "not found"));
}

/// GET of a Secret answered with `body`.
async fn present(v: &mut Verifier, name: &str, body: &Value) {
    let (_, _, send) = v.expect(Method::GET, &core("secrets", name)).await;
    send.send_response(ok(body));
}

#[tokio::test]
async fn a_secured_cluster_gets_owned_ca_and_node_secrets_before_its_pod_mounts_them() {
    let obj = cluster_json(secured_spec(), &[FINALIZER], false);
    let cluster = obj.clone();
    let c = validated(&obj);
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list_pods(vec![]).await;
        absent(&mut v, "t-cluster-ca").await;
        let ca = v.apply(&core("secrets", "t-cluster-ca")).await;
        assert_eq!(ca["metadata"]["ownerReferences"][0]["kind"], "KafkaCluster");
        let cluster_ca = CaPem {
            cert: secret_text(&ca, "ca.crt"),
            key: secret_text(&ca, "ca.key"),
        };
        let public = v.apply(&core("secrets", "t-cluster-ca-cert")).await;
        assert_eq!(secret_text(&public, "ca.crt"), cluster_ca.cert);
        assert!(public["data"].get("ca.key").is_none(), "{public}");
        absent(&mut v, "t-clients-ca").await;
        let clients = v.apply(&core("secrets", "t-clients-ca")).await;
        v.apply(&core("secrets", "t-clients-ca-cert")).await;
        absent(&mut v, "t-broker-0-certs").await;
        let node = v.apply(&core("secrets", "t-broker-0-certs")).await;
        assert_eq!(
            node["metadata"]["ownerReferences"][0]["kind"],
            "KafkaCluster"
        );
        // The leaf is the cluster CA's, for the pod's DNS names, for the spec's validity.
        let leaf = secret_text(&node, "broker.crt");
        let v30 = Validity {
            days: 30,
            renewal_days: 5,
        };
        let now = Timestamp::now().as_second();
        assert_eq!(
            pki::leaf_renewal(
                Some(&leaf),
                &cluster_ca,
                &node_sans(&c, &c.nodes[0]),
                v30,
                now
            ),
            None
        );
        assert!(node_sans(&c, &c.nodes[0]).contains(&"t-broker-0.t-brokers.kafka.svc".to_owned()));
        let keystore = secret_text(&node, "keystore.pem");
        assert!(keystore.starts_with("-----BEGIN PRIVATE KEY-----") && keystore.contains(&leaf));
        assert_eq!(secret_text(&node, "cluster-ca.crt"), cluster_ca.cert);
        assert_eq!(
            secret_text(&node, "clients-ca.crt"),
            secret_text(&clients, "ca.crt")
        );

        let cm = v.apply(&core("configmaps", "t-broker-0-config")).await;
        let props = cm["data"]["server.properties"].as_str().unwrap();
        assert!(
            props.contains("listener.name.tls.ssl.client.auth=required"),
            "{props}"
        );
        assert!(
            props.contains(
                "listener.name.tls.ssl.truststore.location=/etc/tidewater/tls/clients-ca.crt"
            ),
            "{props}"
        );
        assert!(
            props.contains("inter.broker.listener.name=REPLICATION"),
            "{props}"
        );
        v.apply(&core("services", "t-brokers")).await;
        v.apply(&core("services", "t-bootstrap")).await;
        v.apply(&core("persistentvolumeclaims", "data-t-broker-0"))
            .await;
        let pod = v.apply(&core("pods", "t-broker-0")).await;
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        let tls = volumes.iter().find(|v| v["name"] == "tls").unwrap();
        assert_eq!(tls["secret"]["secretName"], "t-broker-0-certs");
        let mounts = pod["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == "tls" && m["mountPath"] == "/etc/tidewater/tls")
        );
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        let status = v.status(&cluster).await;
        assert_eq!(
            status["listeners"],
            json!([{"name": "tls", "bootstrapServers": "t-bootstrap.kafka.svc:9092"}])
        );
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn current_cas_are_only_read_and_an_expiring_node_certificate_is_reissued_in_its_secret() {
    let obj = cluster_json(secured_spec(), &[FINALIZER], false);
    let cluster = obj.clone();
    let c = validated(&obj);
    let now = Timestamp::now().as_second();
    let v30 = Validity {
        days: 30,
        renewal_days: 5,
    };
    let cluster_ca = pki::generate_ca("t cluster-ca", v30, now).unwrap();
    let clients_ca = pki::generate_ca(
        "t clients-ca",
        Validity {
            days: 365,
            renewal_days: 30,
        },
        now,
    )
    .unwrap();
    // Issued 26 days ago: 4 days left, inside the 5-day renewal window.
    let sans = node_sans(&c, &c.nodes[0]);
    let old = pki::issue(&cluster_ca, "t-kafka", &sans, v30, now - 26 * DAY, true).unwrap();
    let node_secret = secret(
        "t-broker-0-certs",
        &[
            ("keystore.pem", &old.keystore(&cluster_ca)),
            ("broker.crt", &old.cert),
            ("broker.key", &old.key),
            ("cluster-ca.crt", &cluster_ca.cert),
            ("clients-ca.crt", &clients_ca.cert),
        ],
    );
    let ca_secret =
        |name: &str, ca: &CaPem| secret(name, &[("ca.crt", &ca.cert), ("ca.key", &ca.key)]);
    let (cca, kca) = (
        ca_secret("t-cluster-ca", &cluster_ca),
        ca_secret("t-clients-ca", &clients_ca),
    );
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list_pods(vec![]).await;
        // Both CAs are current: read, not written.
        present(&mut v, "t-cluster-ca", &cca).await;
        present(&mut v, "t-clients-ca", &kca).await;
        present(&mut v, "t-broker-0-certs", &node_secret).await;
        let renewed = v.apply(&core("secrets", "t-broker-0-certs")).await;
        let leaf = secret_text(&renewed, "broker.crt");
        assert_ne!(leaf, old.cert);
        assert!(pki::verify_issued(&leaf, &cluster_ca.cert));
        assert_eq!(pki::not_after(&leaf).map(|t| (t - now) / DAY), Some(30));
        // Then the other objects as on any create; no second Secret write.
        v.apply_configs_services_and_claims(&["t-broker-0"]).await;
        v.apply(&core("pods", "t-broker-0")).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
}

#[tokio::test]
async fn a_users_cluster_ca_is_read_from_its_secret_and_signs_the_broker_certificate() {
    let mut spec = secured_spec();
    spec["clusterCa"] = json!({"generateCertificateAuthority": false, "secretName": "my-ca"});
    let obj = cluster_json(spec, &[FINALIZER], false);
    let cluster = obj.clone();
    let now = Timestamp::now().as_second();
    let mine = pki::generate_ca(
        "my own CA",
        Validity {
            days: 100,
            renewal_days: 10,
        },
        now,
    )
    .unwrap();
    let my_secret = secret("my-ca", &[("ca.crt", &mine.cert), ("ca.key", &mine.key)]);
    drive(obj, FixedAdmin::default(), move |mut v| async move {
        v.list_pods(vec![]).await;
        present(&mut v, "my-ca", &my_secret).await;
        // Only its certificate is published for clients; the user's key is not copied.
        let public = v.apply(&core("secrets", "t-cluster-ca-cert")).await;
        assert_eq!(secret_text(&public, "ca.crt"), mine.cert);
        absent(&mut v, "t-clients-ca").await;
        v.apply(&core("secrets", "t-clients-ca")).await;
        v.apply(&core("secrets", "t-clients-ca-cert")).await;
        absent(&mut v, "t-broker-0-certs").await;
        let node = v.apply(&core("secrets", "t-broker-0-certs")).await;
        assert!(pki::verify_issued(
            &secret_text(&node, "broker.crt"),
            &mine.cert
        ));
        assert_eq!(secret_text(&node, "cluster-ca.crt"), mine.cert);
        v.apply_configs_services_and_claims(&["t-broker-0"]).await;
        v.apply(&core("pods", "t-broker-0")).await;
        v.apply(&pdb_path()).await;
        v.sweep_orphans(&[]).await;
        v.event("NodeCreated").await;
        v.status(&cluster).await;
        v.done().await;
    })
    .await;
}
