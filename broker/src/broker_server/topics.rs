//! The broker's own checks on a new topic name, before the controller decides.
//! Failures are a [`KafkaError`]: the Kafka error code and message of the response.

use kafka_protocol::error::ResponseError as E;

use super::Broker;
use super::topic_names;
use crate::kafka_error::KafkaError;

impl Broker {
    /// Name checks for a topic about to be created: Kafka's rules, '.'/'_'
    /// collisions with existing topics and the optional naming policy.
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), KafkaError> {
        topic_names::validate(name)
            .map_err(|e| KafkaError::new(E::InvalidTopicException, e.to_string()))?;
        if self.metadata().topic(name).is_some() {
            return Err(KafkaError::new(
                E::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let key = topic_names::collision_key(name);
        if let Some(other) = self
            .metadata()
            .topics()
            .into_iter()
            .find(|t| topic_names::collision_key(&t.name) == key)
        {
            return Err(KafkaError::new(
                E::InvalidTopicException,
                format!(
                    "Topic '{name}' collides with existing topic: {}",
                    other.name
                ),
            ));
        }
        if self.config().topic_naming_policy_enable && !topic_names::is_internal(name) {
            topic_names::check_naming_policy(name)
                .map_err(|e| KafkaError::new(E::InvalidTopicException, e.to_string()))?;
        }
        Ok(())
    }
}
