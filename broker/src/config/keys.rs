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
    "security.inter.broker.protocol",
    // Read for SSL listeners without a listener prefix too (see `security::tls`).
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.certificates",
    "ssl.principal.mapping.rules",
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
    "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.max.size",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "offsets.topic.segment.bytes",
    "offsets.retention.minutes",
    "offsets.commit.timeout.ms",
    "max.connections",
    "connections.max.idle.ms",
    "queued.max.request.bytes",
    "fetch.max.bytes",
    "max.incremental.fetch.session.cache.slots",
    "log.retention.check.interval.ms",
    "log.flush.scheduler.interval.ms",
    "num.recovery.threads.per.data.dir",
    "tidewater.http.listener",
    "tidewater.controlled.shutdown.drain.timeout.ms",
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
    // Read by the transaction coordinator (broker_server::txn) from the static props.
    "transaction.state.log.num.partitions",
    "transaction.state.log.segment.bytes",
    "transaction.max.timeout.ms",
    "transactional.id.expiration.ms",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
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
    // Read by config::authorizer.
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    // Read by security::client: the controller client's and raft peers' SASL mechanism.
    "sasl.mechanism.controller.protocol",
    // Read by security::sasl for SASL listeners (KIP-368 re-authentication).
    "connections.max.reauth.ms",
];

/// Whether the broker knows `key` (unknown keys get a startup warning).
pub fn is_known_broker_key(key: &str) -> bool {
    BROKER_KEYS.contains(&key)
        || LOG_KEYS.contains(&key)
        || ACCEPTED_KAFKA_KEYS.contains(&key)
        || is_dynamic_broker_key(key)
}

/// Where a dynamic broker config may be set (Kafka's `DynamicBrokerConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicScope {
    /// Only on one broker's own resource (name = its id): listeners, SSL, SASL.
    PerBroker,
    /// On one broker or as the cluster-wide default (empty resource name).
    ClusterWide,
}

/// Kafka's `DynamicListenerConfig.ReconfigurableConfigs`: per broker, except the
/// three Kafka lists as cluster-level (`max.connections`, its creation rate and
/// `num.network.threads`).
const LISTENER_DYNAMIC: &[&str] = &[
    "advertised.listeners",
    "listeners",
    "listener.security.protocol.map",
    "principal.builder.class",
    "ssl.protocol",
    "ssl.provider",
    "ssl.cipher.suites",
    "ssl.enabled.protocols",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.endpoint.identification.algorithm",
    "ssl.secure.random.implementation",
    "ssl.client.auth",
    "ssl.engine.factory.class",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.jaas.config",
    "sasl.enabled.mechanisms",
    "sasl.kerberos.service.name",
    "sasl.kerberos.kinit.cmd",
    "sasl.kerberos.ticket.renew.window.factor",
    "sasl.kerberos.ticket.renew.jitter",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.kerberos.principal.to.local.rules",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
];

/// Listener configs Kafka treats as cluster-wide (`ClusterLevelListenerConfigs`).
const CLUSTER_LEVEL_LISTENER: &[&str] = &[
    "max.connections",
    "max.connection.creation.rate",
    "num.network.threads",
];

/// Kafka's `SslConfigs.RECONFIGURABLE_CONFIGS`: dynamic only with a listener prefix
/// (`listener.name.<listener>.<key>`), per broker.
pub(super) const SECURITY_DYNAMIC: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.certificates",
];

/// The rest of Kafka's `DynamicBrokerConfig.AllDynamicConfigs` (cluster-wide or per
/// broker): the log cleaner, thread pools, socket server limits, producer state,
/// remote log, and the broker quota configs (`DynamicConfig.Broker`).
const CLUSTER_DYNAMIC: &[&str] = &[
    // LogCleaner.ReconfigurableConfigs
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    // DynamicThreadPool.ReconfigurableConfigs
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
    "metric.reporters",
    // SocketServer.ReconfigurableConfigs (+ the cluster-level listener configs)
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "max.connections",
    "max.connection.creation.rate",
    "num.network.threads",
    // DynamicProducerStateManagerConfig
    "producer.id.expiration.ms",
    "transaction.partition.verification.enable",
    // DynamicRemoteLogConfig.ReconfigurableConfigs
    "remote.log.index.file.cache.total.size.bytes",
    "remote.fetch.max.wait.ms",
    "remote.log.manager.copy.max.bytes.per.second",
    "remote.log.manager.fetch.max.bytes.per.second",
    "remote.list.offsets.request.timeout.ms",
    // QuotaConfigs.brokerQuotaConfigs
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
];

