//! One simulated broker hosting one replica of the partition: its log, its role
//! (leader, follower or neither) built from the crate's state machines, and the glue a
//! real broker would have (serving fetches from the log, applying follower actions).

use tidewater_replication::{
    FollowerInit, FollowerRequest, FollowerState, LeaderConfig, LeaderInit, LeaderState,
    ProduceCompletion, ReplicaId,
};

use crate::controller::Snapshot;
use crate::log::MemLog;
use crate::network::{CONTROLLER, Envelope, Msg};

#[path = "node_rpc.rs"]
mod rpc;

/// Follower request timeout: a lost request or response is retried after this.
const REQUEST_TIMEOUT_MS: u64 = 300;
const FETCH_BACKOFF_MS: u64 = 50;
const ALTER_PARTITION_RETRY_MS: u64 = 250;
/// Max records per fetch response.
const MAX_FETCH_RECORDS: usize = 8;

pub enum Role {
    Idle,
    Leader(Box<LeaderState>),
    Follower {
        state: FollowerState,
        inflight_since: Option<u64>,
        backoff_until: u64,
    },
}

/// Everything a node emits while handling one event.
pub struct Ctx {
    pub now: u64,
    pub leader_config: LeaderConfig,
    pub out: Vec<Envelope>,
    pub completions: Vec<ProduceCompletion>,
}

pub struct Node {
    pub id: ReplicaId,
    pub alive: bool,
    pub broker_epoch: i64,
    pub log: MemLog,
    pub role: Role,
    /// The high watermark while neither leader nor follower.
    idle_hw: i64,
    /// The high watermark as last checkpointed (recovered after a crash).
    pub hw_checkpoint: i64,
    known_leader_epoch: i32,
    truncation_on_fetch: bool,
    alter_sent_at: u64,
}

impl Node {
    pub fn new(id: ReplicaId, truncation_on_fetch: bool) -> Self {
        Self {
            id,
            alive: true,
            broker_epoch: 1,
            log: MemLog::default(),
            role: Role::Idle,
            idle_hw: 0,
            hw_checkpoint: 0,
            known_leader_epoch: -1,
            truncation_on_fetch,
            alter_sent_at: 0,
        }
    }

    pub fn high_watermark(&self) -> i64 {
        match &self.role {
            Role::Idle => self.idle_hw,
            Role::Leader(l) => l.high_watermark(),
            Role::Follower { state, .. } => state.high_watermark(),
        }
    }

