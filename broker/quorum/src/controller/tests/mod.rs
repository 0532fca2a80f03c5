//! Controller unit tests and the seeded operation-sequence property test.

mod batching;
mod brokers;
mod handoff;
mod partitions;
mod random_ops;
mod sessions;
mod topics;

use std::collections::BTreeMap;

use super::*;
use crate::image::{KRAFT_VERSION, METADATA_VERSION, MetadataImage};
use crate::records::{MetadataRecord, PartitionRecord};

/// An image plus a controller; decisions are applied as a real shell would.
pub(super) struct Harness {
    pub image: MetadataImage,
    pub controller: Controller,
    pub now_ms: u64,
    pub epochs: BTreeMap<i32, i64>,
}

impl Harness {
    pub fn new(config: ControllerConfig) -> Self {
        Self {
            image: MetadataImage::default(),
            controller: Controller::new(config),
            now_ms: 1_000,
            epochs: BTreeMap::new(),
        }
    }

    pub fn apply(&mut self, records: &[MetadataRecord]) {
        let next = self.image.offset + 1;
        self.image.apply_entry(next, records);
    }

    pub fn register(&mut self, id: i32, rack: Option<&str>) -> Result<i64, ControllerError> {
        let req = BrokerRegistrationRequest {
            broker_id: id,
            incarnation_id: id as u128 + 100,
            rack: rack.map(str::to_string),
            listeners: vec![],
            features: BTreeMap::from([(METADATA_VERSION.to_string(), (1, 21))]),
        };
        let decision = self
            .controller
            .register_broker(&self.image, &req, self.now_ms)?;
        self.apply(&decision.records);
        self.epochs.insert(id, decision.reply);
        Ok(decision.reply)
    }

    pub fn heartbeat(
        &mut self,
        id: i32,
        want_fence: bool,
        want_shutdown: bool,
    ) -> Result<HeartbeatReply, ControllerError> {
        let hb = BrokerHeartbeat {
            broker_id: id,
            broker_epoch: self.epochs[&id],
            want_fence,
            want_shutdown,
        };
        let decision = self.controller.heartbeat(&self.image, &hb, self.now_ms)?;
        self.apply(&decision.records);
        Ok(decision.reply)
    }

    /// Registers and unfences brokers `ids`, with racks from `rack`.
    pub fn brokers(&mut self, ids: &[i32], rack: impl Fn(i32) -> Option<String>) {
        for id in ids {
            self.register(*id, rack(*id).as_deref()).unwrap();
            self.heartbeat(*id, false, false).unwrap();
        }
    }

    pub fn create(
        &mut self,
        name: &str,
        id: u128,
        partitions: i32,
        rf: i16,
    ) -> Result<(), ControllerError> {
        let req = CreateTopic {
            name: name.into(),
            topic_id: id,
            num_partitions: partitions,
            replication_factor: rf,
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        };
        let records = self.controller.create_topic(&self.image, &req)?;
        self.apply(&records);
        Ok(())
    }

    pub fn create_assigned(
        &mut self,
        name: &str,
        id: u128,
        assignment: &[&[i32]],
    ) -> Result<(), ControllerError> {
        let req = CreateTopic {
            name: name.into(),
            topic_id: id,
            num_partitions: -1,
            replication_factor: -1,
            assignments: (0..).zip(assignment.iter().map(|a| a.to_vec())).collect(),
            configs: BTreeMap::new(),
        };
        let records = self.controller.create_topic(&self.image, &req)?;
        self.apply(&records);
        Ok(())
    }

    pub fn partition(&self, topic: &str, partition: i32) -> PartitionRecord {
        self.image.topic(topic).unwrap().partitions[&partition].clone()
    }

    /// The leader of `topic`-`partition` sets its ISR to `new_isr` (AlterPartition).
    pub fn set_isr(&mut self, topic: &str, partition: i32, new_isr: &[i32]) {
        let p = self.partition(topic, partition);
        let req = AlterPartition {
            broker_id: p.leader,
            broker_epoch: self.epochs[&p.leader],
            topic_id: p.topic_id,
            partition,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: new_isr.to_vec(),
        };
        let records = self.controller.alter_partition(&self.image, &req).unwrap();
        self.apply(&records);
    }
}
