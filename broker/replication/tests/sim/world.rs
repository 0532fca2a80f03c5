//! The simulated cluster: nodes, controller, network, producer and the fault injector,
//! advanced one step at a time from one seeded random generator so a seed replays the
//! exact same run.

use std::collections::BTreeMap;

use proptest::prelude::RngExt;
use proptest::test_runner::TestRng;
use tidewater_replication::{LeaderConfig, ReplicaId};

use crate::controller::Controller;
use crate::log::Rec;
use crate::network::{CONTROLLER, Delivery, Envelope, Msg, NetConfig, Network};
use crate::node::{Ctx, Node, Role};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub replicas: usize,
    pub leader: LeaderConfig,
    pub lose_unflushed_on_crash: bool,
    pub net: NetConfig,
    pub chaos_steps: usize,
    pub crash_per_mille: u32,
    pub restart_per_mille: u32,
    pub move_leader_per_mille: u32,
    pub flush_per_mille: u32,
    pub produce_per_mille: u32,
    pub produce_timeout_ms: u64,
    /// Chance per step to cut one broker off from the other brokers (not from the
    /// controller) for a while, so it lags without being fenced.
    pub isolate_per_mille: u32,
}

/// What happened, for the failure report and to check the run did something.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub acked_records: usize,
    pub failed_produces: usize,
    pub crashes: usize,
    pub tail_losses: usize,
    pub leader_moves: usize,
    pub isolations: usize,
    pub max_leader_epoch: i32,
}

pub struct World {
    pub rng: TestRng,
    pub cfg: SimConfig,
    pub now: u64,
    pub nodes: Vec<Node>,
    pub controller: Controller,
    pub net: Network,
    /// payload -> (offset, epoch) where its leader wrote it.
    pub written: BTreeMap<u64, (i64, i32)>,
    /// offset -> record, for every record acknowledged to an acks=all producer.
    pub acked: BTreeMap<i64, Rec>,
    /// Every record a consumer could have read so far (below some replica's high
    /// watermark; KIP-392 lets consumers read from followers too), by offset.
    pub exposed: Vec<Rec>,
    pending: BTreeMap<u64, Vec<(i64, Rec)>>,
    next_payload: u64,
    next_request: u64,
    pub stats: Stats,
    pub trace: Vec<String>,
}

