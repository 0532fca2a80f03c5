//! AlterPartition: the partition leader asks to shrink or grow its ISR. Checks follow
//! KRaft's `ReplicationControlManager.alterPartition`: broker epoch, leader epoch
//! (FENCED_LEADER_EPOCH), sender is the leader, partition epoch (INVALID_UPDATE_VERSION)
//! and replica eligibility (INELIGIBLE_REPLICA). A grown ISR may complete a reassignment.
//!
//! A leader sends every pending ISR change in one request, as Kafka's
//! `AlterPartitionManager` does: [`Controller::alter_partitions`] decides them all as
//! one decision (one metadata log entry), each partition answered on its own. One
//! entry per partition made a broker rejoining 10,000 ISRs take minutes.

use super::election::{Election, Target, build_change};
use super::{Controller, ControllerError, Decision, Staged, registered_at_epoch};
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, PartitionRecord, TopicId};

/// One partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterPartition {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: TopicId,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

impl Controller {
    /// Decides every partition of a batched AlterPartition request in one decision:
    /// each request is checked against the image with the earlier ones applied, and
    /// answered with its partition state after the decision or its own refusal.
    pub fn alter_partitions(
        &self,
        image: &MetadataImage,
        reqs: &[AlterPartition],
    ) -> Decision<Vec<Result<PartitionRecord, ControllerError>>> {
        let mut staged = Staged::new(image);
        let mut replies = Vec::with_capacity(reqs.len());
        for req in reqs {
            let reply = self
                .alter_partition(&staged.image, req)
                .and_then(|records| {
                    for record in records {
                        staged.push(record);
                    }
                    staged
                        .image
                        .partition(req.topic_id, req.partition)
                        .cloned()
                        .ok_or_else(|| {
                            ControllerError::UnknownTopicOrPartition(format!(
                                "partition {} does not exist",
                                req.partition
                            ))
                        })
                });
            replies.push(reply);
        }
        Decision {
            records: staged.records,
            reply: replies,
        }
    }

    pub fn alter_partition(
        &self,
        image: &MetadataImage,
        req: &AlterPartition,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        registered_at_epoch(image, req.broker_id, req.broker_epoch)?;
        if !image.topics_by_id.contains_key(&req.topic_id) {
            return Err(ControllerError::UnknownTopicId(req.topic_id));
        }
        let p = image
            .partition(req.topic_id, req.partition)
            .ok_or_else(|| {
                ControllerError::UnknownTopicOrPartition(format!(
                    "partition {} does not exist",
                    req.partition
                ))
            })?;
        if req.leader_epoch < p.leader_epoch {
            return Err(ControllerError::FencedLeaderEpoch {
                current: p.leader_epoch,
                got: req.leader_epoch,
            });
        }
        if req.broker_id != p.leader {
            return Err(ControllerError::InvalidRequest(format!(
                "broker {} is not the leader of partition {} (leader is {})",
                req.broker_id, req.partition, p.leader
            )));
        }
        if req.leader_epoch > p.leader_epoch {
            // The leader knows a newer epoch than this controller: we are behind.
            return Err(ControllerError::NotController(format!(
                "leader epoch {} is newer than this controller's {}",
                req.leader_epoch, p.leader_epoch
            )));
        }
        if req.partition_epoch != p.partition_epoch {
            return Err(ControllerError::InvalidUpdateVersion(format!(
                "partition epoch {} does not match the current partition epoch {}",
                req.partition_epoch, p.partition_epoch
            )));
        }
        if !req.new_isr.contains(&p.leader) {
            return Err(ControllerError::InvalidRequest(format!(
                "the new ISR {:?} does not include the leader {}",
                req.new_isr, p.leader
            )));
        }
        let mut dedup = req.new_isr.clone();
        dedup.sort_unstable();
        dedup.dedup();
        if dedup.len() != req.new_isr.len() {
            return Err(ControllerError::InvalidRequest(format!(
                "the new ISR {:?} has duplicates",
                req.new_isr
            )));
        }
        let ineligible: Vec<i32> = req
            .new_isr
            .iter()
            .copied()
            .filter(|b| !p.replicas.contains(b) || !image.is_active_broker(*b))
            .collect();
        if !ineligible.is_empty() {
            return Err(ControllerError::IneligibleReplica(format!(
                "Rejecting AlterPartition request for partition {} because it specified ineligible \
                 replicas {ineligible:?} in the new ISR {:?}",
                req.partition, req.new_isr
            )));
        }
        let target = Target {
            isr: req.new_isr.clone(),
            ..Target::from(p)
        };
        Ok(build_change(image, p, target, Election::Clean)
            .map(MetadataRecord::PartitionChange)
            .into_iter()
            .collect())
    }
}
