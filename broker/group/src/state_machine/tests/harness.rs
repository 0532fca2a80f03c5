//! The test shell: drives [`Core`] exactly like the tokio shell does, without tokio.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::backend::OffsetsRecord;
use crate::config::GroupConfig;
use crate::group::Group;
use crate::state_machine::{CommitPlan, Core, Effect, JoinArgs, Reply, SyncArgs, Timer};

pub const GROUP: &str = "g";
pub const START_MS: u64 = 1_700_000_000_000;

/// What a test sees of one request: answered now, or parked (and maybe answered later).
pub struct Harness {
    pub core: Core,
    pub now: u64,
    pub joins: HashMap<String, JoinGroupResponse>,
    pub syncs: HashMap<String, SyncGroupResponse>,
    pub timers: Vec<(u64, u64, String, Timer)>,
    armed: u64,
    /// Every appended batch, per `__consumer_offsets` partition, in order.
    pub log: Vec<(i32, OffsetsRecord)>,
    /// When set, appends fail with this Kafka error code.
    pub fail_appends: Option<kafka_protocol::ResponseError>,
}

impl Harness {
    pub fn new(config: GroupConfig) -> Self {
        Self::with_core(Core::new(config))
    }

    /// A coordinator of a multi-node cluster, leading no partition yet.
    pub fn unowned(config: GroupConfig) -> Self {
        Self::with_core(Core::new_unowned(config))
    }

    fn with_core(core: Core) -> Self {
        Self {
            core,
            now: START_MS,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            timers: Vec::new(),
            armed: 0,
            log: Vec::new(),
            fail_appends: None,
        }
    }

