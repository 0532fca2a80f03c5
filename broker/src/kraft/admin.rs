//! Topic and config changes of a KRaft broker: validated here as far as the broker's
//! own rules go (names, config values), decided by the controller, and answered once
//! this broker's image shows the change — so a client that asks this broker next
//! (Metadata, DescribeConfigs) sees what it just did.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tidewater_quorum::controller::CreateTopic;
use tidewater_quorum::records::ConfigResourceType;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};
use uuid::Uuid;

use super::Cluster;
use crate::kafka_error::KafkaError;
use crate::metadata::TopicMetadata;
use crate::metadata::image_store::{image_topic_configs, topic_metadata};

/// How long a change may take to reach this broker's image before we answer anyway.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);

fn unexpected(reply: &ControllerReply) -> KafkaError {
    KafkaError::new(
        E::UnknownServerError,
        format!("unexpected controller reply {reply:?}"),
    )
}

impl Cluster {
    /// CreateTopics / auto-creation: `num_partitions` and `replication_factor` may be -1
    /// (broker defaults, resolved by the controller) when `assignments` is empty.
    pub async fn create_topic(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        assignments: BTreeMap<i32, Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMetadata, KafkaError> {
        let topic = CreateTopic {
            name: name.to_string(),
            topic_id: Uuid::new_v4().as_u128(),
            num_partitions,
            replication_factor,
            assignments,
            configs,
        };
        let reply = self
            .call(ControllerCall::CreateTopic {
                topic,
                validate_only,
            })
            .await
            .map_err(KafkaError::from)?;
        let ControllerReply::Topic(created) = reply else {
            return Err(unexpected(&reply));
        };
        let mut image = (*self.image()).clone();
        if !validate_only {
            let id = created.topic_id;
            self.wait_for_image(PROPAGATION_TIMEOUT, |i| i.topics_by_id.contains_key(&id))
                .await;
            image = (*self.image()).clone();
        }
        // The reply's own configs are what was asked; the image may not hold them yet.
        let mut meta = topic_metadata(&image, &created);
        if meta.configs.is_empty() {
            meta.configs = image_topic_configs(&image, name);
        }
        Ok(meta)
    }

    pub async fn delete_topic(&self, name: &str) -> Result<Uuid, KafkaError> {
        let reply = self
            .call(ControllerCall::DeleteTopic {
                name: name.to_string(),
            })
            .await
            .map_err(KafkaError::from)?;
        let ControllerReply::TopicId(id) = reply else {
            return Err(unexpected(&reply));
        };
        self.wait_for_image(PROPAGATION_TIMEOUT, |i| !i.topics_by_id.contains_key(&id))
            .await;
        Ok(Uuid::from_u128(id))
    }

    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let reply = self
            .call(ControllerCall::CreatePartitions {
                topic: name.to_string(),
                count,
                assignments,
                validate_only,
            })
            .await
            .map_err(KafkaError::from)?;
        if !matches!(reply, ControllerReply::Done) {
            return Err(unexpected(&reply));
        }
        if !validate_only {
            let wanted = usize::try_from(count).unwrap_or(0);
            self.wait_for_image(PROPAGATION_TIMEOUT, |i| {
                i.topic(name).is_some_and(|t| t.partitions.len() >= wanted)
            })
            .await;
        }
        Ok(())
    }

    /// IncrementalAlterConfigs for a topic or broker resource (`""` = cluster default).
    pub async fn alter_configs(
        &self,
        resource_type: ConfigResourceType,
        resource_name: &str,
        ops: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let reply = self
            .call(ControllerCall::IncrementalAlterConfigs {
                resource_type,
                resource_name: resource_name.to_string(),
                ops: ops.clone(),
                validate_only,
            })
            .await
            .map_err(KafkaError::from)?;
        if !matches!(reply, ControllerReply::Done) {
            return Err(unexpected(&reply));
        }
        if !validate_only {
            self.wait_for_image(PROPAGATION_TIMEOUT, |i| {
                ops.iter()
                    .all(|(k, v)| i.config(resource_type, resource_name, k) == v.as_deref())
            })
            .await;
        }
        Ok(())
    }
}
