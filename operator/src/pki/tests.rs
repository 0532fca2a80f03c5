//! Renewal decisions with a clock moved by hand; every certificate made here, none
//! committed.

use super::*;

const NOW: i64 = 1_800_000_000;
const V: Validity = Validity {
    days: 10,
    renewal_days: 3,
};

fn names() -> Vec<String> {
    vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
}

fn ca() -> CaPem {
    generate_ca("tide cluster CA", V, NOW).unwrap()
}

#[test]
fn a_fresh_certificate_stays_until_its_renewal_window() {
    let ca = ca();
    let leaf = issue(&ca, "tide-kafka", &names(), V, NOW, true).unwrap();
    assert!(verify_issued(&leaf.cert, &ca.cert));
    let cert = Some(leaf.cert.as_str());
    assert_eq!(leaf_renewal(cert, &ca, &names(), V, NOW), None);
    // One second before the window opens, then inside it.
    let window = NOW + (V.days - V.renewal_days) * DAY;
    assert_eq!(leaf_renewal(cert, &ca, &names(), V, window - 1), None);
    assert_eq!(
        leaf_renewal(cert, &ca, &names(), V, window),
        Some(Renewal::Expiring)
    );
    assert_eq!(not_after(&leaf.cert), Some(NOW + V.days * DAY));
}

#[test]
fn other_names_another_ca_or_another_validity_reissue_at_once() {
    let ca = ca();
    let leaf = issue(&ca, "tide-kafka", &names(), V, NOW, true).unwrap();
    let cert = Some(leaf.cert.as_str());
    let more = [names(), vec!["tide-bootstrap.kafka.svc".to_owned()]].concat();
    assert_eq!(leaf_renewal(cert, &ca, &more, V, NOW), Some(Renewal::Names));
    let other = generate_ca("another CA", V, NOW).unwrap();
    assert_eq!(
        leaf_renewal(cert, &other, &names(), V, NOW),
        Some(Renewal::OtherCa)
    );
    let shorter = Validity {
        days: 2,
        renewal_days: 1,
    };
    assert_eq!(
        leaf_renewal(cert, &ca, &names(), shorter, NOW),
        Some(Renewal::Validity)
    );
    assert_eq!(
        leaf_renewal(None, &ca, &names(), V, NOW),
        Some(Renewal::Missing)
    );
    assert_eq!(
        leaf_renewal(Some("garbage"), &ca, &names(), V, NOW),
        Some(Renewal::Missing)
    );
}

#[test]
fn a_renewed_ca_keeps_its_key_so_issued_certificates_stay_valid() {
    let ca = ca();
    let leaf = issue(&ca, "tide-kafka", &names(), V, NOW, true).unwrap();
    let later = NOW + (V.days - V.renewal_days) * DAY;
    assert_eq!(ca_renewal(&ca, V, NOW), None);
    assert_eq!(ca_renewal(&ca, V, later), Some(Renewal::Expiring));
    let renewed = renew_ca(&ca, "tide cluster CA", V, later).unwrap();
    assert_ne!(renewed.cert, ca.cert);
    assert_eq!(renewed.key, ca.key);
    assert_eq!(ca_renewal(&renewed, V, later), None);
    assert!(verify_issued(&leaf.cert, &renewed.cert));
    assert_eq!(
        leaf_renewal(Some(&leaf.cert), &renewed, &names(), V, NOW),
        None
    );
    // And it issues under the same subject: a new leaf verifies against the old cert.
    let next = issue(&renewed, "tide-kafka", &names(), V, later, true).unwrap();
    assert!(verify_issued(&next.cert, &ca.cert));
}

#[test]
fn a_ca_whose_key_is_not_its_own_is_refused() {
    let a = ca();
    let b = generate_ca("b", V, NOW).unwrap();
    assert!(check_usable_ca(&a).is_ok());
    let mixed = CaPem {
        cert: a.cert.clone(),
        key: b.key,
    };
    assert!(check_usable_ca(&mixed).is_err());
    assert!(
        check_usable_ca(&CaPem {
            cert: "not pem".into(),
            key: a.key
        })
        .is_err()
    );
}

#[test]
fn the_keystore_is_key_then_leaf_then_ca_and_debug_hides_keys() {
    let ca = ca();
    let leaf = issue(&ca, "tide-kafka", &names(), V, NOW, true).unwrap();
    let ks = leaf.keystore(&ca);
    assert!(ks.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(ks.ends_with(&ca.cert));
    assert!(!format!("{ca:?}{leaf:?}").contains("PRIVATE KEY"));
}
