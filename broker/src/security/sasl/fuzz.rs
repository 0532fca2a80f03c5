//! One SASL exchange driven by arbitrary bytes, shared by the cargo-fuzz target
//! (`broker/fuzz/fuzz_targets/sasl_exchange.rs`) and a proptest that runs with the
//! ordinary tests: whatever a client sends, the exchange answers or refuses, and
//! never panics.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use super::scram::ScramMechanism;
use super::{Exchange, Mechanism, SaslListener, jaas};

/// The first byte picks the mechanism and where the data splits into the client's
/// first and final messages; the JAAS parser gets the whole input too.
pub fn exchange(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mechanism = match selector % 3 {
        0 => Mechanism::Plain,
        1 => Mechanism::Scram(ScramMechanism::Sha256),
        _ => Mechanism::Scram(ScramMechanism::Sha512),
    };
    let split = usize::from(selector / 3).min(rest.len());
    let (first, last) = rest.split_at(split);
    let listener = SaslListener {
        enabled: vec![mechanism],
        plain_users: BTreeMap::from([("alice".to_string(), "alice-secret".to_string())]),
        max_reauth: None,
    };
    let credential = |user: &str, mechanism: i8| {
        let m = ScramMechanism::from_type(mechanism)?;
        let iterations = NonZeroU32::new(4096)?;
        let salted = m.salted_password(b"secret", b"salt", iterations);
        Some(m.credential(user, b"salt", &salted, 4096))
    };
    let mut ex = Exchange::new(mechanism);
    if ex.step(first, &listener, credential).is_ok() {
        let _ = ex.step(last, &listener, credential);
        // Nothing may follow a finished exchange.
        let _ = ex.step(last, &listener, credential);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jaas::parse(text);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_are_answered_or_refused(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            super::exchange(&data);
        }

        #[test]
        fn scram_shaped_messages_are_answered_or_refused(
            selector in 1u8..=2,
            first in "[nyp]?,(a=[a-z=0-9]{0,4})?,(n=[a-z=,0-9]{0,6})?(,r=[!-~]{0,6})?(,[a-z]=.{0,4})*",
            last in "(c=[A-Za-z0-9+/=]{0,8})?(,r=[!-~]{0,12})?(,p=[A-Za-z0-9+/=]{0,12})?",
        ) {
            let split = first.len().min(80);
            let data = [&[selector + 3 * split as u8][..], &first.as_bytes()[..split], last.as_bytes()].concat();
            super::exchange(&data);
        }
    }
}
