//! [`Coordinators`]: the broker's handles on its coordinators, the group coordinator
//! (Kafka's `GroupCoordinator`, served for the `__consumer_offsets` partitions this
//! broker leads) and the producer-id blocks InitProducerId hands out (Kafka's
//! `ProducerIdManager`, which its `TransactionCoordinator` owns).

use std::sync::Arc;

use tidewater_group::GroupCoordinator;

use super::producer_ids::ProducerIdManager;

pub struct Coordinators {
    groups: Arc<GroupCoordinator>,
    producer_ids: ProducerIdManager,
}

impl Coordinators {
    pub fn new(groups: Arc<GroupCoordinator>, producer_ids: ProducerIdManager) -> Self {
        Coordinators {
            groups,
            producer_ids,
        }
    }

    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    pub fn producer_ids(&self) -> &ProducerIdManager {
        &self.producer_ids
    }
}
