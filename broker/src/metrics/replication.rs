//! Replication and controller metrics, under the names the Prometheus JMX exporter
//! gives Kafka's `ReplicaManager`, `KafkaController` and `BrokerTopicMetrics` beans.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Registry};

use super::BrokerState;
use super::{counter, gauge, total};

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
    leader_elections: Histogram,
}

impl ReplicationMetrics {
    pub fn new(r: &Registry) -> Self {
        Self {
            leader_elections: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "kafka_controller_controllerstats_leaderelectionrateandtimems",
                        "Leader elections seen in the metadata log: ms from leaderless to a live leader",
                    )
                    .buckets(vec![0.5, 1.0, 5.0, 25.0, 100.0, 500.0, 1000.0, 5000.0, 30000.0]),
                )
                .unwrap_or_else(|e| panic!("histogram: {e}"));
                r.register(Box::new(h.clone()))
                    .unwrap_or_else(|e| panic!("histogram: {e}"));
                h
            },
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

    pub fn leader_election(&self, ms: f64) {
        self.leader_elections.observe(ms);
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

    /// Refreshes the gauges from the broker's replicas and image.
    pub fn refresh(&self, state: &BrokerState) {
        let as_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.under_min_isr.set(as_i64(state.leaders.under_min_isr));
        self.reassigning.set(as_i64(state.leaders.reassigning));
        self.active_controller
            .set(i64::from(state.active_controller));
        self.offline_partitions
            .set(as_i64(state.offline_partitions));
    }
}
