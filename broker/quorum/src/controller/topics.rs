//! Topic lifecycle: CreateTopics, DeleteTopics and CreatePartitions decisions
//! (KRaft's `ReplicationControlManager`, topic half). New partitions get their ISR
//! from the active replicas and the first of them as leader.

use std::collections::BTreeMap;

use super::placement::{BrokerPlacement, assign_replicas};
use super::{Controller, ControllerError, Staged, configs};
use crate::image::MetadataImage;
use crate::records::{ConfigResourceType, MetadataRecord, NO_LEADER, PartitionRecord, TopicId};
use crate::topic_name;

/// One topic of a CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateTopic {
    pub name: String,
    /// A fresh random id chosen by the caller (UUID v4 bits); it also seeds placement.
    pub topic_id: TopicId,
    /// -1 = `num.partitions`.
    pub num_partitions: i32,
    /// -1 = `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit assignment: partition -> replicas (then both counts must be -1).
    pub assignments: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

impl Controller {
    pub fn create_topic(
        &self,
        image: &MetadataImage,
        req: &CreateTopic,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        validate_topic_name(&req.name)?;
        if image.topic(&req.name).is_some() {
            return Err(ControllerError::TopicAlreadyExists(req.name.clone()));
        }
        // Metric names replace '.' with '_', so such names would share metrics (Kafka's rule).
        let normalized = topic_name::collision_key(&req.name);
        if let Some(existing) = image
            .topic_ids_by_name
            .keys()
            .find(|n| topic_name::collision_key(n) == normalized)
        {
            return Err(ControllerError::InvalidTopic(format!(
                "Topic '{}' collides with existing topic: {existing}",
                req.name
            )));
        }
        if req.topic_id == 0 || image.topics_by_id.contains_key(&req.topic_id) {
            return Err(ControllerError::InvalidRequest(format!(
                "topic id {:032x} is zero or already in use",
                req.topic_id
            )));
        }
        for (key, value) in &req.configs {
            configs::validate(ConfigResourceType::Topic, key, Some(value))?;
        }
        let assignment = if req.assignments.is_empty() {
            let n = if req.num_partitions == -1 {
                self.config.num_partitions
            } else {
                req.num_partitions
            };
            let rf = if req.replication_factor == -1 {
                self.config.default_replication_factor
            } else {
                req.replication_factor
            };
            if n <= 0 {
                return Err(ControllerError::InvalidPartitions(
                    "Number of partitions was set to an invalid non-positive value.".into(),
                ));
            }
            place(image, req.topic_id, n, rf, 0)?
        } else {
            if req.num_partitions != -1 || req.replication_factor != -1 {
                return Err(ControllerError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. \
                     Both cannot be used at the same time."
                        .into(),
                ));
            }
            let expected: Vec<i32> = (0..req.assignments.len() as i32).collect();
            if req.assignments.keys().copied().collect::<Vec<_>>() != expected {
                return Err(ControllerError::InvalidReplicaAssignment(
                    "partitions in the manual assignment must be numbered 0..n without gaps".into(),
                ));
            }
            let rf = req.assignments.values().next().map_or(0, Vec::len);
            for replicas in req.assignments.values() {
                if replicas.len() != rf {
                    return Err(ControllerError::InvalidReplicaAssignment(
                        "All partitions in the manual partition assignment must have the same number of replicas."
                            .into(),
                    ));
                }
                validate_replicas(image, replicas)?;
            }
            req.assignments.clone()
        };
        let mut staged = Staged::new(image);
        staged.push(MetadataRecord::Topic {
            name: req.name.clone(),
            topic_id: req.topic_id,
        });
        push_partitions(&mut staged, image, req.topic_id, &assignment)?;
        for (key, value) in &req.configs {
            staged.push(MetadataRecord::Config {
                resource_type: ConfigResourceType::Topic,
                resource_name: req.name.clone(),
                key: key.clone(),
                value: Some(value.clone()),
            });
        }
        Ok(staged.records)
    }

    pub fn delete_topic(
        &self,
        image: &MetadataImage,
        name: &str,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let topic = image.topic(name).ok_or_else(|| {
            ControllerError::UnknownTopicOrPartition(format!("Topic {name} does not exist"))
        })?;
        Ok(vec![MetadataRecord::RemoveTopic {
            topic_id: topic.topic_id,
        }])
    }

    pub fn delete_topic_by_id(
        &self,
        image: &MetadataImage,
        topic_id: TopicId,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        if !image.topics_by_id.contains_key(&topic_id) {
            return Err(ControllerError::UnknownTopicId(topic_id));
        }
        Ok(vec![MetadataRecord::RemoveTopic { topic_id }])
    }

    /// CreatePartitions: grow `name` to `new_count` partitions, with an optional explicit
    /// assignment for the new ones.
    pub fn create_partitions(
        &self,
        image: &MetadataImage,
        name: &str,
        new_count: i32,
        assignments: Option<&[Vec<i32>]>,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let topic = image.topic(name).ok_or_else(|| {
            ControllerError::UnknownTopicOrPartition(format!("Topic {name} does not exist"))
        })?;
        let current = topic.partitions.len() as i32;
        if new_count < current {
            return Err(ControllerError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {new_count}."
            )));
        }
        if new_count == current {
            return Err(ControllerError::InvalidPartitions(format!(
                "Topic already has {current} partitions."
            )));
        }
        let added = new_count - current;
        let assignment = match assignments {
            Some(list) => {
                if list.len() as i32 != added {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                        list.len()
                    )));
                }
                for replicas in list {
                    validate_replicas(image, replicas)?;
                }
                (current..).zip(list.iter().cloned()).collect()
            }
            None => {
                let rf = topic
                    .partitions
                    .values()
                    .next()
                    .map_or(1, |p| p.replicas.len() - p.removing_replicas.len());
                place(image, topic.topic_id, added, rf as i16, current)?
            }
        };
        let mut staged = Staged::new(image);
        push_partitions(&mut staged, image, topic.topic_id, &assignment)?;
        Ok(staged.records)
    }
}

fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    topic_name::validate(name).map_err(|e| ControllerError::InvalidTopic(e.to_string()))
}

/// A replica list must be non-empty, without duplicates, of registered brokers.
pub(crate) fn validate_replicas(
    image: &MetadataImage,
    replicas: &[i32],
) -> Result<(), ControllerError> {
    if replicas.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(
            "a partition must have at least one replica".into(),
        ));
    }
    let mut seen = replicas.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != replicas.len() {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "duplicate brokers in replica assignment {replicas:?}"
        )));
    }
    if let Some(missing) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "broker {missing} in the replica assignment is not registered"
        )));
    }
    Ok(())
}

/// Places `n` partitions starting at `start_partition` on active brokers.
fn place(
    image: &MetadataImage,
    topic_id: TopicId,
    n: i32,
    rf: i16,
    start_partition: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, ControllerError> {
    let brokers: Vec<BrokerPlacement> = image
        .brokers
        .values()
        .filter(|b| b.is_active())
        .map(|b| BrokerPlacement {
            broker_id: b.broker_id,
            rack: b.rack.clone(),
        })
        .collect();
    if rf <= 0 {
        return Err(ControllerError::InvalidReplicationFactor(
            "Replication factor must be larger than 0.".into(),
        ));
    }
    if rf as usize > brokers.len() {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} \
             cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        )));
    }
    // The topic id is random: its halves stand in for Kafka's random start and shift.
    let start = (topic_id % brokers.len() as u128) as usize;
    let shift = ((topic_id >> 64) % brokers.len() as u128) as usize;
    Ok(assign_replicas(
        &brokers,
        n,
        rf as usize,
        start_partition,
        start,
        shift,
    ))
}

fn push_partitions(
    staged: &mut Staged<'_>,
    image: &MetadataImage,
    topic_id: TopicId,
    assignment: &BTreeMap<i32, Vec<i32>>,
) -> Result<(), ControllerError> {
    for (partition, replicas) in assignment {
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|b| image.is_active_broker(*b))
            .collect();
        let Some(leader) = isr.first().copied() else {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "All brokers specified in the manual partition assignment for partition {partition} \
                 are fenced or in controlled shutdown."
            )));
        };
        debug_assert_ne!(leader, NO_LEADER);
        staged.push(MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition: *partition,
            replicas: replicas.clone(),
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }));
    }
    Ok(())
}
