//! The broker's own checks on a new topic name, before the controller decides.
//! Failures are `(Kafka error code, message)` for the response.

use kafka_protocol::error::ResponseError as E;

use super::Broker;
use super::topic_names;

/// A refusal: Kafka error code plus a message for the client.
pub type TopicError = (i16, String);

impl Broker {
    /// Name checks for a topic about to be created: Kafka's rules, '.'/'_'
    /// collisions with existing topics and the optional naming policy.
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), TopicError> {
        topic_names::validate(name)
            .map_err(|e| (E::InvalidTopicException.code(), e.to_string()))?;
        if self.metadata.topic(name).is_some() {
            return Err((
                E::TopicAlreadyExists.code(),
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
            return Err((
                E::InvalidTopicException.code(),
                format!(
                    "Topic '{name}' collides with existing topic: {}",
                    other.name
                ),
            ));
        }
        if self.config.topic_naming_policy_enable && !topic_names::is_internal(name) {
            topic_names::check_naming_policy(name)
                .map_err(|e| (E::InvalidTopicException.code(), e.to_string()))?;
        }
        Ok(())
    }
}