impl World {
    pub fn new(rng: TestRng, cfg: SimConfig, truncation_on_fetch: Vec<bool>) -> Self {
        let ids: Vec<ReplicaId> = (0..cfg.replicas as ReplicaId).collect();
        let nodes = ids
            .iter()
            .map(|&id| Node::new(id, truncation_on_fetch[id as usize]))
            .collect();
        let mut world = Self {
            rng,
            cfg,
            now: 0,
            nodes,
            controller: Controller::new(ids),
            net: Network::default(),
            written: BTreeMap::new(),
            acked: BTreeMap::new(),
            exposed: Vec::new(),
            pending: BTreeMap::new(),
            next_payload: 0,
            next_request: 0,
            stats: Stats::default(),
            trace: Vec::new(),
        };
        world.publish_all();
        world
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            now: self.now,
            leader_config: self.cfg.leader.clone(),
            out: Vec::new(),
            completions: Vec::new(),
        }
    }

    pub fn publish_all(&mut self) {
        let snapshot = self.controller.state.clone();
        self.stats.max_leader_epoch = self.stats.max_leader_epoch.max(snapshot.leader_epoch);
        for id in 0..self.nodes.len() as ReplicaId {
            self.net
                .publish(&mut self.rng, &self.cfg.net, self.now, id, snapshot.clone());
        }
    }

    fn finish(&mut self, ctx: Ctx) -> Result<(), String> {
        for env in ctx.out {
            self.net.send(&mut self.rng, &self.cfg.net, self.now, env);
        }
        for c in ctx.completions {
            let Some(records) = self.pending.remove(&c.request_id) else {
                continue;
            };
            if c.result.is_err() {
                self.stats.failed_produces += 1;
                continue;
            }
            for (offset, rec) in records {
                if let Some(previous) = self.acked.insert(offset, rec)
                    && previous != rec
                {
                    return Err(format!(
                        "two acknowledged records at offset {offset}: {previous:?} and {rec:?}"
                    ));
                }
                self.stats.acked_records += 1;
            }
        }
        Ok(())
    }

    /// One step: time passes, due messages arrive, nodes tick, the producer and the
    /// fault injector may act.
    pub fn step(&mut self, chaos: bool, produce: bool) -> Result<(), String> {
        self.now += self.rng.random_range(1..=10u64);
        while let Some(delivery) = self.net.pop_due(self.now) {
            let mut ctx = self.ctx();
            match delivery {
                Delivery::Metadata { to, snapshot } => {
                    if let Some(node) = self.nodes.get_mut(to as usize) {
                        node.apply_metadata(&snapshot, &mut ctx);
                    }
                }
                Delivery::Message(env) if env.to == CONTROLLER => self.on_controller_message(env),
                Delivery::Message(env) => {
                    if let Some(node) = self.nodes.get_mut(env.to as usize).filter(|n| n.alive) {
                        node.handle(env, &mut ctx);
                    }
                }
            }
            self.finish(ctx)?;
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive {
                let mut ctx = self.ctx();
                self.nodes[i].tick(&mut ctx);
                self.finish(ctx)?;
            }
        }
        if produce && self.rng.random_range(0..1000) < self.cfg.produce_per_mille {
            let acks_all = self.rng.random_range(0..5) != 0;
            self.produce(acks_all)?;
        }
        if chaos {
            self.inject_faults();
        }
        if self.rng.random_range(0..1000) < self.cfg.flush_per_mille {
            let i = self.rng.random_range(0..self.nodes.len());
            self.nodes[i].flush();
        }
        Ok(())
    }

    fn on_controller_message(&mut self, env: Envelope) {
        let Msg::AlterPartition(req) = env.msg else {
            return;
        };
        let before = self.controller.state.partition_epoch;
        let result = self.controller.alter_partition(&req);
        if self.controller.state.partition_epoch != before {
            self.trace.push(format!(
                "t={} controller ISR -> {:?}",
                self.now, self.controller.state.isr
            ));
            self.publish_all();
        }
        let response = tidewater_replication::AlterPartitionResponse {
            request_id: req.request_id,
            result,
        };
        let env = Envelope {
            from: CONTROLLER,
            to: env.from,
            msg: Msg::AlterPartitionResponse(response),
        };
        self.net.send(&mut self.rng, &self.cfg.net, self.now, env);
    }

    /// A producer sends to a node that believes it leads (possibly stale). Only acks=all
    /// records that complete successfully count as acknowledged.
    pub fn produce(&mut self, acks_all: bool) -> Result<(), String> {
        let leaders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && matches!(self.nodes[i].role, Role::Leader(_)))
            .collect();
        if leaders.is_empty() {
            return Ok(());
        }
        let i = leaders[self.rng.random_range(0..leaders.len())];
        let count = self.rng.random_range(1..=3u64);
        let mut ctx = self.ctx();
        let node = &mut self.nodes[i];
        let Some(leader) = node.leader() else {
            return Ok(());
        };
        if leader.check_produce(acks_all).is_err() {
            self.stats.failed_produces += 1;
            return Ok(());
        }
        let epoch = leader.leader_epoch();
        let mut records = Vec::new();
        for _ in 0..count {
            self.next_payload += 1;
            let rec = Rec {
                epoch,
                payload: self.next_payload,
            };
            let offset = node.log.end_offset();
            node.log.append(rec);
            self.written.insert(rec.payload, (offset, epoch));
            records.push((offset, rec));
        }
        let end = node.log.end_offset();
        self.next_request += 1;
        self.pending.insert(self.next_request, records);
        let leader = node.leader().ok_or("leader vanished")?;
        leader.on_leader_append(end, self.now);
        leader.await_acks(
            self.next_request,
            end,
            self.cfg.produce_timeout_ms,
            self.now,
        );
        ctx.completions.extend(leader.take_completions());
        self.finish(ctx)
    }

    fn inject_faults(&mut self) {
        let n = self.nodes.len();
        if self.rng.random_range(0..1000) < self.cfg.crash_per_mille {
            let i = self.rng.random_range(0..n);
            if self.nodes[i].alive {
                let id = i as ReplicaId;
                // Losing unflushed data is only survivable while another ISR member holds
                // it; the last ISR member keeps its log (Kafka without KIP-966 loses
                // acknowledged data otherwise, by design).
                let sole_isr =
                    self.controller.state.isr.len() == 1 && self.controller.state.isr.contains(&id);
                let lose_tail = self.cfg.lose_unflushed_on_crash && !sole_isr;
                let lost = self.nodes[i].log.records.len() - self.nodes[i].log.flushed;
                self.nodes[i].crash(lose_tail);
                self.stats.crashes += 1;
                if lose_tail && lost > 0 {
                    self.stats.tail_losses += 1;
                }
                let pick = self.rng.random_range(0..64);
                self.controller.fence(id, pick);
                self.trace.push(format!(
                    "t={} crash {id} lose_tail={lose_tail} lost={lost}",
                    self.now
                ));
                self.publish_all();
            }
        }
        if self.rng.random_range(0..1000) < self.cfg.restart_per_mille {
            let i = self.rng.random_range(0..n);
            if !self.nodes[i].alive {
                self.restart(i);
            }
        }
        if self.rng.random_range(0..1000) < self.cfg.isolate_per_mille {
            let id = self.rng.random_range(0..n) as ReplicaId;
            let until = self.now + self.rng.random_range(200..=3_000u64);
            self.net.isolate(id, until);
            self.stats.isolations += 1;
            self.trace
                .push(format!("t={} isolate {id} until {until}", self.now));
        }
        let pick = self.rng.random_range(0..64);
        if self.rng.random_range(0..1000) < self.cfg.move_leader_per_mille
            && self.controller.move_leadership(pick)
        {
            self.stats.leader_moves += 1;
            self.trace.push(format!(
                "t={} leader -> {:?}",
                self.now, self.controller.state.leader
            ));
            self.publish_all();
        }
    }

    pub fn restart(&mut self, i: usize) {
        let pick = self.rng.random_range(0..64);
        let epoch = self.controller.register(i as ReplicaId, pick);
        self.nodes[i].restart(epoch);
        self.trace.push(format!(
            "t={} restart {i} broker_epoch={epoch} leader={:?}",
            self.now, self.controller.state.leader
        ));
        self.publish_all();
    }
}
