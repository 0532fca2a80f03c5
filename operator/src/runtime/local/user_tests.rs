//! A local tls user's certificate files on a clock moved by hand: left alone while
//! current, renewed by `local up`'s tick inside the clients CA's renewal window, and
//! users of another cluster, SCRAM users and never-applied users left alone.

use super::*;
use crate::pki;
use crate::runtime::local::certs;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn cluster(name: &str) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: {name}\nspec:\n  version: 0.1.0\n  brokers: 1\n  listeners: [{{name: mtls, port: 9094, tls: true, authentication: {{type: tls}}}}]\n  clientsCa: {{validityDays: 30, renewalDays: 5}}\n"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

/// Writes user `name` of `cluster` as `local user apply` would have (with a
/// certificate when `issued`).
fn applied(
    state: &StateDir,
    c: &ValidatedCluster,
    name: &str,
    cluster: &str,
    kind: &str,
    issued: bool,
) {
    let dir = user_dir(state, name);
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaUser\nmetadata:\n  name: {name}\n  labels: {{tidewater.io/cluster: {cluster}}}\nspec:\n  authentication: {{type: {kind}}}\n"
    );
    std::fs::write(dir.join(APPLIED), yaml).unwrap();
    if issued {
        let ca = clients_ca(state, c).unwrap().unwrap();
        let creds = secret::tls(
            name,
            &BTreeMap::new(),
            &ca,
            Validity::from(&c.clients_ca),
            NOW,
        )
        .unwrap();
        for (k, v) in &creds.data {
            std::fs::write(dir.join(k), v).unwrap();
        }
    }
}

fn cert(state: &StateDir, name: &str) -> String {
    std::fs::read_to_string(user_dir(state, name).join(USER_CRT)).unwrap()
}

#[test]
fn tls_user_certificates_are_renewed_in_their_window_and_nothing_else_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let c = cluster("t");
    certs::ensure(&state, &c, NOW).unwrap();
    applied(&state, &c, "reader", "t", "tls", true);
    applied(&state, &c, "other", "elsewhere", "tls", false);
    applied(&state, &c, "never", "t", "tls", false);
    applied(&state, &c, "scram", "t", "scram-sha-512", false);
    let first = cert(&state, "reader");

    assert_eq!(
        renew_certificates(&state, &c, NOW + DAY).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(cert(&state, "reader"), first);

    let due = NOW + 26 * DAY;
    assert_eq!(renew_certificates(&state, &c, due).unwrap(), ["reader"]);
    let renewed = cert(&state, "reader");
    assert_ne!(renewed, first);
    let ca = clients_ca(&state, &c).unwrap().unwrap();
    assert!(pki::verify_issued(&renewed, &ca.cert));
    assert!(pki::not_after(&renewed).unwrap() > due + 29 * DAY);
    for untouched in ["other", "never", "scram"] {
        assert!(
            !user_dir(&state, untouched).join(USER_CRT).exists(),
            "{untouched}"
        );
    }
    // Renewed once: the next tick leaves it.
    assert_eq!(
        renew_certificates(&state, &c, due + 1).unwrap(),
        Vec::<String>::new()
    );
}
