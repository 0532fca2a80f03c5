//! The local certificate files on a clock moved by hand: issued once, left alone while
//! current, renewed inside the window, and a user's CA used instead of a generated one.

use super::*;
use crate::render::parse_cluster;
use crate::validate::validate;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn cluster(extra: &str) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 2\n  listeners: [{{name: tls, port: 9092, tls: true}}]\n{extra}"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn reasons(changes: &Changes) -> Vec<&'static str> {
    changes.iter().map(|(r, _)| *r).collect()
}

fn leaf(state: &StateDir, id: i32) -> String {
    std::fs::read_to_string(state.node_dir("t", id).join(TLS_SUBDIR).join(LEAF_FILE)).unwrap()
}

#[test]
fn certificates_are_issued_once_kept_while_current_and_renewed_in_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let c = cluster("  clusterCa: {validityDays: 10, renewalDays: 2}\n");
    let first = ensure(&state, &c, NOW).unwrap();
    assert_eq!(
        reasons(&first),
        [
            "CaGenerated",
            "CaGenerated",
            "CertificateIssued",
            "CertificateIssued",
            "CertificateIssued"
        ]
    );
    // The operator's own: certificate then key in one owner-only file, from the
    // cluster CA, and what its admin client connects with.
    let operator = pki_dir(&state, "t").join(OPERATOR_FILE);
    let pem = std::fs::read_to_string(&operator).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----") && pem.contains("PRIVATE KEY"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&operator).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(operator_access(&state, &c).unwrap().security.is_some());
    let ca = std::fs::read_to_string(pki_dir(&state, "t").join("cluster-ca.crt")).unwrap();
    let tls = state.node_dir("t", 1).join(TLS_SUBDIR);
    assert_eq!(
        std::fs::read_to_string(tls.join(CLUSTER_CA_FILE)).unwrap(),
        ca
    );
    let keystore = std::fs::read_to_string(tls.join(KEYSTORE_FILE)).unwrap();
    assert!(keystore.starts_with("-----BEGIN PRIVATE KEY-----") && keystore.ends_with(&ca));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(tls.join(KEYSTORE_FILE))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let issued = leaf(&state, 0);
    // A day later nothing is due: no file is rewritten, so no broker reloads.
    assert!(ensure(&state, &c, NOW + DAY).unwrap().is_empty());
    assert_eq!(leaf(&state, 0), issued);
    // Inside the 2-day window of the 10-day certificates: both reissued, the CA too
    // (same window), with its key kept.
    let key = std::fs::read_to_string(pki_dir(&state, "t").join("cluster-ca.key")).unwrap();
    let renewed = ensure(&state, &c, NOW + 8 * DAY).unwrap();
    assert_eq!(
        reasons(&renewed),
        [
            "CaRenewed",
            "CertificateRenewed",
            "CertificateRenewed",
            "CertificateRenewed"
        ]
    );
    assert_ne!(std::fs::read_to_string(&operator).unwrap(), pem);
    assert_ne!(leaf(&state, 0), issued);
    assert_eq!(
        std::fs::read_to_string(pki_dir(&state, "t").join("cluster-ca.key")).unwrap(),
        key
    );
    assert_eq!(pki::not_after(&leaf(&state, 0)), Some(NOW + 18 * DAY));
}

#[test]
fn a_users_ca_is_used_instead_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let spec = "  clusterCa: {generateCertificateAuthority: false, secretName: my-ca}\n";
    let c = cluster(spec);
    let err = ensure(&state, &c, NOW).unwrap_err().to_string();
    assert!(err.contains("my-ca"), "{err}");
    let mine = pki::generate_ca(
        "my own CA",
        Validity {
            days: 100,
            renewal_days: 10,
        },
        NOW,
    )
    .unwrap();
    let secret = dir.path().join("secrets/my-ca");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("ca.crt"), &mine.cert).unwrap();
    std::fs::write(secret.join("ca.key"), &mine.key).unwrap();
    ensure(&state, &c, NOW).unwrap();
    assert!(pki::verify_issued(&leaf(&state, 0), &mine.cert));
    assert!(!pki_dir(&state, "t").join("cluster-ca.crt").exists());
    let operator = std::fs::read_to_string(pki_dir(&state, "t").join(OPERATOR_FILE)).unwrap();
    assert!(pki::verify_issued(&operator, &mine.cert));
    assert!(operator_access(&state, &c).unwrap().security.is_some());
    // The user's CA is never renewed by the operator, even inside its window.
    assert!(
        ensure(&state, &c, NOW + 95 * DAY)
            .unwrap()
            .iter()
            .all(|(r, _)| *r != "CaRenewed")
    );
}

#[test]
fn an_unsecured_cluster_gets_no_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let text = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 1\n";
    let c = validate(&parse_cluster(text).unwrap()).unwrap();
    assert!(ensure(&state, &c, NOW).unwrap().is_empty());
    assert!(!pki_dir(&state, "t").exists());
}