    pub fn leader(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    fn send(&self, ctx: &mut Ctx, to: ReplicaId, msg: Msg) {
        ctx.out.push(Envelope {
            from: self.id,
            to,
            msg,
        });
    }

    fn resign(&mut self, ctx: &mut Ctx) {
        self.idle_hw = self.high_watermark();
        if let Role::Leader(l) = std::mem::replace(&mut self.role, Role::Idle) {
            ctx.completions.extend(l.resign());
        }
    }

    pub fn crash(&mut self, lose_tail: bool) {
        let hw = self.hw_checkpoint;
        self.alive = false;
        self.role = Role::Idle;
        self.log.crash(lose_tail);
        self.idle_hw = hw.min(self.log.end_offset());
        self.hw_checkpoint = self.idle_hw;
    }

    pub fn restart(&mut self, broker_epoch: i64) {
        self.alive = true;
        self.broker_epoch = broker_epoch;
        self.known_leader_epoch = -1;
    }

    pub fn flush(&mut self) {
        self.log.flush();
        self.hw_checkpoint = self.high_watermark();
    }

    /// Becomes leader, follower or idle as the metadata says (Kafka's makeLeader /
    /// makeFollower).
    pub fn apply_metadata(&mut self, snapshot: &Snapshot, ctx: &mut Ctx) {
        // Like a KRaft broker, act only on metadata that knows this incarnation: a snapshot
        // published before a crash must not make the restarted broker leader again.
        let registered = snapshot.brokers.get(&self.id).map(|b| b.0);
        if !self.alive || registered != Some(self.broker_epoch) {
            return;
        }
        self.known_leader_epoch = snapshot.leader_epoch;
        if snapshot.leader == Some(self.id) {
            if let Role::Leader(l) = &mut self.role
                && l.leader_epoch() == snapshot.leader_epoch
            {
                for (&id, &(epoch, fenced)) in &snapshot.brokers {
                    l.update_broker_registration(id, epoch, fenced);
                }
                if let Some(committed) = snapshot.committed() {
                    l.on_partition_update(committed, ctx.now);
                }
                self.drain_leader(ctx);
                return;
            }
            self.resign(ctx);
            let init = LeaderInit {
                local_id: self.id,
                leader_epoch: snapshot.leader_epoch,
                partition_epoch: snapshot.partition_epoch,
                replicas: snapshot.replicas.clone(),
                isr: snapshot.isr.iter().copied().collect(),
                log_start_offset: 0,
                log_end_offset: self.log.end_offset(),
                high_watermark: self.idle_hw,
            };
            let mut leader = LeaderState::new(
                init,
                ctx.leader_config.clone(),
                &mut self.log.epochs,
                ctx.now,
            )
            .expect("leader epochs are non-negative");
            for (&id, &(epoch, fenced)) in &snapshot.brokers {
                leader.update_broker_registration(id, epoch, fenced);
            }
            self.role = Role::Leader(Box::new(leader));
            self.drain_leader(ctx);
            return;
        }
        if let Role::Follower { state, .. } = &self.role
            && Some(state.leader_id()) == snapshot.leader
            && state.leader_epoch() == snapshot.leader_epoch
        {
            return;
        }
        self.resign(ctx);
        if let Some(leader_id) = snapshot.leader {
            let init = FollowerInit {
                local_id: self.id,
                broker_epoch: self.broker_epoch,
                leader_id,
                leader_epoch: snapshot.leader_epoch,
                high_watermark: self.idle_hw,
                truncation_on_fetch: self.truncation_on_fetch,
            };
            let state = FollowerState::new(init, &self.log.epochs, self.log.end_offset());
            self.role = Role::Follower {
                state,
                inflight_since: None,
                backoff_until: 0,
            };
        }
    }

    /// Sends what the leader state prepared and collects finished produces.
    fn drain_leader(&mut self, ctx: &mut Ctx) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let mut out = Vec::new();
        if let Some(req) = l.take_alter_partition() {
            out.push(Msg::AlterPartition(req));
            self.alter_sent_at = ctx.now;
        } else if let Some(req) = l.inflight_alter_partition()
            && ctx.now >= self.alter_sent_at + ALTER_PARTITION_RETRY_MS
        {
            out.push(Msg::AlterPartition(req.clone()));
            self.alter_sent_at = ctx.now;
        }
        ctx.completions.extend(l.take_completions());
        for msg in out {
            self.send(ctx, CONTROLLER, msg);
        }
    }

    /// Periodic work: leader housekeeping or the follower's next request.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        match &mut self.role {
            Role::Idle => {}
            Role::Leader(l) => {
                l.tick(ctx.now);
                self.drain_leader(ctx);
            }
            Role::Follower {
                state,
                inflight_since,
                backoff_until,
            } => {
                if ctx.now < *backoff_until
                    || inflight_since.is_some_and(|t| ctx.now < t + REQUEST_TIMEOUT_MS)
                {
                    return;
                }
                let leader = state.leader_id();
                let msg = match state.next_request(&self.log.epochs, 0, self.log.end_offset()) {
                    FollowerRequest::Fetch(fetch) => Msg::Fetch(fetch),
                    FollowerRequest::OffsetForLeaderEpoch {
                        current_leader_epoch,
                        leader_epoch,
                        ..
                    } => Msg::OffsetForLeaderEpoch {
                        current_leader_epoch,
                        leader_epoch,
                    },
                    FollowerRequest::ListOffsets {
                        current_leader_epoch,
                        ..
                    } => Msg::ListOffsets {
                        current_leader_epoch,
                    },
                    FollowerRequest::TruncateToHighWatermark { offset } => {
                        self.log.truncate(offset);
                        state.on_truncated_to_high_watermark();
                        return;
                    }
                    FollowerRequest::Idle => return,
                };
                *inflight_since = Some(ctx.now);
                self.send(ctx, leader, msg);
            }
        }
    }
}
