//! ElectLeaders (preferred and unclean) and the automatic preferred-leader rebalance.
//! A request naming many partitions (or all of them) is one decision, one metadata log
//! entry, as KRaft's `electLeaders` is: one per partition took minutes at 10,000.

use super::brokers::election_for;
use super::election::{Election, Target, build_change};
use super::features::LEADER_HANDOFF_METADATA_VERSION;
use super::{Controller, ControllerError, Decision, Staged, find_partition};
use crate::image::{METADATA_VERSION, MetadataImage};
use crate::records::{LeaderHandoff, MetadataRecord, NO_LEADER, PartitionRecord, TopicId};

/// The ElectLeaders election type (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl Controller {
    /// ElectLeaders for `partitions` as one decision: each election sees the ones
    /// before it and is answered on its own (ELECTION_NOT_NEEDED and the like).
    pub fn elect_leaders(
        &self,
        image: &MetadataImage,
        partitions: &[(String, i32)],
        kind: ElectionType,
    ) -> Decision<Vec<Result<(), ControllerError>>> {
        let mut staged = Staged::new(image);
        let mut reply = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            match self.elect_leader(&staged.image, topic, *partition, kind) {
                Ok(records) => {
                    for record in records {
                        staged.push(record);
                    }
                    reply.push(Ok(()));
                }
                Err(e) => reply.push(Err(e)),
            }
        }
        Decision {
            records: staged.records,
            reply,
        }
    }

    /// ElectLeaders for one partition.
    pub fn elect_leader(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
        kind: ElectionType,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let tp = format!("{topic}-{partition}");
        let p = find_partition(image, topic, partition)?;
        let change = match kind {
            ElectionType::Preferred => {
                let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
                if p.leader == preferred {
                    return Err(ControllerError::ElectionNotNeeded(tp));
                }
                if !p.isr.contains(&preferred) || !image.is_active_broker(preferred) {
                    return Err(ControllerError::PreferredLeaderNotAvailable(format!(
                        "Failed to elect leader for partition {tp} under strategy PreferredReplicaPartitionLeaderElectionStrategy"
                    )));
                }
                if let Some(handoff) = preferred_handoff(image, p, preferred) {
                    return Ok(handoff.into_iter().collect());
                }
                build_change(image, p, Target::from(p), Election::Preferred)
            }
            ElectionType::Unclean => {
                if p.leader != NO_LEADER && image.is_active_broker(p.leader) {
                    return Err(ControllerError::ElectionNotNeeded(tp));
                }
                let change = build_change(image, p, Target::from(p), Election::Unclean);
                if change
                    .as_ref()
                    .and_then(|c| c.leader)
                    .is_none_or(|l| l == NO_LEADER)
                {
                    return Err(ControllerError::EligibleLeadersNotAvailable(format!(
                        "Failed to elect leader for partition {tp}: no replica is alive"
                    )));
                }
                change
            }
        };
        Ok(change
            .map(MetadataRecord::PartitionChange)
            .into_iter()
            .collect())
    }

    /// The leader at `leader_epoch` has stopped appending and its handoff target holds
    /// its log: elect the target, or cancel the handoff (the leader appends again) when
    /// it can no longer be elected. Nothing for a handoff that already ended.
    pub fn complete_leader_handoff(
        &self,
        image: &MetadataImage,
        topic_id: TopicId,
        partition: i32,
        leader_epoch: i32,
    ) -> Vec<MetadataRecord> {
        let Some(p) = image.partition(topic_id, partition) else {
            return Vec::new();
        };
        let Some(to) = image.leader_handoff(topic_id, partition) else {
            return Vec::new();
        };
        if p.leader_epoch != leader_epoch {
            return Vec::new();
        }
        match build_change(image, p, Target::from(p), Election::Preferred) {
            Some(change) if change.leader == Some(to) => {
                vec![MetadataRecord::PartitionChange(change)]
            }
            _ => vec![MetadataRecord::LeaderHandoff(LeaderHandoff {
                topic_id,
                partition,
                leader_epoch,
                to: NO_LEADER,
            })],
        }
    }

    /// [`Self::complete_leader_handoff`] for each (topic id, partition, leader epoch),
    /// as one batch of records; a partition named twice counts once.
    pub fn complete_leader_handoffs(
        &self,
        image: &MetadataImage,
        partitions: &[(TopicId, i32, i32)],
    ) -> Vec<MetadataRecord> {
        let mut seen = std::collections::HashSet::new();
        partitions
            .iter()
            .filter(|(topic_id, partition, _)| seen.insert((*topic_id, *partition)))
            .flat_map(|(topic_id, partition, epoch)| {
                self.complete_leader_handoff(image, *topic_id, *partition, *epoch)
            })
            .collect()
    }

    /// When `auto.leader.rebalance.enable`: move leadership back to the preferred
    /// replica wherever it is an active ISR member and not the leader.
    pub fn rebalance_leaders(&self, image: &MetadataImage) -> Vec<MetadataRecord> {
        if !self.config.auto_leader_rebalance_enable {
            return Vec::new();
        }
        let mut records = Vec::new();
        for p in image.partitions() {
            let Some(preferred) = p.replicas.first().copied().filter(|pref| *pref != p.leader)
            else {
                continue;
            };
            let valid = p.isr.contains(&preferred) && image.is_active_broker(preferred);
            if let (true, Some(handoff)) = (valid, preferred_handoff(image, p, preferred)) {
                records.extend(handoff);
            } else if let Some(c) = build_change(image, p, Target::from(p), Election::Preferred)
                .filter(|c| c.leader.is_some())
            {
                records.push(MetadataRecord::PartitionChange(c));
            }
        }
        records
    }

    /// Elects leaders for all offline partitions, honoring each topic's unclean setting
    /// (run after a config change enables unclean election).
    pub fn elect_offline_leaders(&self, image: &MetadataImage) -> Vec<MetadataRecord> {
        image
            .partitions()
            .filter(|p| p.leader == NO_LEADER)
            .filter_map(|p| {
                let election = election_for(
                    image,
                    p.topic_id,
                    self.config.unclean_leader_election_enable,
                );
                build_change(image, p, Target::from(p), election)
            })
            .map(MetadataRecord::PartitionChange)
            .collect()
    }
}

/// From 4.1-IV0 a live leader hands its partition to the preferred replica (an available
/// one) instead of losing it at once: `Some(record)` to start that, `Some(None)` when it
/// is already under way; `None` below that level or when the leader is gone.
fn preferred_handoff(
    image: &MetadataImage,
    p: &PartitionRecord,
    preferred: i32,
) -> Option<Option<MetadataRecord>> {
    if image.feature_level(METADATA_VERSION) < LEADER_HANDOFF_METADATA_VERSION
        || !image.is_active_broker(p.leader)
    {
        return None;
    }
    if image.leader_handoff(p.topic_id, p.partition) == Some(preferred) {
        return Some(None);
    }
    Some(Some(MetadataRecord::LeaderHandoff(LeaderHandoff {
        topic_id: p.topic_id,
        partition: p.partition,
        leader_epoch: p.leader_epoch,
        to: preferred,
    })))
}
