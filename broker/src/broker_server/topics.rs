//! The broker's own checks on a new topic name, before the controller decides.
//! Failures are a [`TopicError`]: the Kafka error code and message of the response.

use kafka_protocol::error::ResponseError as E;

use super::Broker;
use super::topic_names;

/// A refusal of a topic or config change: the Kafka error code the client gets and
/// the message for the response (or the log, where the response has no message field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TopicError {
    pub error: E,
    pub message: String,
}

impl TopicError {
    pub fn new(error: E, message: String) -> Self {
        TopicError { error, message }
    }

    /// The code for the response's `error_code` field.
    pub fn code(&self) -> i16 {
        self.error.code()
    }
}

impl Broker {
    /// Name checks for a topic about to be created: Kafka's rules, '.'/'_'
    /// collisions with existing topics and the optional naming policy.
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), TopicError> {
        topic_names::validate(name)
            .map_err(|e| TopicError::new(E::InvalidTopicException, e.to_string()))?;
        if self.metadata.topic(name).is_some() {
            return Err(TopicError::new(
                E::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let key = topic_names::collision_key(name);
        if let Some(other) = self
            .metadata
            .topics()
            .into_iter()
            .find(|t| topic_names::collision_key(&t.name) == key)
        {
            return Err(TopicError::new(
                E::InvalidTopicException,
                format!(
                    "Topic '{name}' collides with existing topic: {}",
                    other.name
                ),
            ));
        }
        if self.config.topic_naming_policy_enable && !topic_names::is_internal(name) {
            topic_names::check_naming_policy(name)
                .map_err(|e| TopicError::new(E::InvalidTopicException, e.to_string()))?;
        }
        Ok(())
    }
}
