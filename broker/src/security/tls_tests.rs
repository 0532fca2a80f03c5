//! The SSL listener config: Kafka's keys resolved per listener, and every
//! refusal naming its key.

use std::collections::BTreeMap;

use super::*;

#[allow(dead_code)]
#[path = "../../tests/common/certs.rs"]
pub(in crate::security) mod certs;

/// Broker properties from `(key, value)` pairs (the SASL tests use it too).
pub(in crate::security) fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn refusal(pairs: &[(&str, &str)]) -> String {
    match server_config(&props(pairs), "SSL") {
        Ok(_) => panic!("{pairs:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn inline_and_file_keystores_both_load() {
    let ca = certs::TestCa::new("test ca");
    let server = ca.server();
    let dir = tempfile::tempdir().unwrap();
    let keystore = certs::write(dir.path(), "server.pem", &server.keystore());
    let truststore = certs::write(dir.path(), "ca.pem", &ca.pem);
    server_config(
        &props(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", keystore.to_str().unwrap()),
            ("ssl.truststore.location", truststore.to_str().unwrap()),
            ("ssl.client.auth", "required"),
        ]),
        "SSL",
    )
    .unwrap();
    server_config(
        &props(&[
            ("ssl.keystore.certificate.chain", &server.chain),
            ("ssl.keystore.key", &server.key),
            ("ssl.truststore.certificates", &ca.pem),
            ("ssl.client.auth", "requested"),
            ("ssl.enabled.protocols", "TLSv1.3"),
        ]),
        "SSL",
    )
    .unwrap();
}

#[test]
fn a_listener_prefix_wins_over_the_plain_key() {
    let ca = certs::TestCa::new("test ca");
    let server = ca.server();
    // The plain key is unusable; the INTERNAL listener's own one is what counts.
    let p = props(&[
        ("ssl.keystore.location", "/nonexistent/server.pem"),
        (
            "listener.name.internal.ssl.keystore.certificate.chain",
            &server.chain,
        ),
        ("listener.name.internal.ssl.keystore.key", &server.key),
    ]);
    let err = server_config(&p, "INTERNAL").unwrap_err().to_string();
    // Both forms at once are refused, naming the prefixed key set alongside.
    assert!(err.contains("ssl.keystore.location"), "{err}");
    let p = props(&[
        ("ssl.keystore.type", "JKS"),
        ("listener.name.internal.ssl.keystore.type", "PEM"),
        (
            "listener.name.internal.ssl.keystore.certificate.chain",
            &server.chain,
        ),
        ("listener.name.internal.ssl.keystore.key", &server.key),
    ]);
    server_config(&p, "INTERNAL").unwrap();
    assert!(server_config(&p, "SSL").is_err());
}

#[test]
fn refusals_name_the_key() {
    let ca = certs::TestCa::new("test ca");
    let server = ca.server();
    let other = ca.server();
    let chain = server.chain.as_str();
    let key = server.key.as_str();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "ssl.keystore.location"),
        (
            vec![("ssl.keystore.certificate.chain", chain)],
            "ssl.keystore.key",
        ),
        (
            vec![("ssl.keystore.key", key)],
            "ssl.keystore.certificate.chain",
        ),
        (
            vec![("ssl.keystore.location", "/nonexistent/keystore.pem")],
            "/nonexistent/keystore.pem",
        ),
        (
            vec![
                ("ssl.keystore.type", "JKS"),
                ("ssl.keystore.location", "/x"),
            ],
            "ssl.keystore.type",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.key.password", "secret"),
            ],
            "ssl.key.password",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", "not pem"),
                ("ssl.keystore.key", key),
            ],
            "ssl.keystore.certificate.chain",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", "not pem"),
            ],
            "ssl.keystore.key",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", other.key.as_str()),
            ],
            "does not fit",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.client.auth", "required"),
            ],
            "ssl.truststore.location",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.client.auth", "sometimes"),
            ],
            "ssl.client.auth",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.truststore.certificates", "garbage"),
            ],
            "ssl.truststore.certificates",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.enabled.protocols", "TLSv1.1"),
            ],
            "ssl.enabled.protocols",
        ),
        (
            vec![
                ("ssl.keystore.certificate.chain", chain),
                ("ssl.keystore.key", key),
                ("ssl.principal.mapping.rules", "RULE:^CN=(.*)$/$1/"),
            ],
            "ssl.principal.mapping.rules",
        ),
    ];
    for (pairs, expected) in cases {
        let err = refusal(&pairs);
        assert!(err.contains(expected), "{pairs:?}: {err}");
    }
}

#[test]
fn every_key_read_here_is_a_known_broker_key() {
    for key in [
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.key.password",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.certificates",
        "ssl.client.auth",
        "ssl.enabled.protocols",
        "ssl.principal.mapping.rules",
        "listener.name.internal.ssl.keystore.key",
    ] {
        assert!(crate::config::is_known_broker_key(key), "{key}");
    }
}

#[test]
fn the_principal_is_the_subject_as_java_prints_it() {
    use rcgen::{DnType, DnValue};
    let ca = certs::TestCa::new("test ca");
    let email = DnValue::Ia5String("a@b".try_into().unwrap());
    let client = ca.client(vec![
        (
            DnType::CountryName,
            DnValue::PrintableString("US".try_into().unwrap()),
        ),
        (DnType::OrganizationName, "Tide, Inc.".into()),
        (DnType::CommonName, "client".into()),
        (
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            email,
        ),
    ]);
    // X500Principal.getName(): last RDN first; emailAddress has no RFC 2253 keyword.
    assert_eq!(
        crate::security::principal::ssl_principal(&client.der).unwrap(),
        "User:1.2.840.113549.1.9.1=#1603614062,CN=client,O=Tide\\, Inc.,C=US"
    );
}
