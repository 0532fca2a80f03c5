//! Replication and controller metrics, under the names the Prometheus JMX exporter
//! gives Kafka's `ReplicaManager`, `KafkaController` and `BrokerTopicMetrics` beans.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};

use super::{counter, gauge, total};
use crate::state::Broker;

pub struct ReplicationMetrics {
    under_min_isr: IntGauge,
    offline_partitions: IntGauge,
    active_controller: IntGauge,
    reassigning: IntGauge,
    isr_shrinks: IntCounter,
    isr_expands: IntCounter,
    replication_bytes_in: IntCounterVec,
    replication_bytes_out: IntCounterVec,
    throttled_bytes: IntCounter,
    leader_elections: IntCounter,
}

impl ReplicationMetrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            leader_elections: total(
                r,
                "kafka_controller_controllerstats_leaderelectionrateandtimems_count",
                "Leader elections (new leader epochs with a leader) seen in the metadata log",
            ),
            throttled_bytes: total(
                r,
                "kafka_server_replication_throttled_bytes_total",
                "Replication bytes sent or received under a replication throttle",
            ),
            under_min_isr: gauge(
                r,
                "kafka_server_replicamanager_underminisrpartitioncount",
                "Led partitions whose ISR is below min.insync.replicas",
            ),
            offline_partitions: gauge(
                r,
                "kafka_controller_kafkacontroller_offlinepartitionscount",
                "Partitions without a leader (reported by the active controller)",
            ),
            active_controller: gauge(
                r,
                "kafka_controller_kafkacontroller_activecontrollercount",
                "1 on the active controller, else 0",
            ),
            reassigning: gauge(
                r,
                "kafka_server_replicamanager_reassigningpartitions",
                "Led partitions with a reassignment in progress",
            ),
            isr_shrinks: total(
                r,
                "kafka_server_replicamanager_isrshrinks_total",
                "ISR shrinks proposed",
            ),
            isr_expands: total(
                r,
                "kafka_server_replicamanager_isrexpands_total",
                "ISR expansions proposed",
            ),
            replication_bytes_in: counter(
                r,
                "kafka_server_brokertopicmetrics_replicationbytesin_total",
                "Bytes fetched from leaders",
                &["topic"],
            ),
            replication_bytes_out: counter(
                r,
                "kafka_server_brokertopicmetrics_replicationbytesout_total",
                "Bytes served to followers",
                &["topic"],
            ),
        }
    }

    pub fn isr_shrink(&self) {
        self.isr_shrinks.inc();
    }

    pub fn isr_expand(&self) {
        self.isr_expands.inc();
    }

    pub fn leader_elections(&self, n: u64) {
        self.leader_elections.inc_by(n);
    }

    pub fn throttled(&self, bytes: u64) {
        self.throttled_bytes.inc_by(bytes);
    }

    pub fn bytes_in(&self, topic: &str, bytes: u64) {
        self.replication_bytes_in
            .with_label_values(&[topic])
            .inc_by(bytes);
    }

    pub fn bytes_out(&self, topic: &str, bytes: u64) {
        self.replication_bytes_out
            .with_label_values(&[topic])
            .inc_by(bytes);
    }

    /// Refreshes the gauges from the broker's replicas and image; returns
    /// (leaders, under-replicated) for the ReplicaManager gauges.
    pub fn refresh(&self, broker: &Broker) -> Option<(usize, usize)> {
        let cluster = broker.cluster.as_ref()?;
        let (under_min, under_rep, leaders, reassigning) = broker.replication_summary();
        let as_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.under_min_isr.set(as_i64(under_min));
        self.reassigning.set(as_i64(reassigning));
        let active = cluster.is_active_controller();
        self.active_controller.set(i64::from(active));
        let offline = if active {
            cluster
                .image()
                .partitions()
                .filter(|p| p.leader < 0)
                .count()
        } else {
            0
        };
        self.offline_partitions.set(as_i64(offline));
        Some((leaders, under_rep))
    }
}
