//! The simulated network: every message gets a random delay (so messages reorder) and
//! may be dropped; the controller's metadata channel is reliable and in order per
//! broker, like the KRaft metadata log, but lags.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use kafka_protocol::ResponseError;
use proptest::prelude::RngExt;
use proptest::test_runner::TestRng;
use tidewater_replication::{
    AlterPartitionRequest, AlterPartitionResponse, EpochEndOffset, FetchPartitionResponse,
    FollowerFetch, ReplicaId,
};

use crate::controller::Snapshot;
use crate::log::Rec;

/// The controller's address on the network.
pub const CONTROLLER: ReplicaId = -1;

#[derive(Debug, Clone)]
pub enum Msg {
    Fetch(FollowerFetch),
    FetchResponse {
        response: FetchPartitionResponse,
        records: Vec<Rec>,
    },
    OffsetForLeaderEpoch {
        current_leader_epoch: i32,
        leader_epoch: i32,
    },
    OffsetForLeaderEpochResponse {
        request_leader_epoch: i32,
        result: Result<EpochEndOffset, ResponseError>,
    },
    ListOffsets {
        current_leader_epoch: i32,
    },
    ListOffsetsResponse {
        request_leader_epoch: i32,
        result: Result<(i64, i64), ResponseError>,
    },
    AlterPartition(AlterPartitionRequest),
    AlterPartitionResponse(AlterPartitionResponse),
}

#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: ReplicaId,
    pub to: ReplicaId,
    pub msg: Msg,
}

#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    pub drop_per_mille: u32,
    pub max_delay_ms: u64,
    pub metadata_max_delay_ms: u64,
}

#[derive(Debug, Default)]
pub struct Network {
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    in_flight: BTreeMap<u64, Envelope>,
    metadata: BinaryHeap<Reverse<(u64, u64)>>,
    metadata_in_flight: BTreeMap<u64, (ReplicaId, Snapshot)>,
    /// Last scheduled metadata delivery per broker, to keep the channel in order.
    metadata_last: BTreeMap<ReplicaId, u64>,
    /// Brokers cut off from other brokers until the given time.
    isolated: BTreeMap<ReplicaId, u64>,
    seq: u64,
    pub dropped: u64,
    pub delivered: u64,
}

impl Network {
    pub fn isolate(&mut self, id: ReplicaId, until: u64) {
        self.isolated.insert(id, until);
    }

    pub fn heal(&mut self) {
        self.isolated.clear();
    }

    fn cut_off(&self, env: &Envelope, now: u64) -> bool {
        let isolated = |id: ReplicaId| self.isolated.get(&id).is_some_and(|&until| now < until);
        env.from != CONTROLLER && env.to != CONTROLLER && (isolated(env.from) || isolated(env.to))
    }

    pub fn send(&mut self, rng: &mut TestRng, cfg: &NetConfig, now: u64, env: Envelope) {
        let dropped = rng.random_range(0..1000) < cfg.drop_per_mille;
        if dropped || self.cut_off(&env, now) {
            self.dropped += 1;
            return;
        }
        let at = now + rng.random_range(1..=cfg.max_delay_ms.max(1));
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_flight.insert(self.seq, env);
    }

    pub fn publish(
        &mut self,
        rng: &mut TestRng,
        cfg: &NetConfig,
        now: u64,
        to: ReplicaId,
        snapshot: Snapshot,
    ) {
        let last = self.metadata_last.get(&to).copied().unwrap_or(0);
        let at = (now + rng.random_range(0..=cfg.metadata_max_delay_ms)).max(last);
        self.metadata_last.insert(to, at);
        self.seq += 1;
        self.metadata.push(Reverse((at, self.seq)));
        self.metadata_in_flight.insert(self.seq, (to, snapshot));
    }

    /// The next message due at or before `now`, metadata first.
    pub fn pop_due(&mut self, now: u64) -> Option<Delivery> {
        if let Some(&Reverse((at, seq))) = self.metadata.peek()
            && at <= now
        {
            self.metadata.pop();
            let (to, snapshot) = self.metadata_in_flight.remove(&seq)?;
            return Some(Delivery::Metadata { to, snapshot });
        }
        if let Some(&Reverse((at, seq))) = self.queue.peek()
            && at <= now
        {
            self.queue.pop();
            self.delivered += 1;
            return self.in_flight.remove(&seq).map(Delivery::Message);
        }
        None
    }
}

pub enum Delivery {
    Message(Envelope),
    Metadata { to: ReplicaId, snapshot: Snapshot },
}
