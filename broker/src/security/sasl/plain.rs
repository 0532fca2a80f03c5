//! SASL/PLAIN (RFC 4616) against the users of the listener's
//! `PlainLoginModule` (`user_<name>="<password>"`), as Kafka's `PlainSaslServer`.

use std::collections::BTreeMap;

use super::scram::constant_time_eq;

/// The message is `authzid NUL authcid NUL passwd`; the authenticated user out.
/// Refusals carry Kafka's own messages.
pub fn authenticate(token: &[u8], users: &BTreeMap<String, String>) -> Result<String, String> {
    let parts: Vec<&[u8]> = token.split(|b| *b == 0).collect();
    let [authzid, username, password] = parts[..] else {
        return Err(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        ));
    };
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| "Invalid SASL/PLAIN response: not UTF-8".to_string())
    };
    let (authzid, username) = (text(authzid)?, text(username)?);
    if username.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    let known = users
        .get(&username)
        .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password));
    if !known {
        return Err("Authentication failed: Invalid username or password".into());
    }
    if !authzid.is_empty() && authzid != username {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    Ok(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, String> {
        BTreeMap::from([("alice".to_string(), "alice-secret".to_string())])
    }

    #[test]
    fn right_and_wrong_passwords() {
        assert_eq!(
            authenticate(b"\0alice\0alice-secret", &users()).unwrap(),
            "alice"
        );
        assert_eq!(
            authenticate(b"alice\0alice\0alice-secret", &users()).unwrap(),
            "alice"
        );
        for bad in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0alice-secret",
            b"\0alice\0alice-secre",
            b"bob\0alice\0alice-secret",
            b"\0alice",
            b"\0alice\0alice-secret\0",
            b"\0\0pw",
            b"\0alice\0",
            b"\0\xff\0pw",
            b"",
        ] {
            assert!(authenticate(bad, &users()).is_err(), "{bad:?}");
        }
    }
}