/// Kafka's `DynamicLogConfig.ReconfigurableConfigs`: the first broker synonym of
/// every topic config. The coarser units (`log.retention.hours`, `log.roll.hours`,
/// ...) are read-only in Kafka, so they are not here.
const LOG_DYNAMIC: &[&str] = &[
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.index.size.max.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.retention.bytes",
    "log.retention.ms",
    "message.max.bytes",
    "log.index.interval.bytes",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.segment.delete.delay.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleanup.policy",
    "unclean.leader.election.enable",
    "min.insync.replicas",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "log.preallocate",
    "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "log.local.retention.ms",
    "log.local.retention.bytes",
];

/// Kafka's password-typed dynamic configs: described with a null value.
pub fn is_sensitive_broker_key(key: &str) -> bool {
    let base = listener_base(key).unwrap_or(key);
    base.ends_with(".password") || base == "sasl.jaas.config" || base == "ssl.keystore.key"
}

/// `listener.name.<listener>.<key>` -> `<key>` (Kafka's `ListenerConfigRegex`).
pub(super) fn listener_base(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("listener.name.")?;
    let (_listener, base) = rest.split_once('.')?;
    Some(base)
}

/// Whether `key` may be set dynamically on a broker resource, and where.
pub fn dynamic_broker_scope(key: &str) -> Option<DynamicScope> {
    if let Some(base) = listener_base(key) {
        return Some(if CLUSTER_LEVEL_LISTENER.contains(&base) {
            DynamicScope::ClusterWide
        } else {
            DynamicScope::PerBroker
        });
    }
    if LISTENER_DYNAMIC.contains(&key) {
        Some(DynamicScope::PerBroker)
    } else if CLUSTER_DYNAMIC.contains(&key) || LOG_DYNAMIC.contains(&key) {
        Some(DynamicScope::ClusterWide)
    } else {
        None
    }
}

/// Keys that IncrementalAlterConfigs / AlterConfigs may set as dynamic broker
/// configs somewhere (per broker or cluster-wide).
pub fn is_dynamic_broker_key(key: &str) -> bool {
    dynamic_broker_scope(key).is_some()
}

/// The broker-level synonym that supplies a topic config's default, as listed by
/// Kafka's `ServerTopicConfigSynonyms` (e.g. `retention.ms` -> `log.retention.ms`).
pub fn broker_key_for_topic_key(topic_key: &str) -> Option<&'static str> {
    Some(match topic_key {
        "segment.bytes" => "log.segment.bytes",
        "segment.ms" => "log.roll.ms",
        "segment.jitter.ms" => "log.roll.jitter.ms",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "index.interval.bytes" => "log.index.interval.bytes",
        "retention.ms" => "log.retention.ms",
        "retention.bytes" => "log.retention.bytes",
        "cleanup.policy" => "log.cleanup.policy",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "message.timestamp.before.max.ms" => "log.message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms" => "log.message.timestamp.after.max.ms",
        "flush.messages" => "log.flush.interval.messages",
        "flush.ms" => "log.flush.interval.ms",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
        "file.delete.delay.ms" => "log.segment.delete.delay.ms",
        "preallocate" => "log.preallocate",
        "min.insync.replicas" => "min.insync.replicas",
        "unclean.leader.election.enable" => "unclean.leader.election.enable",
        "compression.type" => "compression.type",
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
        "segment.jitter.ms" => &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "flush.ms" => &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
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
        assert!(
            !is_dynamic_broker_key("log.retention.hours"),
            "read-only in Kafka"
        );
    }
}
