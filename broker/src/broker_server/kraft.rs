//! The [`Broker`] following the metadata image (Kafka's `BrokerMetadataPublisher`):
//! dynamic configs, then the replica manager, then `__consumer_offsets` leadership for
//! the group coordinator; `__consumer_offsets` creation and the topic changes that go
//! through the controller. The leader checks of the data-path handlers are the
//! replica manager's ([`crate::replica_manager::ReplicaManager::leader_replica`]), the
//! views Metadata answers from the [`super::MetadataView`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tidewater_quorum::image::MetadataImage;
use tracing::{info, warn};

use super::offsets_backend::read_partition_records;
use super::topic_names::OFFSETS_TOPIC;
use super::txn::TXN_TOPIC;
use super::{Broker, topic_names};
use crate::kafka_error::KafkaError;
use crate::metadata::image_store::{dynamic_broker_configs, image_topic_configs};

/// Leader elections seen in the metadata log, timed (Kafka's
/// LeaderElectionRateAndTimeMs): for each partition whose leader epoch grew to a live
/// leader, the time since the log last showed it without a live leader (0 when the
/// controller moved leadership in the same decision that took the old leader away).
#[derive(Default)]
struct ElectionClock {
    leaderless_since: std::collections::HashMap<(u128, i32), std::time::Instant>,
}

impl ElectionClock {
    /// The elections between `before` and `after`, each with its duration in ms.
    fn observe(&mut self, before: &MetadataImage, after: &MetadataImage) -> Vec<f64> {
        let now = std::time::Instant::now();
        let live = |leader: i32| after.brokers.get(&leader).is_some_and(|b| !b.fenced);
        let mut elections = Vec::new();
        for p in after.partitions() {
            let key = (p.topic_id, p.partition);
            if !live(p.leader) {
                self.leaderless_since.entry(key).or_insert(now);
                continue;
            }
            let since = self.leaderless_since.remove(&key);
            let elected = before
                .partition(p.topic_id, p.partition)
                .is_none_or(|old| old.leader_epoch < p.leader_epoch);
            if elected {
                elections.push(since.map_or(0.0, |t| now.duration_since(t).as_secs_f64() * 1000.0));
            }
        }
        self.leaderless_since
            .retain(|(topic, partition), _| after.partition(*topic, *partition).is_some());
        elections
    }
}

impl Broker {
    /// Applies every new metadata image in log order, once this broker's own
    /// registration is in it (so no replica acts on an image older than that).
    pub async fn follow(self: Arc<Self>) {
        let cluster = self.cluster().clone();
        let mut rx = cluster.subscribe();
        let mut previous: Option<Arc<MetadataImage>> = None;
        let mut elections = ElectionClock::default();
        loop {
            let image = rx.borrow_and_update().clone();
            if let Some(prev) = &previous {
                for ms in elections.observe(prev, &image) {
                    self.metrics().leader_election(ms);
                }
            }
            previous = Some(image.clone());
            let epoch = cluster.broker_epoch();
            if epoch >= 0
                && image
                    .brokers
                    .get(&self.config().node_id)
                    .is_some_and(|b| b.broker_epoch >= epoch)
            {
                self.apply_image(&image);
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                // Registration happens concurrently; look again shortly.
                _ = tokio::time::sleep(Duration::from_millis(200)), if epoch < 0 => {}
            }
            if self.is_closing() {
                return;
            }
        }
    }

    /// Brings the local replicas in line with `image` (a broker role only), after the
    /// dynamic configs; the group coordinator follows the `__consumer_offsets`
    /// leaderships gained and lost.
    fn apply_image(&self, image: &MetadataImage) {
        if !self.cluster().is_broker() {
            return;
        }
        self.refresh_dynamic_configs(image);
        let changes = self.replicas().apply_image(image, |topic| {
            self.admin()
                .topic_log_config(&image_topic_configs(image, topic))
        });
        for c in changes.iter().filter(|c| c.tp.topic == OFFSETS_TOPIC) {
            self.offsets_leadership_changed(c.tp.partition, c.leader, c.leader_epoch);
        }
        let txns = self.coordinators().txns();
        for c in changes.iter().filter(|c| c.tp.topic == TXN_TOPIC) {
            if c.leader {
                txns.elected(c.tp.partition, c.leader_epoch);
            } else {
                txns.resigned(c.tp.partition, c.leader_epoch);
            }
        }
    }

