//! Topic names on the broker: the internal topics and the optional operator naming
//! policy (`tidewater.topic.naming.policy.enable`). Kafka's own rules live in
//! [`tidewater_quorum::topic_name`], shared with the controller.

pub use tidewater_quorum::topic_name::{collision_key, validate};

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Whether a topic is internal (clients may not produce to or delete it).
pub fn is_internal(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == super::txn::TXN_TOPIC
}

/// A name the optional naming policy refuses (INVALID_TOPIC_EXCEPTION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingPolicyViolation {
    #[error(
        "Topic name \"{0}\" contains '.', which the broker's naming policy forbids (tidewater.topic.naming.policy.enable=true); use '-' or '_' instead"
    )]
    Dot(String),
    #[error(
        "Topic name \"{0}\" starts with '_', which the broker's naming policy reserves for internal topics (tidewater.topic.naming.policy.enable=true)"
    )]
    LeadingUnderscore(String),
}

/// The optional policy: no '.' and no leading '_' in user topic names.
pub fn check_naming_policy(name: &str) -> Result<(), NamingPolicyViolation> {
    if name.contains('.') {
        return Err(NamingPolicyViolation::Dot(name.to_string()));
    }
    if name.starts_with('_') {
        return Err(NamingPolicyViolation::LeadingUnderscore(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_policy() {
        assert!(check_naming_policy("orders-v1").is_ok());
        let dot = check_naming_policy("orders.v1").unwrap_err();
        assert!(dot.to_string().contains("'.'"), "{dot}");
        let underscore = check_naming_policy("_private").unwrap_err();
        assert!(underscore.to_string().contains("'_'"), "{underscore}");
    }
}
