//! The user reconcile's pure parts: validation, the cluster check, the Secret's
//! contents and renewal, and the status.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::secret::{self, CA_CRT, PASSWORD, SASL_JAAS_CONFIG, USER_CRT, USER_KEY};
use super::*;
use crate::crd::KafkaUserSpec;
use crate::pki::{self, Validity};
use crate::test_support::example;

fn user(yaml: &str) -> KafkaUser {
    serde_yaml::from_str(yaml).unwrap()
}

const SCRAM: &str = r#"
apiVersion: tidewater.io/v1alpha1
kind: KafkaUser
metadata: {name: alice, labels: {tidewater.io/cluster: tide}}
spec:
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls:
      - resource: {type: topic, name: orders, patternType: prefix}
        operations: [Write, Describe]
"#;

#[test]
fn a_scram_user_is_its_name_and_a_tls_user_its_subject() {
    let u = validate_user(&user(SCRAM)).unwrap();
    assert_eq!(
        (u.cluster.as_str(), u.principal().as_str()),
        ("tide", "User:alice")
    );
    let acls = u.acls.unwrap();
    assert_eq!(acls.len(), 2);
    assert!(
        acls.iter()
            .all(|a| a.principal == "User:alice" && a.pattern_type == 4)
    );
    let tls = validate_user(&user(&SCRAM.replace("scram-sha-512", "tls"))).unwrap();
    assert_eq!(tls.username(), "CN=alice");
    assert!(
        tls.acls
            .unwrap()
            .iter()
            .all(|a| a.principal == "User:CN=alice")
    );
}

#[test]
fn bad_input_is_a_reason_not_a_crash() {
    let no_label = SCRAM.replace("labels: {tidewater.io/cluster: tide}", "labels: {}");
    assert_eq!(
        validate_user(&user(&no_label)).unwrap_err().reason,
        "InvalidSpec"
    );
    let no_name = SCRAM.replace("name: orders, ", "");
    let e = validate_user(&user(&no_name)).unwrap_err();
    assert!(e.message.contains("acls[0]"), "{e}");
    let tls_password = SCRAM.replace(
        "{type: scram-sha-512}",
        "{type: tls, password: {valueFrom: {secretKeyRef: {name: s, key: k}}}}",
    );
    assert_eq!(
        validate_user(&user(&tls_password)).unwrap_err().reason,
        "InvalidSpec"
    );
    let mut bad_name = user(SCRAM);
    bad_name.metadata.name = Some("a,b=c".into());
    assert_eq!(validate_user(&bad_name).unwrap_err().reason, "InvalidSpec");
}

#[test]
fn a_cluster_without_the_authentication_is_named_as_the_reason() {
    let secured = example("secured.yaml");
    let u = validate_user(&user(SCRAM)).unwrap();
    assert_eq!(check_cluster(&secured, &u), Ok(()));
    let plain = example("single-broker.yaml");
    let e = check_cluster(&plain, &u).unwrap_err();
    assert_eq!(e.reason, "AuthenticationNotEnabled");
}

#[test]
fn a_scram_secret_keeps_its_password_and_takes_the_users_own() {
    let first = secret::scram("alice", &BTreeMap::new(), None).unwrap();
    assert!(first.changed);
    let password = first.data[PASSWORD].clone();
    assert_eq!(password.len(), 32);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        first.data[SASL_JAAS_CONFIG],
        format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{password}\";"
        )
    );
    let again = secret::scram("alice", &first.data, None).unwrap();
    assert!(!again.changed);
    assert_eq!(again.data, first.data);
    let own = secret::scram("alice", &first.data, Some("s3cret")).unwrap();
    assert!(own.changed);
    assert_eq!(own.data[PASSWORD], "s3cret");
    assert_ne!(secret::generate_password().unwrap(), password);
}

#[test]
fn a_tls_secret_holds_a_cn_only_certificate_from_the_clients_ca_renewed_when_due() {
    let v = Validity {
        days: 30,
        renewal_days: 5,
    };
    let ca = pki::generate_ca(
        "tide clients-ca",
        Validity {
            days: 365,
            renewal_days: 30,
        },
        0,
    )
    .unwrap();
    let first = secret::tls("alice", &BTreeMap::new(), &ca, v, 0).unwrap();
    assert!(first.changed);
    assert_eq!(first.issued, Some(pki::Renewal::Missing));
    assert_eq!(first.data[CA_CRT], ca.cert);
    assert!(pki::verify_issued(&first.data[USER_CRT], &ca.cert));
    assert!(first.data[USER_KEY].contains("PRIVATE KEY"));
    let der = x509_parser::pem::parse_x509_pem(first.data[USER_CRT].as_bytes())
        .unwrap()
        .1
        .contents;
    let (_, cert) =
        <x509_parser::prelude::X509Certificate as x509_parser::prelude::FromDer<_>>::from_der(&der)
            .unwrap();
    assert_eq!(cert.subject().to_string(), "CN=alice");
    // Kept while valid; reissued inside the renewal window.
    let later = secret::tls("alice", &first.data, &ca, v, 20 * 86_400).unwrap();
    assert!(!later.changed);
    let due = secret::tls("alice", &first.data, &ca, v, 26 * 86_400).unwrap();
    assert!(due.changed);
    assert_eq!(due.issued, Some(pki::Renewal::Expiring));
    assert_ne!(due.data[USER_CRT], first.data[USER_CRT]);
}

#[test]
fn status_reports_ready_or_the_reason_and_keeps_the_transition_time() {
    let at = |s| Time(Timestamp::from_second(s).unwrap());
    let failed = Err(NotReady::new(
        "ClusterNotFound",
        "KafkaCluster tide not found",
    ));
    let s1 = status::status(None, Some(1), "alice", &failed, &at(10));
    assert_eq!(s1.conditions[0].status, "False");
    assert_eq!(s1.conditions[0].reason, "ClusterNotFound");
    assert_eq!(s1.secret, None);
    let s2 = status::status(Some(&s1), Some(2), "alice", &Ok("alice".into()), &at(20));
    assert_eq!(
        (
            s2.conditions[0].status.as_str(),
            s2.conditions[0].reason.as_str()
        ),
        ("True", "Ready")
    );
    assert_eq!(
        (s2.username.as_deref(), s2.secret.as_deref()),
        (Some("alice"), Some("alice"))
    );
    assert_eq!(s2.observed_generation, Some(2));
    let s3 = status::status(Some(&s2), Some(2), "alice", &Ok("alice".into()), &at(30));
    assert_eq!(s3.conditions[0].last_transition_time, at(20));
}

#[test]
fn the_spec_round_trips_with_defaults() {
    let u = user(SCRAM);
    let KafkaUserSpec { authorization, .. } = &u.spec;
    let rule = &authorization.as_ref().unwrap().acls[0];
    assert_eq!(rule.host, "*");
    assert_eq!(rule.kind, crate::crd::AclRuleType::Allow);
}

#[test]
fn only_another_previous_username_is_stale() {
    let v = validate_user(&user(SCRAM)).unwrap();
    let creds = secret::scram("alice", &BTreeMap::new(), Some("p")).unwrap();
    let d = |prev: Option<&str>| admin::DesiredUser::of(&v, &creds, prev.map(str::to_owned));
    assert_eq!(d(None).stale(), None);
    assert_eq!(d(Some("alice")).stale(), None);
    assert_eq!(d(Some("CN=alice")).stale(), Some(("CN=alice", false)));
    assert_eq!(d(Some("bob")).stale(), Some(("bob", true)));
    assert_eq!(d(None).password.as_deref(), Some("p"));
}
