//! Topic name rules: Kafka's (legal characters, length, '.'/'_' collisions) plus
//! the optional operator naming policy (`tidewater.topic.naming.policy.enable`).

/// Kafka's `Topic.MAX_NAME_LENGTH`.
pub const MAX_NAME_LENGTH: usize = 249;

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Whether a topic is internal (clients may not produce to or delete it).
pub fn is_internal(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == "__transaction_state"
}

/// Kafka's `Topic.validate`: `Err` holds the message for INVALID_TOPIC_EXCEPTION.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka treats '.' and '_' as the same in metric names, so two topics differing
/// only there collide.
pub fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

/// The optional policy: no '.' and no leading '_' in user topic names.
pub fn check_naming_policy(name: &str) -> Result<(), String> {
    if name.contains('.') {
        return Err(format!(
            "Topic name \"{name}\" contains '.', which the broker's naming policy forbids \
             (tidewater.topic.naming.policy.enable=true); use '-' or '_' instead"
        ));
    }
    if name.starts_with('_') {
        return Err(format!(
            "Topic name \"{name}\" starts with '_', which the broker's naming policy reserves for \
             internal topics (tidewater.topic.naming.policy.enable=true)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        assert!(validate("orders-v1.eu_west").is_ok());
        assert!(validate(&"a".repeat(249)).is_ok());
        assert!(validate(&"a".repeat(250)).is_err());
        for bad in ["", ".", "..", "a b", "ü", "a/b", "a:b"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(collision_key("a.b_c"), collision_key("a_b.c"));
    }

    #[test]
    fn naming_policy() {
        assert!(check_naming_policy("orders-v1").is_ok());
        assert!(
            check_naming_policy("orders.v1")
                .unwrap_err()
                .contains("'.'")
        );
        assert!(check_naming_policy("_private").unwrap_err().contains("'_'"));
    }
}
