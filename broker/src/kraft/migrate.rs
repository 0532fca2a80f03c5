//! One-time migration of a data dir written by the single-node mode without KRaft
//! (0.2 and earlier): its topics (with their ids and partition counts), topic configs
//! and dynamic broker and group configs move from `tidewater-metadata.json` into the
//! metadata log, decided by this node's own controller like any other change. Records
//! stay where they are: the partition directories keep their names, and the replicas
//! the image assigns to this node open them as they are.
//!
//! Idempotent: a topic already in the image under the same id counts as migrated, so
//! a crash half-way resumes on the next start. The file's topics and configs are cleared
//! only once everything is in the metadata log.

use tidewater_quorum::controller::CreateTopic;
use tidewater_quorum::records::ConfigResourceType;
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure};
use tracing::info;

use super::Cluster;
use crate::metadata::{LegacyMetadata, NodeFile};

/// Why an old single-node data dir could not be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "cannot migrate the single-node metadata of {what} into the metadata log: {failure} (the data dir is unchanged; fix the cause and start again)"
    )]
    Refused {
        what: String,
        failure: ControllerFailure,
    },
    #[error(
        "topic {name} is in the metadata log with id {in_log:032x}, but this data dir knows it as {on_disk:032x}"
    )]
    TopicIdMismatch {
        name: String,
        in_log: u128,
        on_disk: u128,
    },
    #[error(transparent)]
    File(#[from] crate::metadata::MetadataError),
}

/// Migrates what `file` still holds from the old single-node mode, if anything. The
/// node must be unfenced, so migrated partitions get a live leader.
pub async fn migrate_file_metadata(
    cluster: &Cluster,
    file: &NodeFile,
) -> Result<(), MigrationError> {
    let Some(legacy) = file.legacy() else {
        return Ok(());
    };
    info!(
        topics = legacy.topics.len(),
        "migrating the single-node metadata file into the metadata log"
    );
    migrate_topics(cluster, &legacy).await?;
    migrate_configs(cluster, &legacy).await?;
    file.clear_legacy()?;
    info!(
        "single-node metadata migrated; tidewater-metadata.json keeps only the producer-id counter"
    );
    Ok(())
}

async fn migrate_topics(cluster: &Cluster, legacy: &LegacyMetadata) -> Result<(), MigrationError> {
    for topic in legacy.topics.values() {
        let on_disk = topic.id.as_u128();
        if let Some(existing) = cluster.image().topic(&topic.name) {
            if existing.topic_id != on_disk {
                return Err(MigrationError::TopicIdMismatch {
                    name: topic.name.clone(),
                    in_log: existing.topic_id,
                    on_disk,
                });
            }
            continue;
        }
        let call = ControllerCall::CreateTopic {
            topic: CreateTopic {
                name: topic.name.clone(),
                topic_id: on_disk,
                num_partitions: -1,
                replication_factor: -1,
                assignments: topic.partitions.clone(),
                configs: topic.configs.clone(),
            },
            validate_only: false,
        };
        cluster
            .call(call)
            .await
            .map_err(|failure| MigrationError::Refused {
                what: format!("topic {}", topic.name),
                failure,
            })?;
        info!(topic = %topic.name, id = %topic.id, partitions = topic.partitions.len(), "migrated topic");
    }
    Ok(())
}

async fn migrate_configs(cluster: &Cluster, legacy: &LegacyMetadata) -> Result<(), MigrationError> {
    let node = cluster.node_id.to_string();
    let resources = [
        (
            ConfigResourceType::Broker,
            String::new(),
            &legacy.broker_configs,
        ),
        (
            ConfigResourceType::Broker,
            node,
            &legacy.node_broker_configs,
        ),
    ]
    .into_iter()
    .chain(
        legacy
            .group_configs
            .iter()
            .map(|(g, c)| (ConfigResourceType::Group, g.clone(), c)),
    );
    for (resource_type, resource_name, configs) in resources {
        if configs.is_empty() {
            continue;
        }
        let ops = configs
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let what = format!("the {resource_type:?} configs of '{resource_name}'");
        cluster
            .call(ControllerCall::IncrementalAlterConfigs {
                resource_type,
                resource_name,
                ops,
                validate_only: false,
            })
            .await
            .map_err(|failure| MigrationError::Refused { what, failure })?;
    }
    Ok(())
}
