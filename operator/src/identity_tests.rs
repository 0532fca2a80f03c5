//! The operator's certificate: its principal as a broker prints it, issue and renewal
//! in memory, and the access it gives.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::build::tests::valid;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const V: Validity = Validity {
    days: 30,
    renewal_days: 5,
};

fn secured() -> ValidatedCluster {
    valid("  version: 0.1.0\n  brokers: 1\n  listeners: [{name: tls, port: 9092, tls: true}]\n")
}

/// The subject as Kafka's default principal mapping prints it: RFC 2253, last RDN
/// first (the broker's `security::principal` does the same).
fn kafka_principal(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            let atv = rdn.iter().next().unwrap();
            let name = match atv.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.10" => "O",
                other => panic!("unexpected attribute {other}"),
            };
            format!("{name}={}", atv.as_str().unwrap())
        })
        .collect();
    format!(
        "User:{}",
        rdns.into_iter().rev().collect::<Vec<_>>().join(",")
    )
}

#[test]
fn the_principals_are_what_the_issued_certificates_map_to() {
    let c = secured();
    let ca = pki::generate_ca("tide cluster-ca", V, NOW).unwrap();
    let operator = issue_operator_cert(&ca, V, NOW).unwrap();
    assert_eq!(kafka_principal(&operator.cert), operator_principal());
    assert_eq!(
        operator_principal(),
        "User:CN=tidewater-operator,O=tidewater.io"
    );
    let broker = pki::issue(&ca, &broker_common_name(&c), &[], V, NOW, true).unwrap();
    assert_eq!(kafka_principal(&broker.cert), broker_principal(&c));
    assert_eq!(broker_principal(&c), "User:CN=tide-kafka,O=tidewater.io");
}

#[test]
fn the_operator_certificate_is_issued_once_and_renewed_like_a_brokers() {
    let c = secured();
    let ids = Identities::default();
    assert!(
        ids.access(&c).is_none(),
        "no certificate before the first ensure"
    );
    let ca = pki::generate_ca("tide cluster-ca", V, NOW).unwrap();
    assert_eq!(ids.ensure(&c, &ca, V, NOW).unwrap(), Some(Renewal::Missing));
    let access = ids.access(&c).expect("access after ensure");
    assert!(access.security.as_ref().is_some_and(|s| s.tls.is_some()));
    assert_eq!(ids.ensure(&c, &ca, V, NOW + DAY).unwrap(), None);
    // Inside the renewal window.
    assert_eq!(
        ids.ensure(&c, &ca, V, NOW + 26 * DAY).unwrap(),
        Some(Renewal::Expiring)
    );
    // A replaced cluster CA: the old certificate would not be trusted any more.
    let other = pki::generate_ca("tide cluster-ca", V, NOW).unwrap();
    assert_eq!(
        ids.ensure(&c, &other, V, NOW + 26 * DAY).unwrap(),
        Some(Renewal::OtherCa)
    );
    // A plaintext cluster needs none.
    let plain = valid("  version: 0.1.0\n  brokers: 1\n");
    assert!(ids.access(&plain).is_some_and(|a| a.security.is_none()));
}

#[test]
fn plaintext_to_stale_brokers_is_only_ever_a_fallback_of_mtls() {
    let addrs: BTreeSet<String> = ["b-0:9090".to_owned()].into();
    assert!(
        AdminAccess::plaintext()
            .with_plaintext_until_rolled(addrs.clone())
            .plaintext_until_rolled
            .is_empty()
    );
    let ca = pki::generate_ca("tide cluster-ca", V, NOW).unwrap();
    let leaf = issue_operator_cert(&ca, V, NOW).unwrap();
    let access = AdminAccess::mtls(&leaf, &ca.cert)
        .unwrap()
        .with_plaintext_until_rolled(addrs.clone());
    assert_eq!(access.plaintext_until_rolled, addrs);
    assert!(AdminAccess::mtls(&leaf, "not a certificate").is_err());
}
