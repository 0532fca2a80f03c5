//! Preferred-leader handoffs in the image (metadata.version 4.1-IV0): which leaders are
//! handing their partition to its preferred replica. A handoff belongs to one leader
//! epoch, so any leader change ends it and a record for an older epoch is ignored.

use super::MetadataImage;
use crate::records::{LeaderHandoff, NO_LEADER, TopicId};

impl MetadataImage {
    /// The replica the current leader of the partition is handing its leadership to.
    pub fn leader_handoff(&self, topic_id: TopicId, partition: i32) -> Option<i32> {
        let p = self.partition(topic_id, partition)?;
        let (epoch, to) = *self.leader_handoffs.get(&topic_id)?.get(&partition)?;
        (epoch == p.leader_epoch).then_some(to)
    }

    pub(super) fn apply_leader_handoff(&mut self, h: &LeaderHandoff) {
        let current = self
            .partition(h.topic_id, h.partition)
            .map(|p| p.leader_epoch);
        if current != Some(h.leader_epoch) {
            tracing::warn!(
                topic_id = h.topic_id,
                partition = h.partition,
                epoch = h.leader_epoch,
                "leader handoff for another leader epoch ignored"
            );
            return;
        }
        if h.to == NO_LEADER {
            self.end_leader_handoff(h.topic_id, h.partition);
        } else {
            self.leader_handoffs
                .entry(h.topic_id)
                .or_default()
                .insert(h.partition, (h.leader_epoch, h.to));
        }
    }

    pub(super) fn end_leader_handoff(&mut self, topic_id: TopicId, partition: i32) {
        if let Some(partitions) = self.leader_handoffs.get_mut(&topic_id) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                self.leader_handoffs.remove(&topic_id);
            }
        }
    }
}
