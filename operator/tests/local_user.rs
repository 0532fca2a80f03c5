//! KafkaUsers on the local runtime (issue 14 item 7): the secured three-zone example
//! (`examples/secured.yaml`, with Kafka's `StandardAuthorizer` switched on) runs three
//! real brokers; `local user apply` of `examples/users/user.yaml` writes a generated
//! SCRAM password that kcat produces with to a topic its prefix ACL allows
//! (`orders-1`) and is refused on one without (TOPIC_AUTHORIZATION_FAILED); a TLS
//! user's certificate reads over mTLS as `User:CN=<name>`; a changed ACL list takes
//! effect (created and deleted ACLs); `local user delete` makes the SCRAM login fail.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use local_cluster::*;

/// `kcat` with `args` and `-X` settings, `input` on stdin; (success, stdout+stderr).
fn kcat(args: &[&str], settings: &[String], input: &str) -> (bool, String) {
    let mut all: Vec<&str> = args.to_vec();
    for s in settings {
        all.extend(["-X", s.as_str()]);
    }
    let out = kcat_output(&all, input);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Produces `value` to `topic`: Ok, or Err(kcat's output) when the delivery failed.
fn produce(bootstrap: &str, topic: &str, settings: &[String], value: &str) -> Result<(), String> {
    let (ok, text) = kcat(&["-P", "-b", bootstrap, "-t", topic], settings, value);
    if ok && !text.contains("failed") && !text.contains("ERROR") {
        Ok(())
    } else {
        Err(text)
    }
}

/// The first message of `topic` from the beginning.
fn consume_one(bootstrap: &str, topic: &str, settings: &[String]) -> (bool, String) {
    kcat(
        &[
            "-C",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-o",
            "beginning",
            "-c",
            "1",
            "-e",
            "-q",
        ],
        settings,
        "",
    )
}

fn sasl(ca: &Path, user: &str, password: &str) -> Vec<String> {
    vec![
        "security.protocol=sasl_ssl".to_owned(),
        "sasl.mechanisms=SCRAM-SHA-512".to_owned(),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
        format!("ssl.ca.location={}", ca.display()),
        "message.timeout.ms=20000".to_owned(),
    ]
}

fn user_cmd(args: &[&str], state: &Path) -> (bool, String) {
    let out = Command::new(operator())
        .args(["local", "user"])
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn apply_user(state: &Path, yaml: &str, file: &str) -> String {
    let path = state.join(file);
    std::fs::write(&path, yaml).unwrap();
    let (ok, text) = user_cmd(&["apply", "-f", path.to_str().unwrap()], state);
    assert!(ok, "local user apply {file}: {text}");
    text
}

const TLS_USER: &str = r#"
apiVersion: tidewater.io/v1alpha1
kind: KafkaUser
metadata:
  name: reader
  labels: {tidewater.io/cluster: tide}
spec:
  authentication: {type: tls}
  authorization:
    type: simple
    acls:
      - resource: {type: topic, name: orders-1}
        operations: [Read, Describe]
"#;

#[test]
fn a_users_secret_works_with_kcat_its_acls_apply_and_deleting_it_revokes_access() {
    let _slot = multi_node_slot();
    // The secured example with Kafka's authorizer on and no `super.users` of its own:
    // the operator makes the brokers (the cluster CA's `CN=tide-kafka,O=tidewater.io`)
    // and itself (`CN=tidewater-operator,O=tidewater.io`, on its mTLS OPERATOR
    // listener) super users; everyone else needs ACLs. No `User:ANONYMOUS`.
    let spec = std::fs::read_to_string(example("secured.yaml")).unwrap()
        + "    authorizer.class.name: org.apache.kafka.metadata.authorizer.StandardAuthorizer\n";
    assert!(!spec.contains("super.users"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secured-acl.yaml");
    std::fs::write(&file, spec).unwrap();
    let c = LocalCluster::up(&file);
    c.wait("Ready", 180);
    let s = c.status();
    let (scram, mtls) = (listener(&s, "scram"), listener(&s, "mtls"));
    let state = c.state.path();
    let ca = state.join("tide/pki/cluster-ca.crt");
    let props = std::fs::read_to_string(state.join("tide/broker-0/server.properties")).unwrap();
    assert!(
        props.contains(
            "super.users=User:CN=tide-kafka,O=tidewater.io;User:CN=tidewater-operator,O=tidewater.io\n"
        ),
        "{props}"
    );
    with_operator_admin(state, |a| async move {
        for topic in ["orders-1", "payments"] {
            a.create_topic(topic, 1, 3, &BTreeMap::new()).await.unwrap();
        }
    });

    // SCRAM user from the example: a generated password, Write on the prefix `orders`.
    let example_user = std::fs::read_to_string(example("users/user.yaml")).unwrap();
    let out = apply_user(state, &example_user, "orders-app.yaml");
    let files = state.join("users/orders-app");
    assert!(out.contains(files.to_str().unwrap()), "{out}");
    let password = std::fs::read_to_string(files.join("password")).unwrap();
    assert_eq!(password.len(), 32);
    let jaas = std::fs::read_to_string(files.join("sasl.jaas.config")).unwrap();
    assert!(jaas.contains(&format!("password=\"{password}\"")), "{jaas}");
    let alice = sasl(&ca, "orders-app", &password);
    produce(&scram, "orders-1", &alice, "hello").unwrap();
    let (ok, got) = consume_one(&scram, "orders-1", &alice);
    assert!(ok && got.contains("hello"), "{got}");
    let refused = produce(&scram, "payments", &alice, "nope").unwrap_err();
    assert!(refused.contains("Topic authorization failed"), "{refused}");
    // A second apply changes nothing: same password, no ACL churn.
    apply_user(state, &example_user, "orders-app.yaml");
    assert_eq!(
        std::fs::read_to_string(files.join("password")).unwrap(),
        password
    );

    // TLS user: a clients-CA certificate, principal User:CN=reader, Read on orders-1.
    apply_user(state, TLS_USER, "reader.yaml");
    let certs = state.join("users/reader");
    let mtls_settings = vec![
        "security.protocol=ssl".to_owned(),
        format!("ssl.ca.location={}", ca.display()),
        format!(
            "ssl.certificate.location={}",
            certs.join("user.crt").display()
        ),
        format!("ssl.key.location={}", certs.join("user.key").display()),
    ];
    let (ok, got) = consume_one(&mtls, "orders-1", &mtls_settings);
    assert!(ok && got.contains("hello"), "mTLS reader: {got}");
    let refused = produce(&mtls, "orders-1", &mtls_settings, "no write").unwrap_err();
    assert!(refused.contains("Topic authorization failed"), "{refused}");

    // The OPERATOR listener: no plaintext client, and the clients CA's certificates
    // (every user's) are not let in at all, let alone as a super user: it trusts only
    // the cluster CA, which signs the brokers' and the operator's certificates alone.
    let operator_port = operator_listener(state);
    let (ok, out) = kcat(&["-L", "-b", &operator_port, "-m", "10"], &[], "");
    assert!(
        !ok && !out.contains("brokers:"),
        "plaintext on OPERATOR: {out}"
    );
    let (ok, out) = kcat(
        &["-L", "-b", &operator_port, "-m", "10"],
        &mtls_settings,
        "",
    );
    assert!(
        !ok && !out.contains("brokers:"),
        "a user's certificate on OPERATOR: {out}"
    );

    // The reader turns into a SCRAM user: User:CN=reader's ACLs go with the old type
    // (its certificate, kept aside, still connects but may no longer see orders-1).
    let kept = tempfile::tempdir().unwrap();
    for f in ["user.crt", "user.key"] {
        std::fs::copy(certs.join(f), kept.path().join(f)).unwrap();
    }
    let old_cert = vec![
        "security.protocol=ssl".to_owned(),
        format!("ssl.ca.location={}", ca.display()),
        format!(
            "ssl.certificate.location={}",
            kept.path().join("user.crt").display()
        ),
        format!(
            "ssl.key.location={}",
            kept.path().join("user.key").display()
        ),
    ];
    let describe = |settings: &[String]| {
        kcat(
            &["-L", "-b", &mtls, "-t", "orders-1", "-m", "10"],
            settings,
            "",
        )
        .1
    };
    let before = describe(&old_cert);
    assert!(
        before.contains("partition 0") && !before.contains("authorization failed"),
        "{before}"
    );
    apply_user(
        state,
        &TLS_USER.replace("type: tls", "type: scram-sha-512"),
        "reader.yaml",
    );
    assert!(certs.join("password").exists() && !certs.join("user.crt").exists());
    let after = describe(&old_cert);
    assert!(after.contains("Topic authorization failed"), "{after}");

    // Changed ACLs: the prefix moves from `orders` to `payments`.
    let changed = example_user.replace("name: orders\n", "name: payments\n");
    assert_ne!(changed, example_user);
    apply_user(state, &changed, "orders-app.yaml");
    produce(&scram, "payments", &alice, "now allowed").unwrap();
    let refused = produce(&scram, "orders-1", &alice, "no longer").unwrap_err();
    assert!(refused.contains("Topic authorization failed"), "{refused}");

    // Deleting the user revokes its login.
    let (ok, out) = user_cmd(&["delete", "orders-app"], state);
    assert!(ok, "{out}");
    assert!(!files.exists());
    let (ok, out) = kcat(&["-L", "-b", &scram, "-m", "10"], &alice, "");
    assert!(
        !ok && out.contains("Authentication failed"),
        "SCRAM login after delete: {out}"
    );
    assert!(c.events().contains("UserDeleted"), "{}", c.events());
}