    /// Re-derives log defaults when the dynamic broker configs in the image changed.
    fn refresh_dynamic_configs(&self, image: &MetadataImage) {
        let dynamic = dynamic_broker_configs(image, self.config().node_id);
        let rate = |key: &str| {
            dynamic
                .get(key)
                .or_else(|| self.config().static_props.get(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|r| *r < i64::MAX as u64)
        };
        let (leader_rate, follower_rate) = (
            rate("leader.replication.throttled.rate"),
            rate("follower.replication.throttled.rate"),
        );
        if self.replicas().leader_quota().quota() != leader_rate {
            info!(rate = ?leader_rate, "leader.replication.throttled.rate");
            self.replicas().leader_quota().update_quota(leader_rate);
        }
        if self.replicas().follower_quota().quota() != follower_rate {
            info!(rate = ?follower_rate, "follower.replication.throttled.rate");
            self.replicas().follower_quota().update_quota(follower_rate);
        }
        self.apply_max_connections(&dynamic);
        self.admin()
            .apply_dynamic(dynamic, |d| self.config().log_defaults(d));
    }

    /// The group coordinator follows `__consumer_offsets` leadership (Kafka's
    /// onElection / onResignation).
    fn offsets_leadership_changed(&self, partition: i32, leader: bool, leader_epoch: i32) {
        if leader {
            info!(
                partition,
                leader_epoch, "loading group metadata of {OFFSETS_TOPIC} partition"
            );
            let records = read_partition_records(
                self.replicas().logs(),
                &tidewater_storage::TopicPartition::new(OFFSETS_TOPIC, partition),
            );
            self.coordinators()
                .groups()
                .load_partition_at_epoch(partition, leader_epoch, records);
        } else {
            info!(
                partition,
                leader_epoch, "unloading group metadata of {OFFSETS_TOPIC} partition"
            );
            self.coordinators()
                .groups()
                .unload_partition_at_epoch(partition, leader_epoch);
        }
    }

    /// Creates `__consumer_offsets` in the background (once at a time); its
    /// replication factor is `offsets.topic.replication.factor`, so creation fails until
    /// that many brokers are registered, as in Kafka.
    pub fn ensure_offsets_topic(&self) {
        let cluster = self.cluster().clone();
        if cluster
            .offsets_topic_creating
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let partitions = self.config().offsets_topic_num_partitions;
        let rf = self.config().offsets_topic_replication_factor;
        let configs: BTreeMap<String, String> = [
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                self.config().offsets_topic_segment_bytes.to_string(),
            ),
        ]
        .into();
        tokio::spawn(async move {
            match cluster
                .create_topic(
                    OFFSETS_TOPIC,
                    partitions,
                    rf,
                    BTreeMap::new(),
                    configs,
                    false,
                )
                .await
            {
                Ok(_) => info!(partitions, rf, "created {OFFSETS_TOPIC}"),
                Err(e) => {
                    warn!(code = e.code(), message = %e, "cannot create {OFFSETS_TOPIC} yet")
                }
            }
            cluster
                .offsets_topic_creating
                .store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// DeleteTopics, decided by the controller.
    pub async fn delete_topic(&self, name: &str) -> Result<uuid::Uuid, KafkaError> {
        if !self.config().delete_topic_enable {
            return Err(KafkaError::new(
                E::TopicDeletionDisabled,
                "Topic deletion is disabled (delete.topic.enable=false)".into(),
            ));
        }
        if topic_names::is_internal(name) {
            return Err(KafkaError::new(
                E::InvalidTopicException,
                format!("Cannot delete internal topic {name}"),
            ));
        }
        let id = self.cluster().delete_topic(name).await?;
        self.metrics().topic_deleted(name);
        info!(topic = %name, %id, "deleted topic");
        Ok(id)
    }

    /// CreatePartitions, decided by the controller.
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        if topic_names::is_internal(name) {
            return Err(KafkaError::new(
                E::InvalidPartitions,
                format!("Cannot add partitions to internal topic {name}"),
            ));
        }
        self.cluster()
            .create_partitions(name, count, assignments, validate_only)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidewater_quorum::records::{MetadataRecord, PartitionChange, PartitionRecord};

    fn image(records: &[MetadataRecord]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for r in records {
            image.apply(r);
        }
        image
    }

    fn register(id: i32) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: 1,
            broker_epoch: i64::from(id),
            rack: None,
            listeners: Vec::new(),
            features: Default::default(),
        }
    }

    #[test]
    fn elections_are_counted_and_timed_from_leaderless_to_a_live_leader() {
        let mut records = vec![register(1), register(2)];
        for id in [1, 2] {
            records.push(MetadataRecord::BrokerUnfence {
                broker_id: id,
                broker_epoch: i64::from(id),
            });
        }
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id: 7,
        });
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id: 7,
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        let led = image(&records);
        let mut clock = ElectionClock::default();
        // The first sight of a partition with a live leader counts as its election.
        assert_eq!(clock.observe(&MetadataImage::default(), &led).len(), 1);
        assert!(clock.observe(&led, &led).is_empty());
        // The leader's broker is fenced: leaderless until the next image elects 2.
        records.push(MetadataRecord::BrokerFence {
            broker_id: 1,
            broker_epoch: 1,
        });
        let fenced = image(&records);
        assert!(clock.observe(&led, &fenced).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(5));
        records.push(MetadataRecord::PartitionChange(PartitionChange {
            leader: Some(2),
            isr: Some(vec![2]),
            ..PartitionChange::new(7, 0)
        }));
        let moved = image(&records);
        let took = clock.observe(&fenced, &moved);
        assert_eq!(took.len(), 1);
        assert!(took[0] >= 5.0, "{took:?}");
        assert!(clock.leaderless_since.is_empty());
    }
}
