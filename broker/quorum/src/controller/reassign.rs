//! AlterPartitionReassignments / ListPartitionReassignments.
//!
//! As in KRaft: during a move the replica set is target + (old replicas not in the
//! target), `adding` = target - old, `removing` = old - target. The move completes when
//! every target replica is in the ISR (see `election::build_change`); cancelling reverts
//! to the original replicas. A move that adds nothing completes at once.

use super::election::{Election, Target, build_change};
use super::topics::validate_replicas;
use super::{Controller, ControllerError, find_partition};
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, PartitionRecord};

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// Every partition with a reassignment in progress, in topic-id/partition order.
pub fn list_partition_reassignments(image: &MetadataImage) -> Vec<OngoingReassignment> {
    image
        .topics_by_id
        .values()
        .flat_map(|t| t.partitions.values().map(move |p| (t.name.as_str(), p)))
        .filter(|(_, p)| !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty())
        .map(|(topic, p)| OngoingReassignment {
            topic: topic.to_string(),
            partition: p.partition,
            replicas: p.replicas.clone(),
            adding_replicas: p.adding_replicas.clone(),
            removing_replicas: p.removing_replicas.clone(),
        })
        .collect()
}

/// The replica set before the ongoing reassignment began.
fn original_replicas(p: &PartitionRecord) -> Vec<i32> {
    p.replicas
        .iter()
        .copied()
        .filter(|b| !p.adding_replicas.contains(b))
        .collect()
}

impl Controller {
    /// Starts (`Some(target)`) or cancels (`None`) the reassignment of one partition.
    pub fn alter_partition_reassignment(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let tp = format!("{topic}-{partition}");
        let p = find_partition(image, topic, partition)?;
        let ongoing = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
        let original = original_replicas(p);
        let next = match target {
            None if !ongoing => return Err(ControllerError::NoReassignmentInProgress(tp)),
            None => Target {
                isr: intersect(&p.isr, &original),
                replicas: original,
                adding: vec![],
                removing: vec![],
            },
            Some(target) => {
                validate_replicas(image, target)?;
                let adding: Vec<i32> = target
                    .iter()
                    .copied()
                    .filter(|b| !original.contains(b))
                    .collect();
                let removing: Vec<i32> = original
                    .iter()
                    .copied()
                    .filter(|b| !target.contains(b))
                    .collect();
                let replicas: Vec<i32> = target.iter().chain(removing.iter()).copied().collect();
                Target {
                    isr: intersect(&p.isr, &replicas),
                    replicas,
                    adding,
                    removing,
                }
            }
        };
        // Reverting can leave no original replica in sync; like KRaft, only an unclean
        // election can then bring the partition back.
        let election = if next.isr.is_empty() {
            tracing::warn!(partition = %tp, "reassignment cancel leaves no original replica in the ISR");
            Election::Unclean
        } else {
            Election::Clean
        };
        Ok(build_change(image, p, next, election)
            .map(MetadataRecord::PartitionChange)
            .into_iter()
            .collect())
    }
}

fn intersect(isr: &[i32], replicas: &[i32]) -> Vec<i32> {
    isr.iter()
        .copied()
        .filter(|b| replicas.contains(b))
        .collect()
}
