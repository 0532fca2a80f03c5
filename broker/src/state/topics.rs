//! Topic lifecycle on the [`Broker`]: create, delete and grow topics so that
//! the metadata store and the logs always change together. Callers hold
//! `admin_lock`. Failures are `(Kafka error code, message)` for the response.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use tidewater_storage::TopicPartition;
use tracing::{info, warn};
use uuid::Uuid;

use super::Broker;
use super::topic_names::{self, OFFSETS_TOPIC};
use crate::metadata::TopicMetadata;

/// A refusal: Kafka error code plus a message for the client.
pub type TopicError = (i16, String);

impl Broker {
    /// Name checks for a topic about to be created: Kafka's rules, '.'/'_'
    /// collisions with existing topics and the optional naming policy.
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), TopicError> {
        topic_names::validate(name).map_err(|m| (E::InvalidTopicException.code(), m))?;
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
                .map_err(|m| (E::InvalidTopicException.code(), m))?;
        }
        Ok(())
    }

    /// Checks a replica assignment: every replica must be a live broker (only
    /// this node), no duplicates, and all partitions the same replication factor.
    pub fn check_assignment(
        &self,
        replicas: &[i32],
        expected_rf: Option<usize>,
    ) -> Result<(), TopicError> {
        if replicas.is_empty() {
            return Err((
                E::InvalidReplicaAssignment.code(),
                "Replica assignment must not be empty".into(),
            ));
        }
        if let Some(unknown) = replicas.iter().find(|r| **r != self.config.node_id) {
            return Err((
                E::InvalidReplicaAssignment.code(),
                format!(
                    "Replica assignment names broker {unknown}, which is not registered (live brokers: {})",
                    self.config.node_id
                ),
            ));
        }
        if replicas.len() > 1 {
            return Err((
                E::InvalidReplicaAssignment.code(),
                "Duplicate brokers in replica assignment".into(),
            ));
        }
        if expected_rf.is_some_and(|rf| rf != replicas.len()) {
            return Err((
                E::InvalidReplicaAssignment.code(),
                "All partitions must have the same replication factor".into(),
            ));
        }
        Ok(())
    }

    /// Validates configs and (unless `validate_only`) creates the topic and its logs.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: BTreeMap<i32, Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMetadata, TopicError> {
        self.check_new_topic_name(name)?;
        let config = self
            .log_defaults()
            .with_topic_overrides(&configs)
            .map_err(|e| (E::InvalidConfig.code(), e.to_string()))?;
        let topic = TopicMetadata {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(topic);
        }
        self.metadata
            .create_topic(topic.clone())
            .map_err(|e| (e.error_code(), e.to_string()))?;
        for &p in topic.partitions.keys() {
            let tp = TopicPartition::new(name, p);
            if let Err(e) = self.logs.get_or_create_log(&tp, config.clone()) {
                warn!(topic = %name, partition = p, error = %e, "cannot create log");
                return Err((E::KafkaStorageError.code(), e.to_string()));
            }
        }
        self.metrics.topic_created(name);
        info!(topic = %name, partitions = topic.partitions.len(), id = %topic.id, "created topic");
        Ok(topic)
    }

    /// Auto-creation for Metadata requests: broker defaults, Kafka's rules.
    pub fn auto_create_topic(&self, name: &str) -> Result<TopicMetadata, TopicError> {
        let partitions = (0..self.config.num_partitions)
            .map(|p| (p, vec![self.config.node_id]))
            .collect();
        self.create_topic(name, partitions, BTreeMap::new(), false)
    }

    /// Deletes a topic's metadata and schedules its logs for deletion.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        if !self.config.delete_topic_enable {
            return Err((
                E::TopicDeletionDisabled.code(),
                "Topic deletion is disabled (delete.topic.enable=false)".into(),
            ));
        }
        if topic_names::is_internal(name) {
            return Err((
                E::InvalidTopicException.code(),
                format!("Cannot delete internal topic {name}"),
            ));
        }
        let topic = self
            .metadata
            .delete_topic(name)
            .map_err(|e| (e.error_code(), e.to_string()))?;
        for &p in topic.partitions.keys() {
            if let Err(e) = self.logs.delete_log(&TopicPartition::new(name, p)) {
                warn!(topic = %name, partition = p, error = %e, "cannot delete log");
            }
        }
        self.metrics.topic_deleted(name);
        info!(topic = %name, id = %topic.id, "deleted topic");
        Ok(topic.id)
    }

    /// CreatePartitions: grows a topic to `count` partitions.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let topic = self.metadata.topic(name).ok_or_else(|| {
            (
                E::UnknownTopicOrPartition.code(),
                format!("Topic '{name}' does not exist."),
            )
        })?;
        if name == OFFSETS_TOPIC {
            return Err((
                E::InvalidPartitions.code(),
                format!("Cannot add partitions to internal topic {name}"),
            ));
        }
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        if count < current {
            return Err((
                E::InvalidPartitions.code(),
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {count}."
                ),
            ));
        }
        if count == current {
            return Err((
                E::InvalidPartitions.code(),
                format!("Topic already has {current} partitions."),
            ));
        }
        let new = usize::try_from(count - current).unwrap_or(0);
        let assignments = match assignments {
            Some(a) => {
                if a.len() != new {
                    return Err((
                        E::InvalidReplicaAssignment.code(),
                        format!(
                            "Increasing the number of partitions by {new} but {} assignments provided.",
                            a.len()
                        ),
                    ));
                }
                for r in &a {
                    self.check_assignment(r, None)?;
                }
                a
            }
            None => vec![vec![self.config.node_id]; new],
        };
        if validate_only {
            return Ok(());
        }
        let config = self.topic_log_config(&topic.configs);
        self.metadata
            .add_partitions(name, assignments)
            .map_err(|e| (e.error_code(), e.to_string()))?;
        for p in current..count {
            self.logs
                .get_or_create_log(&TopicPartition::new(name, p), config.clone())
                .map_err(|e| (E::KafkaStorageError.code(), e.to_string()))?;
        }
        info!(topic = %name, from = current, to = count, "added partitions");
        Ok(())
    }
}
