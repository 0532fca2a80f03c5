//! The Secrets of a secured cluster (Strimzi's layout): per CA `<cluster>-<ca>` with
//! `ca.crt` and `ca.key` (the operator's; only for a CA it generated) and
//! `<cluster>-<ca>-cert` with `ca.crt` alone (what clients and users are given), and per
//! node `<pod>-certs`, mounted at [`super::TLS_DIR`]: the files the node's
//! `server.properties` names, plus the leaf and its key alone (read back to decide
//! renewal). Pure: the PEM text comes in from `crate::pki` through the kube runtime.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::listeners::{CLIENTS_CA_FILE, CLUSTER_CA_FILE, KEYSTORE_FILE};
use super::{bootstrap_name, headless_name, node_host, node_labels, owned_meta, selector_labels};
use crate::pki::{CaPem, LeafPem};
use crate::validate::{NodeSpec, ValidatedCluster};

/// Key of a CA's certificate in its Secrets.
pub const CA_CERT: &str = "ca.crt";
/// Key of a CA's private key in its Secret.
pub const CA_KEY: &str = "ca.key";
/// Key of a node's leaf certificate alone in its Secret.
pub const LEAF_CERT: &str = "broker.crt";
/// Key of a node's private key alone in its Secret.
pub const LEAF_KEY: &str = "broker.key";

/// Which of the cluster's two CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ca {
    /// Signs broker certificates.
    Cluster,
    /// Signs client certificates.
    Clients,
}

impl Ca {
    /// `cluster-ca` / `clients-ca`.
    pub fn slug(self) -> &'static str {
        match self {
            Ca::Cluster => "cluster-ca",
            Ca::Clients => "clients-ca",
        }
    }
}

/// `<cluster>-<ca>`: the CA's certificate and key.
pub fn ca_secret_name(c: &ValidatedCluster, ca: Ca) -> String {
    format!("{}-{}", c.name, ca.slug())
}

/// `<cluster>-<ca>-cert`: the CA's certificate alone.
pub fn ca_cert_secret_name(c: &ValidatedCluster, ca: Ca) -> String {
    format!("{}-{}-cert", c.name, ca.slug())
}

/// `<pod>-certs`: a node's keystore and CA certificates.
pub fn node_secret_name(c: &ValidatedCluster, n: &NodeSpec) -> String {
    format!("{}-certs", n.name(&c.name))
}

/// DNS names a node's certificate carries: its pod name under the headless Service and
/// the bootstrap Service, each short and fully qualified.
pub fn node_sans(c: &ValidatedCluster, n: &NodeSpec) -> Vec<String> {
    let pod = node_host(c, n);
    let boot = format!("{}.{}.svc", bootstrap_name(c), c.namespace);
    vec![
        format!("{pod}.cluster.local"),
        pod,
        format!("{}.{}", n.name(&c.name), headless_name(c)),
        format!("{boot}.cluster.local"),
        boot,
        format!("{}.{}", bootstrap_name(c), c.namespace),
        bootstrap_name(c),
    ]
}

fn data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

fn secret(
    c: &ValidatedCluster,
    name: String,
    labels: BTreeMap<String, String>,
    d: &[(&str, &str)],
) -> Secret {
    Secret {
        metadata: owned_meta(c, name, labels),
        type_: Some("Opaque".to_owned()),
        data: Some(data(d)),
        ..Secret::default()
    }
}

/// The Secrets of a CA the operator generated: key and certificate, certificate alone.
pub fn ca_secrets(c: &ValidatedCluster, which: Ca, ca: &CaPem) -> [Secret; 2] {
    [
        secret(
            c,
            ca_secret_name(c, which),
            selector_labels(c),
            &[(CA_CERT, &ca.cert), (CA_KEY, &ca.key)],
        ),
        ca_cert_secret(c, which, &ca.cert),
    ]
}

/// The certificate-only Secret of a CA (also written for a CA the user brings).
pub fn ca_cert_secret(c: &ValidatedCluster, which: Ca, cert: &str) -> Secret {
    secret(
        c,
        ca_cert_secret_name(c, which),
        selector_labels(c),
        &[(CA_CERT, cert)],
    )
}

/// A node's Secret.
pub fn node_secret(
    c: &ValidatedCluster,
    n: &NodeSpec,
    leaf: &LeafPem,
    cluster_ca: &CaPem,
    clients_ca_cert: &str,
) -> Secret {
    secret(
        c,
        node_secret_name(c, n),
        node_labels(c, n),
        &[
            (KEYSTORE_FILE, &leaf.keystore(cluster_ca)),
            (LEAF_CERT, &leaf.cert),
            (LEAF_KEY, &leaf.key),
            (CLUSTER_CA_FILE, &cluster_ca.cert),
            (CLIENTS_CA_FILE, clients_ca_cert),
        ],
    )
}

/// A Secret's entry as text.
pub fn text(s: &Secret, key: &str) -> Option<String> {
    let bytes = s.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}
