//! [`ReplicaSettings`]: the replication keys of a broker (`replica.*`, leader
//! election and controlled shutdown), validated with Kafka's defaults.

use super::ConfigError;
use super::properties::Props;

/// Replication settings of a broker (Kafka's `replica.*` keys and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSettings {
    pub lag_time_max_ms: u64,
    pub fetch_wait_max_ms: i32,
    pub fetch_min_bytes: i32,
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    pub fetch_backoff_ms: u64,
    pub unclean_leader_election_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: u64,
    /// `controlled.shutdown.enable`.
    pub controlled_shutdown_enable: bool,
    /// `tidewater.controlled.shutdown.drain.timeout.ms`: how long a SIGTERMed broker
    /// refuses produce and waits for its ISR followers to reach its log end before the
    /// controlled shutdown moves its leaderships (so no acks=1 record is truncated).
    pub controlled_shutdown_drain_timeout_ms: u64,
    /// `replica.selector.class` names Kafka's `RackAwareReplicaSelector` (KIP-392):
    /// consumers with `client.rack` are sent to an in-sync replica in their rack.
    pub rack_aware_selector: bool,
}

/// Reads the replication keys from the broker's properties.
pub(super) fn replica_settings(p: &Props<'_>) -> Result<ReplicaSettings, ConfigError> {
    Ok(ReplicaSettings {
        lag_time_max_ms: p.int("replica.lag.time.max.ms", 30_000, 1, u64::MAX)?,
        fetch_wait_max_ms: p.int("replica.fetch.wait.max.ms", 500, 0, i32::MAX)?,
        fetch_min_bytes: p.int("replica.fetch.min.bytes", 1, 0, i32::MAX)?,
        fetch_max_bytes: p.int("replica.fetch.max.bytes", 1_048_576, 1, i32::MAX)?,
        fetch_response_max_bytes: p.int(
            "replica.fetch.response.max.bytes",
            10_485_760,
            1,
            i32::MAX,
        )?,
        fetch_backoff_ms: p.int("replica.fetch.backoff.ms", 1000, 0, u64::MAX)?,
        unclean_leader_election_enable: p.bool("unclean.leader.election.enable", false)?,
        auto_leader_rebalance_enable: p.bool("auto.leader.rebalance.enable", true)?,
        leader_imbalance_check_interval_seconds: p.int(
            "leader.imbalance.check.interval.seconds",
            300,
            1,
            u64::MAX,
        )?,
        controlled_shutdown_enable: p.bool("controlled.shutdown.enable", true)?,
        controlled_shutdown_drain_timeout_ms: p.int(
            "tidewater.controlled.shutdown.drain.timeout.ms",
            10_000,
            0,
            u64::MAX,
        )?,
        rack_aware_selector: match p.get("replica.selector.class") {
            None | Some("") => false,
            Some(c) if c.ends_with("RackAwareReplicaSelector") => true,
            Some(c) if c.ends_with("LeaderSelector") => false,
            Some(c) => {
                return Err(ConfigError::Invalid {
                    key: "replica.selector.class".into(),
                    value: c.into(),
                    reason: "supported: org.apache.kafka.common.replica.RackAwareReplicaSelector"
                        .into(),
                });
            }
        },
    })
}
