//! Applying a metadata image to the local replicas (Kafka's `applyDelta` /
//! `makeLeaders` / `makeFollowers`): create logs for new assignments, become leader or
//! follower when the leader or its epoch changes, push ISR changes the controller made
//! into the leader state, and delete the logs of replicas that are no longer assigned.

use std::collections::HashSet;
use std::sync::Arc;

use tidewater_quorum::image::MetadataImage;
use tidewater_quorum::records::{NO_LEADER, PartitionRecord};
use tidewater_replication::{
    CommittedPartition, FollowerInit, FollowerState, LeaderConfig, LeaderInit, LeaderState,
    ThrottledReplicas,
};
use tidewater_storage::{Log, LogConfig, TopicPartition};
use tracing::{info, warn};

use super::ReplicaManager;
use super::{Partition, PartitionInner, Role};
use crate::clock::mono_ms;

/// A partition whose leadership this broker gained or lost with an image (Kafka's
/// onLeadershipChange callback: the group coordinator follows `__consumer_offsets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadershipChange {
    pub tp: TopicPartition,
    /// Leader now (true) or not any more (false).
    pub leader: bool,
    pub leader_epoch: i32,
}

impl ReplicaManager {
    /// Brings every local replica in line with `image`; `topic_config` is a topic's
    /// effective log config. Returns the leaderships gained and lost.
    pub fn apply_image(
        self: &Arc<Self>,
        image: &MetadataImage,
        topic_config: impl Fn(&str) -> LogConfig,
    ) -> Vec<LeadershipChange> {
        let node = self.node_id;
        let broker_epoch = self.cluster.broker_epoch();
        let now = mono_ms();
        let mut changes = Vec::new();
        self.assign_new_leader_epochs(image, node);
        let mut wanted: HashSet<TopicPartition> = HashSet::new();
        for topic in image.topics_by_id.values() {
            let config = topic_config(&topic.name);
            self.update_throttled_replicas(&topic.name, &config);
            for (&index, record) in &topic.partitions {
                if !record.replicas.contains(&node) {
                    continue;
                }
                let tp = TopicPartition::new(topic.name.clone(), index);
                wanted.insert(tp.clone());
                let partition = match self.get(&tp) {
                    Some(p) if p.topic_id == topic.topic_id => {
                        p.log.update_config(config.clone());
                        p
                    }
                    existing => {
                        if let Some(old) = existing {
                            self.drop_replica(&old, "topic re-created with a new id", &mut changes);
                        }
                        let log = match self.logs().get_or_create_log(&tp, config.clone()) {
                            Ok(log) => log,
                            Err(e) => {
                                warn!(%tp, error = %e, "cannot create the replica's log");
                                continue;
                            }
                        };
                        let p = Arc::new(Partition {
                            tp: tp.clone(),
                            topic_id: topic.topic_id,
                            log,
                            inner: std::sync::Mutex::new(PartitionInner {
                                role: Role::Offline { leader_epoch: -1 },
                                waiters: Default::default(),
                                next_request_id: 0,
                                partition_epoch: -1,
                                replicas: Vec::new(),
                                fetch_delayed_until: None,
                                last_stuck_log: None,
                                refuse_appends: self
                                    .draining
                                    .load(std::sync::atomic::Ordering::Acquire),
                                handoff_to: None,
                                handover_end: 0,
                            }),
                        });
                        self.insert(p.clone());
                        p
                    }
                };
                self.transition(&partition, record, image, broker_epoch, now, &mut changes);
            }
        }
        for p in self.all() {
            if !wanted.contains(&p.tp) {
                self.drop_replica(&p, "no longer assigned to this broker", &mut changes);
            }
        }
        if !self
            .strays_checked
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.delete_stray_logs(image, &wanted);
        }
        self.sync_fetchers(image);
        self.notifier().notify();
        changes
    }

    /// Checkpoints the leader epochs `image` starts on this broker's followers together
    /// ([`Log::assign_leader_epochs`]: the fsyncs in parallel), before `transition`
    /// makes them leaders one by one (it then finds each epoch assigned already). Each
    /// such follower stops following first (offline at the new epoch, under its lock),
    /// so no fetched batch of the old epoch can land after the new epoch's start.
    fn assign_new_leader_epochs(&self, image: &MetadataImage, node: i32) {
        let starting: Vec<(Arc<Log>, i32)> = self
            .all()
            .into_iter()
            .filter_map(|p| {
                let topic = image.topic(&p.tp.topic)?;
                let record = topic.partitions.get(&p.tp.partition)?;
                if topic.topic_id != p.topic_id || record.leader != node {
                    return None;
                }
                let mut inner = p.lock();
                if matches!(inner.role, Role::Leader(_)) {
                    return None;
                }
                inner.role = Role::Offline {
                    leader_epoch: record.leader_epoch,
                };
                Some((p.log.clone(), record.leader_epoch))
            })
            .collect();
        if !starting.is_empty() {
            // They stopped following (see `transition`).
            self.bump_follower_generation();
        }
        for (i, e) in Log::assign_leader_epochs(&starting) {
            warn!(tp = %starting[i].0.topic_partition(), error = %e, "cannot checkpoint the leader epoch");
        }
    }

    /// Applies a topic's `*.replication.throttled.replicas` to this broker's quotas.
    fn update_throttled_replicas(&self, topic: &str, config: &LogConfig) {
        let node = self.node_id;
        for (value, quota) in [
            (
                &config.leader_replication_throttled_replicas,
                &self.leader_quota,
            ),
            (
                &config.follower_replication_throttled_replicas,
                &self.follower_quota,
            ),
        ] {
            let parsed = ThrottledReplicas::parse(value, node).unwrap_or_else(|e| {
                warn!(topic, error = %e, "ignoring an invalid throttled replicas list");
                None
            });
            quota
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_throttled(topic, parsed);
        }
    }

    /// Makes `partition` leader, follower or offline as `record` says.
    fn transition(
        self: &Arc<Self>,
        partition: &Arc<Partition>,
        record: &PartitionRecord,
        image: &MetadataImage,
        broker_epoch: i64,
        now: u64,
        changes: &mut Vec<LeadershipChange>,
    ) {
        let node = self.node_id;
        let log = &partition.log;
        let mut inner = partition.lock();
        let was_leader = matches!(inner.role, Role::Leader(_));
        let was_follower = matches!(inner.role, Role::Follower(_));
        if record.leader == node {
            let same = matches!(&inner.role, Role::Leader(l)
                if l.leader_epoch() == record.leader_epoch && l.replicas() == record.replicas.as_slice());
            if same {
                if let Role::Leader(l) = &mut inner.role {
                    l.on_partition_update(
                        CommittedPartition {
                            leader_id: node,
                            leader_epoch: record.leader_epoch,
                            partition_epoch: record.partition_epoch,
                            isr: record.isr.clone(),
                        },
                        now,
                    );
                }
            } else {
                resign(&mut inner);
                if let Err(e) = log.assign_leader_epoch(record.leader_epoch) {
                    warn!(tp = %partition.tp, error = %e, "cannot checkpoint the leader epoch");
                }
                let mut epochs = partition.epochs();
                let config = LeaderConfig {
                    replica_lag_time_max_ms: self.settings.lag_time_max_ms,
                    min_insync_replicas: usize::try_from(log.config().min_insync_replicas.max(1))
                        .unwrap_or(1),
                    require_current_epoch_commit: false,
                };
                let init = LeaderInit {
                    local_id: node,
                    leader_epoch: record.leader_epoch,
                    partition_epoch: record.partition_epoch,
                    replicas: record.replicas.clone(),
                    isr: record.isr.clone(),
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: log.high_watermark(),
                };
                match LeaderState::new(init, config, &mut epochs, now) {
                    Ok(state) => {
                        info!(tp = %partition.tp, epoch = record.leader_epoch, isr = ?record.isr, "became leader");
                        inner.role = Role::Leader(Box::new(state));
                        inner.handover_end = log.log_end_offset();
                        self.leader_generation
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    Err(e) => {
                        warn!(tp = %partition.tp, error = %e, "cannot become leader");
                        inner.role = Role::Offline {
                            leader_epoch: record.leader_epoch,
                        };
                    }
                }
            }
            if let Role::Leader(l) = &mut inner.role {
                for r in record.replicas.iter().filter(|r| **r != node) {
                    if let Some(b) = image.brokers.get(r) {
                        // A broker in controlled shutdown may not (re)join the ISR either
                        // (Kafka's isReplicaIsrEligible), or the leader would keep proposing it.
                        l.update_broker_registration(*r, b.broker_epoch, !b.is_active());
                    }
                }
                let done = l.take_completions();
                inner.deliver(done);
            }
        } else if record.leader == NO_LEADER {
            if !matches!(inner.role, Role::Offline { leader_epoch } if leader_epoch == record.leader_epoch)
            {
                resign(&mut inner);
                warn!(tp = %partition.tp, "partition has no leader (offline)");
                inner.role = Role::Offline {
                    leader_epoch: record.leader_epoch,
                };
            }
        } else {
            let same = matches!(&inner.role, Role::Follower(f)
                if f.leader_epoch() == record.leader_epoch && f.leader_id() == record.leader);
            if !same {
                resign(&mut inner);
                let init = FollowerInit {
                    local_id: node,
                    broker_epoch,
                    leader_id: record.leader,
                    leader_epoch: record.leader_epoch,
                    high_watermark: log.high_watermark(),
                    truncation_on_fetch: true,
                };
                let state = FollowerState::new(init, &partition.epochs(), log.log_end_offset());
                info!(tp = %partition.tp, leader = record.leader, epoch = record.leader_epoch, "became follower");
                inner.role = Role::Follower(state);
                self.bump_follower_generation();
            }
        }
        if was_follower && !matches!(inner.role, Role::Follower(_)) {
            // Its fetcher must stop naming it: fetchers look only at partitions that
            // changed since their last list (see `fetch_plan`).
            self.bump_follower_generation();
        }
        inner.partition_epoch = record.partition_epoch;
        inner.replicas = record.replicas.clone();
        inner.sync_high_watermark(log);
        let is_leader = matches!(inner.role, Role::Leader(_));
        let handoff = self.sync_leader_handoff(&mut inner, record, image);
        drop(inner);
        if let Some(to) = handoff {
            self.start_leader_handoff(partition, record.leader_epoch, to);
        }
        if was_leader != is_leader {
            changes.push(LeadershipChange {
                tp: partition.tp.clone(),
                leader: is_leader,
                leader_epoch: record.leader_epoch,
            });
        }
    }

    /// Kafka's stray replicas: logs on disk for partitions the metadata no longer
    /// assigns here. Checked once, against the first image that holds this broker's
    /// registration. A partition moved away while this broker was down is deleted; a
    /// log of a topic the metadata does not know at all (deleted meanwhile, or data
    /// from before this node joined a quorum) is kept and reported, never deleted.
    fn delete_stray_logs(&self, image: &MetadataImage, wanted: &HashSet<TopicPartition>) {
        for (tp, _) in self.logs().logs() {
            if wanted.contains(&tp) {
                continue;
            }
            if image.topic(&tp.topic).is_none() {
                warn!(%tp, "log of a topic the metadata does not know; keeping it (delete it by hand if unwanted)");
                continue;
            }
            warn!(%tp, "deleting stray replica: the metadata assigns it to other brokers");
            if let Err(e) = self.logs().delete_log(&tp) {
                warn!(%tp, error = %e, "cannot delete stray log");
            }
        }
    }

    /// Stops and deletes a replica that is no longer ours.
    fn drop_replica(
        &self,
        partition: &Arc<Partition>,
        why: &str,
        changes: &mut Vec<LeadershipChange>,
    ) {
        let (was_leader, epoch) = {
            let mut inner = partition.lock();
            let was = matches!(inner.role, Role::Leader(_));
            let epoch = inner.role.leader_epoch();
            resign(&mut inner);
            (was, epoch)
        };
        if was_leader {
            changes.push(LeadershipChange {
                tp: partition.tp.clone(),
                leader: false,
                leader_epoch: epoch.saturating_add(1),
            });
        }
        self.remove(&partition.tp);
        info!(tp = %partition.tp, why, "removing replica and its log");
        if let Err(e) = self.logs().delete_log(&partition.tp) {
            warn!(tp = %partition.tp, error = %e, "cannot delete log");
        }
    }
}

/// Leaves the leader role (if held): parked acks=all requests fail with
/// NOT_LEADER_OR_FOLLOWER so their producers retry against the new leader.
fn resign(inner: &mut PartitionInner) {
    let role = std::mem::replace(&mut inner.role, Role::Offline { leader_epoch: -1 });
    match role {
        Role::Leader(l) => {
            let done = l.resign();
            inner.deliver(done);
        }
        other => inner.role = other,
    }
}
