//! Rules of `spec.listeners`, `spec.clusterCa` and `spec.clientsCa` the schema states
//! (re-checked for the local runtime and `render`, which have no API server in front).

use super::{FieldError, err};
use crate::crd::{AuthenticationType, CertificateAuthoritySpec, KafkaClusterSpec};

/// Names the operator gives its own listeners (`REPLICATION`, `OPERATOR`, `CONTROLLER`).
pub const RESERVED_LISTENER_NAMES: &[&str] = &["replication", "operator", "controller"];

pub(super) fn check_listeners(spec: &KafkaClusterSpec, errors: &mut Vec<FieldError>) {
    if !(1..=8).contains(&spec.listeners.len()) {
        errors.push(err("spec.listeners", "must list 1 to 8 listeners"));
    }
    let secured = spec
        .listeners
        .iter()
        .any(|l| l.tls || l.authentication.is_some());
    let mut names = std::collections::BTreeSet::new();
    let mut ports = std::collections::BTreeSet::new();
    for (i, l) in spec.listeners.iter().enumerate() {
        let at = |f: &str| format!("spec.listeners[{i}].{f}");
        if !is_listener_name(&l.name) {
            errors.push(err(&at("name"), "must match ^[a-z][a-z0-9]{0,24}$"));
        } else if RESERVED_LISTENER_NAMES.contains(&l.name.as_str()) {
            errors.push(err(
                &at("name"),
                "replication, operator and controller are the operator's own listeners",
            ));
        }
        if !names.insert(&l.name) {
            errors.push(err(&at("name"), "listener names must be unique"));
        }
        if !ports.insert(l.port) {
            errors.push(err(&at("port"), "listener ports must be unique"));
        }
        if !(1024..=65535).contains(&l.port) || l.port == 9093 || l.port == 9404 {
            errors.push(err(
                &at("port"),
                "must be 1024-65535 and not 9093 (controller) or 9404 (health/metrics)",
            ));
        } else if secured && (l.port == 9090 || l.port == 9091) {
            errors.push(err(
                &at("port"),
                "9090 (operator) and 9091 (replication) are reserved when a listener has TLS or authentication",
            ));
        }
        if l.authentication.map(|a| a.kind) == Some(AuthenticationType::Tls) && !l.tls {
            errors.push(err(
                &at("authentication"),
                "type tls (client certificates) needs tls: true",
            ));
        }
    }
}

pub(super) fn check_ca(field: &str, ca: &CertificateAuthoritySpec, errors: &mut Vec<FieldError>) {
    if !(1..=36500).contains(&ca.validity_days) {
        errors.push(err(&format!("{field}.validityDays"), "must be 1-36500"));
    }
    if !(0..ca.validity_days).contains(&ca.renewal_days) {
        errors.push(err(
            &format!("{field}.renewalDays"),
            "must be at least 0 and less than validityDays, or every certificate would be renewed at once",
        ));
    }
    if !ca.generate_certificate_authority && ca.secret_name.as_deref().unwrap_or("").is_empty() {
        errors.push(err(
            &format!("{field}.secretName"),
            "generateCertificateAuthority: false needs secretName, the Secret holding ca.crt and ca.key",
        ));
    }
}

fn is_listener_name(s: &str) -> bool {
    (1..=25).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
