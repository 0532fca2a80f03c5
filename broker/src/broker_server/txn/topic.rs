//! `__transaction_state` itself: its settings (`transaction.state.log.*`, Kafka's
//! defaults) and its creation on first use, as `__consumer_offsets` is created.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use tracing::{info, warn};

use super::{TXN_TOPIC, TxnHost};
use crate::config::BrokerConfig;

/// `transaction.state.log.num.partitions`, `.replication.factor`, `.min.isr` and
/// `.segment.bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    pub partitions: i32,
    pub replication_factor: i16,
    pub min_isr: i16,
    pub segment_bytes: i64,
}

impl TopicSettings {
    /// Kafka's defaults (50 partitions, RF 3, min ISR 2, 100 MiB segments); a single
    /// node uses RF 1 as it does for `__consumer_offsets`.
    pub fn from_config(config: &BrokerConfig) -> Self {
        let get = |key: &str, default: i64| super::setting(config, key, default);
        let rf = if config.kraft.single_node {
            1
        } else {
            i16::try_from(get("transaction.state.log.replication.factor", 3)).unwrap_or(3)
        };
        TopicSettings {
            partitions: i32::try_from(get("transaction.state.log.num.partitions", 50))
                .unwrap_or(50),
            replication_factor: rf,
            // A min ISR above the replication factor would refuse every write.
            min_isr: i16::try_from(get("transaction.state.log.min.isr", 2))
                .unwrap_or(2)
                .min(rf),
            segment_bytes: get("transaction.state.log.segment.bytes", 104_857_600),
        }
    }

    /// The topic configs Kafka's `TransactionStateManager` creates it with.
    pub fn topic_configs(&self) -> BTreeMap<String, String> {
        [
            ("cleanup.policy", "compact".to_string()),
            ("compression.type", "uncompressed".to_string()),
            ("min.insync.replicas", self.min_isr.to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl TxnHost {
    /// Creates `__transaction_state` in the background (once at a time); creation fails
    /// until `replication.factor` brokers are registered, as in Kafka.
    pub fn ensure_topic(&self) {
        if self.creating.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            let s = &this.topic;
            match this
                .cluster
                .create_topic(
                    TXN_TOPIC,
                    s.partitions,
                    s.replication_factor,
                    BTreeMap::new(),
                    s.topic_configs(),
                    false,
                )
                .await
            {
                Ok(_) => info!(
                    partitions = s.partitions,
                    rf = s.replication_factor,
                    "created {TXN_TOPIC}"
                ),
                Err(e) => warn!(code = e.code(), message = %e, "cannot create {TXN_TOPIC} yet"),
            }
            this.creating.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_is_compacted_and_its_min_isr_fits_its_replication_factor() {
        let s = TopicSettings {
            partitions: 50,
            replication_factor: 1,
            min_isr: 1,
            segment_bytes: 100,
        };
        let c = s.topic_configs();
        assert_eq!(c["cleanup.policy"], "compact");
        assert_eq!(c["min.insync.replicas"], "1");
    }
}
