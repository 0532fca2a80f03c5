//! `authorizer.class.name`, `super.users` and `allow.everyone.if.no.acl.found`:
//! whether requests are authorized, and the two settings of Kafka's
//! `StandardAuthorizer` that are not ACLs.
//!
//! Only Kafka's own class name switches authorization on (so an unchanged
//! `server.properties` works); any other non-empty class is refused at startup
//! rather than silently ignored.

use std::collections::BTreeSet;

use super::ConfigError;
use super::properties::Props;

/// The class name that switches on ACL authorization.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The authorizer's settings, present only when `authorizer.class.name` names
/// [`STANDARD_AUTHORIZER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// `super.users`: principals (`User:admin`) allowed everything, brokers included.
    pub super_users: BTreeSet<String>,
    /// `allow.everyone.if.no.acl.found`: a resource without any ACL is open.
    pub allow_everyone_if_no_acl_found: bool,
}

pub(super) fn authorizer_settings(
    p: &Props<'_>,
) -> Result<Option<AuthorizerSettings>, ConfigError> {
    match p.get("authorizer.class.name") {
        None | Some("") => return Ok(None),
        Some(STANDARD_AUTHORIZER) => {}
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "authorizer.class.name".into(),
                value: other.into(),
                reason: format!("the only authorizer this broker has is {STANDARD_AUTHORIZER}"),
            });
        }
    }
    let mut super_users = BTreeSet::new();
    // Kafka's StandardAuthorizer.getConfiguredSuperUsers: `;`-separated, trimmed,
    // each a `Type:name` principal.
    for user in p.get("super.users").unwrap_or("").split(';').map(str::trim) {
        if user.is_empty() {
            continue;
        }
        if !user.contains(':') {
            return Err(ConfigError::Invalid {
                key: "super.users".into(),
                value: user.into(),
                reason: "expected a string in format principalType:principalName".into(),
            });
        }
        super_users.insert(user.to_string());
    }
    Ok(Some(AuthorizerSettings {
        super_users,
        allow_everyone_if_no_acl_found: p.bool("allow.everyone.if.no.acl.found", false)?,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<AuthorizerSettings>, ConfigError> {
        let props: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        authorizer_settings(&Props(&props))
    }

    #[test]
    fn off_without_a_class_name() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("authorizer.class.name", "")]).unwrap(), None);
        // super.users alone does not switch authorization on, as in Kafka.
        assert_eq!(settings(&[("super.users", "User:admin")]).unwrap(), None);
    }

    #[test]
    fn standard_authorizer_reads_super_users_and_the_default() {
        let s = settings(&[
            ("authorizer.class.name", STANDARD_AUTHORIZER),
            ("super.users", " User:admin ;User:CN=broker-1,O=acme;; "),
        ])
        .unwrap()
        .unwrap();
        let expected: BTreeSet<String> = ["User:admin", "User:CN=broker-1,O=acme"]
            .map(String::from)
            .into();
        assert_eq!(s.super_users, expected);
        assert!(!s.allow_everyone_if_no_acl_found);
        let s = settings(&[
            ("authorizer.class.name", STANDARD_AUTHORIZER),
            ("allow.everyone.if.no.acl.found", "TRUE"),
        ])
        .unwrap()
        .unwrap();
        assert!(s.allow_everyone_if_no_acl_found);
    }

    #[test]
    fn other_authorizers_and_bad_values_are_refused() {
        let err = settings(&[(
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer",
        )])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("authorizer.class.name") && err.contains(STANDARD_AUTHORIZER),
            "{err}"
        );
        let err = settings(&[
            ("authorizer.class.name", STANDARD_AUTHORIZER),
            ("super.users", "admin"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("super.users"), "{err}");
        assert!(
            settings(&[
                ("authorizer.class.name", STANDARD_AUTHORIZER),
                ("allow.everyone.if.no.acl.found", "yes"),
            ])
            .is_err()
        );
    }
}
