//! The controller model: owns the partition's leader, leader epoch, partition epoch and
//! ISR, and the brokers' registrations. It applies AlterPartition requests with KRaft's
//! checks, fences crashed brokers (removing them from the ISR unless they are its last
//! member), elects leaders only from the ISR (no unclean election) and publishes every
//! change as a metadata snapshot.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use tidewater_replication::{AlterPartitionRequest, CommittedPartition, ReplicaId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub leader: Option<ReplicaId>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: BTreeSet<ReplicaId>,
    pub replicas: Vec<ReplicaId>,
    /// broker id -> (broker epoch, fenced)
    pub brokers: BTreeMap<ReplicaId, (i64, bool)>,
}

impl Snapshot {
    pub fn committed(&self) -> Option<CommittedPartition> {
        Some(CommittedPartition {
            leader_id: self.leader?,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr: self.isr.iter().copied().collect(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Controller {
    pub state: Snapshot,
}

impl Controller {
    pub fn new(replicas: Vec<ReplicaId>) -> Self {
        let brokers = replicas.iter().map(|&id| (id, (1, false))).collect();
        let state = Snapshot {
            leader: replicas.first().copied(),
            leader_epoch: 0,
            partition_epoch: 0,
            isr: replicas.iter().copied().collect(),
            replicas,
            brokers,
        };
        Self { state }
    }

    fn alive(&self, id: ReplicaId) -> bool {
        self.state
            .brokers
            .get(&id)
            .is_some_and(|&(_, fenced)| !fenced)
    }

    /// Elects any live ISR member (`pick` chooses which, so every member gets elected
    /// in some seed, not just the first in replica order).
    fn elect(&mut self, exclude: Option<ReplicaId>, pick: usize) {
        let s = &self.state;
        let candidates: Vec<ReplicaId> = s
            .replicas
            .iter()
            .copied()
            .filter(|id| s.isr.contains(id) && Some(*id) != exclude && self.alive(*id))
            .collect();
        self.state.leader = candidates.get(pick % candidates.len().max(1)).copied();
        self.state.leader_epoch += 1;
    }

    /// A broker stopped (its session expired): fence it, drop it from the ISR unless it
    /// is the last member, and move leadership away from it.
    pub fn fence(&mut self, id: ReplicaId, pick: usize) {
        if let Some(b) = self.state.brokers.get_mut(&id) {
            b.1 = true;
        }
        if self.state.isr.len() > 1 {
            self.state.isr.remove(&id);
        }
        if self.state.leader == Some(id) {
            self.elect(Some(id), pick);
        }
        self.state.partition_epoch += 1;
    }

    /// A broker registered again with a new broker epoch.
    pub fn register(&mut self, id: ReplicaId, pick: usize) -> i64 {
        let epoch = self.state.brokers.get(&id).map_or(1, |b| b.0 + 1);
        self.state.brokers.insert(id, (epoch, false));
        if self.state.leader.is_none() {
            self.elect(None, pick);
        }
        self.state.partition_epoch += 1;
        epoch
    }

    /// Preferred-leader style election while the old leader is still alive.
    pub fn move_leadership(&mut self, pick: usize) -> bool {
        let Some(old) = self.state.leader else {
            return false;
        };
        let s = &self.state;
        if !s
            .replicas
            .iter()
            .any(|id| *id != old && s.isr.contains(id) && self.alive(*id))
        {
            return false;
        }
        self.elect(Some(old), pick);
        self.state.partition_epoch += 1;
        true
    }

    /// KRaft's AlterPartition checks, then the update.
    pub fn alter_partition(
        &mut self,
        req: &AlterPartitionRequest,
    ) -> Result<CommittedPartition, ResponseError> {
        let s = &self.state;
        if s.leader != Some(req.leader_id) {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if req.leader_epoch != s.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if req.partition_epoch != s.partition_epoch {
            return Err(ResponseError::InvalidUpdateVersion);
        }
        let new_isr = req.isr_ids();
        if !new_isr.contains(&req.leader_id) {
            return Err(ResponseError::InvalidRequest);
        }
        for &(id, broker_epoch) in &req.new_isr {
            let eligible = match s.brokers.get(&id) {
                Some(&(epoch, fenced)) => !fenced && (broker_epoch == -1 || broker_epoch == epoch),
                None => false,
            };
            // Members already in the ISR may stay; new members must be live with the
            // broker epoch they fetched with (KIP-903).
            if !eligible && !s.isr.contains(&id) {
                return Err(ResponseError::IneligibleReplica);
            }
        }
        if new_isr != self.state.isr {
            self.state.isr = new_isr;
            self.state.partition_epoch += 1;
        }
        self.state
            .committed()
            .ok_or(ResponseError::NotLeaderOrFollower)
    }
}
