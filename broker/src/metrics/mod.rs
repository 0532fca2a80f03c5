//! Prometheus metrics named as the Prometheus JMX exporter renders Kafka's JMX
//! beans (`kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=t`
//! -> `kafka_server_brokertopicmetrics_messagesin_total{topic="t"}`), so existing
//! Kafka dashboards and alerts work. Gauges that mirror state (log sizes, group
//! counts) are refreshed at scrape time.

mod replication;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use std::sync::Arc;

use tidewater_group::GroupCounts;
use tidewater_storage::{Log, TopicPartition};

/// The broker state the gauges mirror, read when `/metrics` is scraped (the broker
/// fills it in; this module never reaches into the broker itself).
pub struct BrokerState {
    /// Every log on this broker's disks.
    pub logs: Vec<(TopicPartition, Arc<Log>)>,
    /// The partitions this broker leads.
    pub leaders: LeaderCounts,
    /// Whether this node is the active controller.
    pub active_controller: bool,
    /// Partitions without a live leader (counted by the active controller only).
    pub offline_partitions: usize,
    /// Groups by state.
    pub groups: GroupCounts,
}

/// The partitions this broker leads (Kafka's ReplicaManager gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderCounts {
    pub all: usize,
    pub under_min_isr: usize,
    pub under_replicated: usize,
    pub reassigning: usize,
}

/// The broker's metric families.
pub struct Metrics {
    registry: Registry,
    /// Kafka's all-topics BrokerTopicMetrics beans (no `topic` tag). The JMX
    /// exporter renders them under the same names without the label; a
    /// prometheus-crate family has one label set, so they live in their own
    /// registry and are merged into the per-topic families at render time.
    all_topics: Registry,
    all_messages_in: IntCounter,
    all_bytes_in: IntCounter,
    all_bytes_out: IntCounter,
    all_failed_produce: IntCounter,
    all_failed_fetch: IntCounter,
    messages_in: IntCounterVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    failed_produce: IntCounterVec,
    failed_fetch: IntCounterVec,
    requests: IntCounterVec,
    request_errors: IntCounterVec,
    request_time: HistogramVec,
    connections: IntGaugeVec,
    connections_created: IntCounterVec,
    connections_closed: IntCounterVec,
    log_size: IntGaugeVec,
    log_end_offset: IntGaugeVec,
    log_start_offset: IntGaugeVec,
    partition_count: IntGauge,
    leader_count: IntGauge,
    under_replicated: IntGauge,
    groups: IntGaugeVec,
    replication: replication::ReplicationMetrics,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    c
}

