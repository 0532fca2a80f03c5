//! Kafka's topic-name rules (`Topic.validate` and the '.'/'_' collision of metric
//! names): the one home of them. The controller enforces them on every creation; the
//! broker checks them first so a bad name never costs a controller round trip.

/// Kafka's `Topic.MAX_NAME_LENGTH`.
pub const MAX_NAME_LENGTH: usize = 249;

/// Why a name is not a legal topic name; the message is Kafka's, for
/// INVALID_TOPIC_EXCEPTION.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopicName {
    #[error("Topic name is illegal, it can't be empty")]
    Empty,
    #[error("Topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error(
        "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {0}"
    )]
    TooLong(String),
    #[error(
        "Topic name \"{0}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    )]
    IllegalCharacter(String),
}

/// Kafka's `Topic.validate`.
pub fn validate(name: &str) -> Result<(), InvalidTopicName> {
    if name.is_empty() {
        return Err(InvalidTopicName::Empty);
    }
    if name == "." || name == ".." {
        return Err(InvalidTopicName::Dots);
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(InvalidTopicName::TooLong(name.to_string()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(InvalidTopicName::IllegalCharacter(name.to_string()));
    }
    Ok(())
}

/// Kafka treats '.' and '_' as the same in metric names, so two topics whose names
/// differ only there collide.
pub fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        assert!(validate("orders-v1.eu_west").is_ok());
        assert!(validate(&"a".repeat(249)).is_ok());
        assert!(matches!(
            validate(&"a".repeat(250)),
            Err(InvalidTopicName::TooLong(_))
        ));
        for bad in ["", ".", "..", "a b", "ü", "a/b", "a:b"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(collision_key("a.b_c"), collision_key("a_b.c"));
    }
}
