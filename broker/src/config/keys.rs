//! Which broker keys exist, which may change at runtime, and how topic-level
//! config names map to their broker-level defaults (Kafka's synonyms).

/// Keys the broker reads itself (outside the log configs).
const BROKER_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "controller.listener.names",
    "inter.broker.listener.name",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "delete.topic.enable",
    "message.max.bytes",
    "socket.request.max.bytes",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "offsets.topic.segment.bytes",
    "offsets.retention.minutes",
    "max.connections",
    "connections.max.idle.ms",
    "queued.max.request.bytes",
    "fetch.max.bytes",
    "max.incremental.fetch.session.cache.slots",
    "log.retention.check.interval.ms",
    "log.flush.scheduler.interval.ms",
    "num.recovery.threads.per.data.dir",
    "tidewater.http.listener",
    "tidewater.topic.naming.policy.enable",
];

/// Log configs: broker defaults for every topic (read by `tidewater_storage::LogConfig`).
const LOG_KEYS: &[&str] = &[
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.cleanup.policy",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.segment.delete.delay.ms",
    "log.message.timestamp.type",
];

/// Kafka keys a real `server.properties` carries that mean nothing to a single
/// Tidewater node (threads, buffers, KRaft quorum, replication). Accepted silently
/// so that a Kafka config works unchanged.
const ACCEPTED_KAFKA_KEYS: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "queued.max.requests",
    "max.connections.per.ip",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "auto.leader.rebalance.enable",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "compression.type",
    "replica.fetch.max.bytes",
    "num.replica.fetchers",
    "broker.rack",
    "offsets.retention.check.interval.ms",
    "group.coordinator.rebalance.protocols",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.request.timeout.ms",
    "replica.lag.time.max.ms",
    "replica.fetch.wait.max.ms",
    "replica.fetch.min.bytes",
    "replica.fetch.response.max.bytes",
    "replica.fetch.backoff.ms",
    "leader.imbalance.check.interval.seconds",
    "controlled.shutdown.enable",
    "inter.broker.protocol.version",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.selector.class",
];

/// Whether the broker knows `key` (unknown keys get a startup warning).
pub fn is_known_broker_key(key: &str) -> bool {
    BROKER_KEYS.contains(&key) || LOG_KEYS.contains(&key) || ACCEPTED_KAFKA_KEYS.contains(&key)
}

/// Keys that IncrementalAlterConfigs / AlterConfigs may set as dynamic broker
/// configs: Kafka's cluster-wide dynamic log defaults.
pub fn is_dynamic_broker_key(key: &str) -> bool {
    LOG_KEYS.contains(&key)
        || matches!(
            key,
            "message.max.bytes"
                | "leader.replication.throttled.rate"
                | "follower.replication.throttled.rate"
        )
}

/// The broker-level synonym that supplies a topic config's default, as listed by
/// Kafka's `LogConfig` (e.g. `retention.ms` -> `log.retention.ms`).
pub fn broker_key_for_topic_key(topic_key: &str) -> Option<&'static str> {
    Some(match topic_key {
        "segment.bytes" => "log.segment.bytes",
        "segment.ms" => "log.roll.ms",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "index.interval.bytes" => "log.index.interval.bytes",
        "retention.ms" => "log.retention.ms",
        "retention.bytes" => "log.retention.bytes",
        "cleanup.policy" => "log.cleanup.policy",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "flush.messages" => "log.flush.interval.messages",
        "flush.ms" => "log.flush.interval.ms",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "file.delete.delay.ms" => "log.segment.delete.delay.ms",
        _ => return None,
    })
}

/// Broker keys that also set `topic_key`'s default (Kafka's `*.hours`/`*.minutes` forms).
pub fn broker_synonyms_for_topic_key(topic_key: &str) -> &'static [&'static str] {
    match topic_key {
        "retention.ms" => &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "segment.ms" => &["log.roll.ms", "log.roll.hours"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synonym_is_a_known_key() {
        for topic_key in [
            "segment.bytes",
            "segment.ms",
            "retention.ms",
            "cleanup.policy",
            "max.message.bytes",
            "min.compaction.lag.ms",
        ] {
            let b = broker_key_for_topic_key(topic_key).unwrap();
            assert!(is_known_broker_key(b), "{b}");
            assert!(is_dynamic_broker_key(b), "{b}");
        }
        assert!(!is_known_broker_key("no.such.key"));
        assert!(!is_dynamic_broker_key("node.id"));
    }
}
