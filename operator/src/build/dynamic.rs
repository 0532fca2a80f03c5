//! Which `spec.config` keys change without a restart: Kafka's cluster-wide dynamic
//! broker configs (`DynamicBrokerConfig`) that our broker really applies at runtime
//! when the cluster default (broker resource `""`) changes: the log defaults every
//! topic without an override follows (`DynamicLogConfig`) and `max.connections`.
//! Pure: the planner diffs them against what the brokers report, the runtimes send
//! the IncrementalAlterConfigs; static keys roll the nodes through the roll gate.
//!
//! Left out on purpose: keys Kafka lists as dynamic that our broker only reads at
//! start (thread pools, log cleaner), and the replication throttle rates, which the
//! rebalance driver owns per broker.

use std::collections::BTreeMap;

/// Cluster-wide dynamic broker keys our broker applies at once (the broker's
/// `refresh_dynamic_configs`: log defaults re-derived, connection cap resized).
pub const CLUSTER_DYNAMIC_KEYS: &[&str] = &[
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.index.size.max.bytes",
    "log.index.interval.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.retention.bytes",
    "log.retention.ms",
    "log.cleanup.policy",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.segment.delete.delay.ms",
    "log.preallocate",
    "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "message.max.bytes",
    "min.insync.replicas",
    "compression.type",
    "unclean.leader.election.enable",
    "max.connections",
];

/// The KIP-853 key a joining controller finds the quorum through.
pub const QUORUM_BOOTSTRAP_SERVERS: &str = "controller.quorum.bootstrap.servers";

/// Whether a change of `key` in `spec.config` applies without a restart.
pub fn is_cluster_dynamic(key: &str) -> bool {
    CLUSTER_DYNAMIC_KEYS.contains(&key)
}

/// `props` without the dynamic keys: what a node's revision hashes, so a dynamic
/// change does not roll every node.
///
/// `controller.quorum.bootstrap.servers` is left out too: it lists the controllers the
/// spec wants now, which a voter change (KIP-853) changes without restarting anyone
/// (running nodes find new controllers through NOT_CONTROLLER).
pub fn static_part(props: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    props
        .iter()
        .filter(|(k, _)| !is_cluster_dynamic(k) && *k != QUORUM_BOOTSTRAP_SERVERS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The IncrementalAlterConfigs entries that bring the cluster default `current` (the
/// dynamic keys the brokers report at source `DYNAMIC_DEFAULT_BROKER_CONFIG`) to the
/// dynamic keys of `config`: `Some` sets, `None` deletes a key the spec no longer has.
/// Empty when they match.
pub fn cluster_config_changes(
    config: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>)> {
    let desired: BTreeMap<&String, &String> = config
        .iter()
        .filter(|(k, _)| is_cluster_dynamic(k))
        .collect();
    let mut out: Vec<(String, Option<String>)> = desired
        .iter()
        .filter(|(k, v)| current.get(k.as_str()) != Some(v))
        .map(|(k, v)| ((*k).clone(), Some((*v).clone())))
        .collect();
    out.extend(
        current
            .keys()
            .filter(|k| is_cluster_dynamic(k) && !desired.contains_key(k))
            .map(|k| (k.clone(), None)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn dynamic_keys_are_diffed_static_ones_left_to_the_roll() {
        let config = map(&[
            ("log.retention.ms", "60000"),
            ("num.io.threads", "4"),
            ("message.max.bytes", "2000000"),
        ]);
        let current = map(&[("log.retention.ms", "1000"), ("max.connections", "50")]);
        assert_eq!(
            cluster_config_changes(&config, &current),
            vec![
                ("log.retention.ms".to_owned(), Some("60000".to_owned())),
                ("message.max.bytes".to_owned(), Some("2000000".to_owned())),
                ("max.connections".to_owned(), None),
            ]
        );
        let applied = map(&[
            ("log.retention.ms", "60000"),
            ("message.max.bytes", "2000000"),
        ]);
        assert!(cluster_config_changes(&config, &applied).is_empty());
        assert_eq!(
            static_part(&config),
            map(&[("num.io.threads", "4")]),
            "only static keys reach the revision"
        );
    }
}
