//! [`Coordinators`]: the broker's handles on its coordinators, the group coordinator
//! (Kafka's `GroupCoordinator`, served for the `__consumer_offsets` partitions this
//! broker leads) and the producer-id blocks InitProducerId hands out (Kafka's
//! `ProducerIdManager`, which its `TransactionCoordinator` owns) and the transaction
//! coordinator (served for the `__transaction_state` partitions this broker leads).

use std::sync::Arc;

use tidewater_group::GroupCoordinator;

use super::producer_ids::ProducerIdManager;
use super::txn::TxnHost;

pub struct Coordinators {
    groups: Arc<GroupCoordinator>,
    producer_ids: ProducerIdManager,
    txns: Arc<TxnHost>,
}

impl Coordinators {
    pub fn new(
        groups: Arc<GroupCoordinator>,
        producer_ids: ProducerIdManager,
        txns: Arc<TxnHost>,
    ) -> Self {
        Coordinators {
            groups,
            producer_ids,
            txns,
        }
    }

    pub fn txns(&self) -> &Arc<TxnHost> {
        &self.txns
    }

    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    pub fn producer_ids(&self) -> &ProducerIdManager {
        &self.producer_ids
    }
}