    pub fn default_config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            ..GroupConfig::default()
        }
    }

    pub fn append(
        &mut self,
        partition: i32,
        records: Vec<OffsetsRecord>,
    ) -> Result<(), kafka_protocol::ResponseError> {
        if let Some(error) = self.fail_appends {
            return Err(error);
        }
        self.log.extend(records.into_iter().map(|r| (partition, r)));
        Ok(())
    }

    pub fn run_effects(&mut self) {
        loop {
            let effects = self.core.take_effects();
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                match effect {
                    Effect::Join {
                        member_id,
                        response,
                        ..
                    } => {
                        assert!(
                            self.joins.insert(member_id.clone(), response).is_none(),
                            "join of {member_id} answered twice"
                        );
                    }
                    Effect::Sync {
                        member_id,
                        response,
                        ..
                    } => {
                        assert!(
                            self.syncs.insert(member_id.clone(), response).is_none(),
                            "sync of {member_id} answered twice"
                        );
                    }
                    Effect::Persist {
                        partition,
                        records,
                        then,
                    } => {
                        let result = self.append(partition, records);
                        self.core.on_persisted(then, result, self.now);
                    }
                    Effect::Arm {
                        group,
                        timer,
                        deadline_ms,
                    } => {
                        self.armed += 1;
                        self.timers.push((deadline_ms, self.armed, group, timer));
                    }
                }
            }
        }
    }

    /// Moves the clock forward, firing due timers in deadline order.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        loop {
            self.timers.sort_by_key(|(d, seq, _, _)| (*d, *seq));
            match self.timers.first() {
                Some((deadline, ..)) if *deadline <= target => {
                    let (deadline, _, group, timer) = self.timers.remove(0);
                    self.now = self.now.max(deadline);
                    self.core.on_timer(&group, timer, self.now);
                    self.run_effects();
                }
                _ => break,
            }
        }
        self.now = target;
    }

    pub fn group(&self) -> &Group {
        self.core.group(GROUP).expect("group exists")
    }

    /// Sends a JoinGroup; returns the immediate answer, or None if parked.
    pub fn join(&mut self, args: JoinArgs) -> Option<JoinGroupResponse> {
        let reply = self.core.join(args, self.now);
        self.run_effects();
        match reply {
            Reply::Now(r) => Some(r),
            Reply::Parked { .. } => None,
        }
    }

    /// A dynamic member's full first join at `version` >= 4: MEMBER_ID_REQUIRED,
    /// then the parked join with the handed-out id. Returns the member id.
    pub fn join_new(&mut self, client: &str, topics: &[&str]) -> String {
        let first = self
            .join(join_args("", client, topics))
            .expect("first join answers now");
        assert_eq!(first.error_code, super::super::code::MEMBER_ID_REQUIRED);
        let id = first.member_id.as_str().to_owned();
        assert!(id.starts_with(&format!("{client}-")), "{id}");
        assert!(
            self.join(join_args(&id, client, topics)).is_none(),
            "second join parks"
        );
        id
    }

    /// Members joining together extend the initial delay once (Kafka's
    /// InitialDelayedJoin), so step until the join phase completes.
    pub fn complete_initial_join(&mut self) {
        for _ in 0..20 {
            if self.group().state != crate::group::GroupState::PreparingRebalance {
                return;
            }
            self.advance(self.core.config().initial_rebalance_delay_ms);
        }
        panic!("join phase never completed");
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Option<SyncGroupResponse> {
        let reply = self.core.sync(
            SyncArgs {
                group_id: GROUP.into(),
                generation_id: generation,
                member_id: member_id.into(),
                group_instance_id: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignments,
            },
            self.now,
        );
        self.run_effects();
        match reply {
            Reply::Now(r) => Some(r),
            Reply::Parked { .. } => None,
        }
    }

    /// One dynamic member leaves (LeaveGroup `version`); effects run. Returns the
    /// member's error code.
    pub fn leave(&mut self, member_id: &str, version: i16) -> i16 {
        let left = self.core.leave(
            GROUP,
            vec![crate::state_machine::LeavingMember {
                member_id: member_id.into(),
                group_instance_id: None,
            }],
            version,
            self.now,
        );
        self.run_effects();
        left.members[0].error_code
    }

    pub fn heartbeat(&mut self, member_id: &str, generation: i32) -> i16 {
        self.core
            .heartbeat(GROUP, member_id, None, generation, self.now)
            .error_code
    }

    /// Joins `n` dynamic members through the initial delay and syncs them (the
    /// leader assigns `member-i` bytes); returns the ids, leader first.
    pub fn stable_group(&mut self, n: usize, topics: &[&str]) -> Vec<String> {
        let ids: Vec<String> = (0..n)
            .map(|i| self.join_new(&format!("c{i}"), topics))
            .collect();
        self.complete_initial_join();
        let generation = self.group().generation_id;
        let leader = self.group().leader_id.clone().expect("leader");
        let assignments = ids
            .iter()
            .map(|id| (id.clone(), Bytes::from(format!("assign-{id}"))))
            .collect();
        let early = self.sync(&leader, generation, assignments);
        assert!(
            early.is_none(),
            "leader sync parks: {early:?} state {:?}",
            self.group().state
        );
        for id in ids.iter().filter(|id| **id != leader) {
            assert!(
                self.sync(id, generation, vec![]).is_some(),
                "stable group answers sync now"
            );
        }
        ids
    }

    /// OffsetCommit at `version`, its records (if any) appended through this harness's
    /// log to the group's `__consumer_offsets` partition.
    pub fn commit(
        &mut self,
        req: &OffsetCommitRequest,
        version: i16,
        exists: &dyn Fn(&str, i32) -> bool,
    ) -> OffsetCommitResponse {
        match self.core.offset_commit(req, version, self.now, exists) {
            CommitPlan::Done(r) => r,
            CommitPlan::Persist {
                partition,
                records,
                pending,
            } => {
                assert_eq!(partition, self.core.partition_for(req.group_id.as_str()));
                let result = self.append(partition, records);
                self.core.complete_commit(pending, result)
            }
        }
    }
}

/// Every partition's error code of an OffsetCommit response, in request order.
pub fn commit_errors(r: &OffsetCommitResponse) -> Vec<i16> {
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

pub fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string((*t).to_owned()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).expect("encodable");
    buf.freeze()
}

pub fn join_args(member_id: &str, client: &str, topics: &[&str]) -> JoinArgs {
    JoinArgs {
        group_id: GROUP.into(),
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), subscription(topics)),
            ("roundrobin".into(), subscription(topics)),
        ],
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        client_id: client.into(),
        client_host: "/127.0.0.1".into(),
        version: 7,
    }
}

pub fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// A proptest runner seeded from `TIDEWATER_PROPTEST_SEED` (or `default_seed`), and
/// the seed, which a failing test prints so the run can be replayed.
pub fn seeded_runner(default_seed: u64, cases: u32) -> (proptest::test_runner::TestRunner, u64) {
    use proptest::test_runner::{Config, RngSeed, TestRunner};
    let seed = std::env::var("TIDEWATER_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    (TestRunner::new(config), seed)
}