fn total(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(g.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(g.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family. Names and label sets are static, so a failure
    /// here is a programming error caught by the unit tests, never input.
    pub fn new() -> Self {
        let r = Registry::new();
        let request_time = HistogramVec::new(
            HistogramOpts::new(
                "kafka_network_requestmetrics_totaltimems",
                "Request total time in ms, by API",
            )
            .buckets(vec![
                0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
            ]),
            &["request"],
        )
        .unwrap_or_else(|e| panic!("histogram: {e}"));
        r.register(Box::new(request_time.clone()))
            .unwrap_or_else(|e| panic!("histogram: {e}"));
        // Kafka's `kafka.server:type=app-info,name=version`, as an info gauge: the
        // operator's roll and dashboards read which build each node runs from it.
        gauge_vec(
            &r,
            "tidewater_broker_info",
            "The broker build: always 1, labelled with its version",
            &["version"],
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        let all = Registry::new();
        Metrics {
            all_messages_in: total(
                &all,
                "kafka_server_brokertopicmetrics_messagesin_total",
                "Messages appended",
            ),
            all_bytes_in: total(
                &all,
                "kafka_server_brokertopicmetrics_bytesin_total",
                "Bytes produced",
            ),
            all_bytes_out: total(
                &all,
                "kafka_server_brokertopicmetrics_bytesout_total",
                "Bytes fetched",
            ),
            all_failed_produce: total(
                &all,
                "kafka_server_brokertopicmetrics_failedproducerequests_total",
                "Failed produce requests",
            ),
            all_failed_fetch: total(
                &all,
                "kafka_server_brokertopicmetrics_failedfetchrequests_total",
                "Failed fetch requests",
            ),
            all_topics: all,
            messages_in: counter(
                &r,
                "kafka_server_brokertopicmetrics_messagesin_total",
                "Messages appended",
                &["topic"],
            ),
            bytes_in: counter(
                &r,
                "kafka_server_brokertopicmetrics_bytesin_total",
                "Bytes produced",
                &["topic"],
            ),
            bytes_out: counter(
                &r,
                "kafka_server_brokertopicmetrics_bytesout_total",
                "Bytes fetched",
                &["topic"],
            ),
            failed_produce: counter(
                &r,
                "kafka_server_brokertopicmetrics_failedproducerequests_total",
                "Failed produce requests",
                &["topic"],
            ),
            failed_fetch: counter(
                &r,
                "kafka_server_brokertopicmetrics_failedfetchrequests_total",
                "Failed fetch requests",
                &["topic"],
            ),
            requests: counter(
                &r,
                "kafka_network_requestmetrics_requests_total",
                "Requests, by API",
                &["request", "version"],
            ),
            request_errors: counter(
                &r,
                "kafka_network_requestmetrics_errors_total",
                "Error codes sent, by API",
                &["request", "error"],
            ),
            request_time,
            connections: gauge_vec(
                &r,
                "kafka_server_socketservermetrics_connection_count",
                "Open connections",
                &["listener"],
            ),
            connections_created: counter(
                &r,
                "kafka_server_socketservermetrics_connection_creation_total",
                "Connections accepted",
                &["listener"],
            ),
            connections_closed: counter(
                &r,
                "kafka_server_socketservermetrics_connection_close_total",
                "Connections closed",
                &["listener"],
            ),
            log_size: gauge_vec(
                &r,
                "kafka_log_log_size",
                "Partition size in bytes",
                &["topic", "partition"],
            ),
            log_end_offset: gauge_vec(
                &r,
                "kafka_log_log_logendoffset",
                "Log end offset",
                &["topic", "partition"],
            ),
            log_start_offset: gauge_vec(
                &r,
                "kafka_log_log_logstartoffset",
                "Log start offset",
                &["topic", "partition"],
            ),
            partition_count: gauge(
                &r,
                "kafka_server_replicamanager_partitioncount",
                "Partitions on this broker",
            ),
            leader_count: gauge(
                &r,
                "kafka_server_replicamanager_leadercount",
                "Partitions this broker leads",
            ),
            under_replicated: gauge(
                &r,
                "kafka_server_replicamanager_underreplicatedpartitions",
                "Under-replicated partitions",
            ),
            groups: gauge_vec(
                &r,
                "kafka_coordinator_group_groupmetadatamanager_numgroups",
                "Consumer groups, by state",
                &["state"],
            ),
            replication: replication::ReplicationMetrics::new(&r),
            registry: r,
        }
    }

    pub fn produced(&self, topic: &str, messages: u64, bytes: u64) {
        self.messages_in
            .with_label_values(&[topic])
            .inc_by(messages);
        self.bytes_in.with_label_values(&[topic]).inc_by(bytes);
        self.all_messages_in.inc_by(messages);
        self.all_bytes_in.inc_by(bytes);
    }

    pub fn replication_bytes_in(&self, topic: &str, bytes: u64) {
        self.replication.bytes_in(topic, bytes);
    }

    pub fn replication_bytes_out(&self, topic: &str, bytes: u64) {
        self.replication.bytes_out(topic, bytes);
    }

    pub fn throttled_bytes(&self, bytes: u64) {
        self.replication.throttled(bytes);
    }

    /// One leader election that took `ms` (from leaderless to a live leader).
    pub fn leader_election(&self, ms: f64) {
        self.replication.leader_election(ms);
    }

    pub fn isr_shrink(&self) {
        self.replication.isr_shrink();
    }

    pub fn isr_expand(&self) {
        self.replication.isr_expand();
    }

    pub fn produce_failed(&self, topic: &str) {
        self.failed_produce.with_label_values(&[topic]).inc();
        self.all_failed_produce.inc();
    }

    pub fn fetched(&self, topic: &str, bytes: u64) {
        self.bytes_out.with_label_values(&[topic]).inc_by(bytes);
        self.all_bytes_out.inc_by(bytes);
    }

    pub fn fetch_failed(&self, topic: &str) {
        self.failed_fetch.with_label_values(&[topic]).inc();
        self.all_failed_fetch.inc();
    }

    /// One request answered: count, latency, and any top-level error code.
    pub fn request(&self, api: &str, version: i16, millis: f64) {
        self.requests
            .with_label_values(&[api, &version.to_string()])
            .inc();
        self.request_time.with_label_values(&[api]).observe(millis);
    }

    pub fn request_error(&self, api: &str, error_code: i16) {
        self.request_errors
            .with_label_values(&[api, &error_code.to_string()])
            .inc();
    }

    pub fn connection_opened(&self, listener: &str) {
        self.connections.with_label_values(&[listener]).inc();
        self.connections_created
            .with_label_values(&[listener])
            .inc();
    }

    pub fn connection_closed(&self, listener: &str) {
        self.connections.with_label_values(&[listener]).dec();
        self.connections_closed.with_label_values(&[listener]).inc();
    }

    /// Pre-creates a topic's series so dashboards show zero, not absence.
    pub fn topic_created(&self, topic: &str) {
        self.messages_in.with_label_values(&[topic]);
        self.bytes_in.with_label_values(&[topic]);
        self.bytes_out.with_label_values(&[topic]);
    }

    /// Drops a deleted topic's series (Kafka unregisters its beans too).
    pub fn topic_deleted(&self, topic: &str) {
        for family in [
            &self.messages_in,
            &self.bytes_in,
            &self.bytes_out,
            &self.failed_produce,
            &self.failed_fetch,
        ] {
            let _ = family.remove_label_values(&[topic]);
        }
    }

    /// Refreshes state-mirroring gauges from `state` and renders the text format.
    pub fn render(&self, state: &BrokerState) -> String {
        self.log_size.reset();
        self.log_end_offset.reset();
        self.log_start_offset.reset();
        for (tp, log) in &state.logs {
            let p = tp.partition.to_string();
            let labels = [tp.topic.as_str(), p.as_str()];
            self.log_size
                .with_label_values(&labels)
                .set(i64::try_from(log.size_in_bytes()).unwrap_or(i64::MAX));
            self.log_end_offset
                .with_label_values(&labels)
                .set(log.log_end_offset());
            self.log_start_offset
                .with_label_values(&labels)
                .set(log.log_start_offset());
        }
        let as_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.partition_count.set(as_i64(state.logs.len()));
        self.replication.refresh(state);
        self.leader_count.set(as_i64(state.leaders.all));
        self.under_replicated
            .set(as_i64(state.leaders.under_replicated));
        let c = &state.groups;
        for (state, v) in [
            ("PreparingRebalance", c.preparing_rebalance),
            ("CompletingRebalance", c.completing_rebalance),
            ("Stable", c.stable),
            ("Dead", c.dead),
            ("Empty", c.empty),
        ] {
            self.groups.with_label_values(&[state]).set(as_i64(v));
        }
        self.encode()
    }

    fn encode(&self) -> String {
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        for mut total in self.all_topics.gather() {
            match families.iter_mut().find(|f| f.name() == total.name()) {
                Some(f) => {
                    let mut merged = total.take_metric();
                    merged.extend(f.take_metric());
                    *f.mut_metric() = merged;
                }
                None => families.push(total),
            }
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_jmx_exporter() {
        let m = Metrics::new();
        m.produced("orders", 3, 300);
        m.fetched("orders", 100);
        m.request("Produce", 9, 1.5);
        m.connection_opened("PLAINTEXT");
        let text = m.encode();
        for needle in [
            "kafka_server_brokertopicmetrics_messagesin_total{topic=\"orders\"} 3",
            "kafka_server_brokertopicmetrics_messagesin_total 3\n",
            "kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} 300",
            "kafka_server_brokertopicmetrics_bytesout_total{topic=\"orders\"} 100",
            "kafka_network_requestmetrics_requests_total{request=\"Produce\",version=\"9\"} 1",
            "kafka_network_requestmetrics_totaltimems_bucket{request=\"Produce\",le=\"2.5\"} 1",
            "kafka_server_socketservermetrics_connection_count{listener=\"PLAINTEXT\"} 1",
            concat!(
                "tidewater_broker_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\"} 1"
            ),
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        m.topic_deleted("orders");
        assert!(!m.encode().contains("topic=\"orders\""));
    }
}
