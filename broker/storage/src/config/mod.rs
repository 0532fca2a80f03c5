//! Topic-level log configuration: Kafka's names, defaults and validation, from broker
//! properties (`log.*`) and topic overrides. Pure data, no IO.

use std::collections::BTreeMap;

mod keys;
use keys::{KEYS, apply, scaled, topic_setter};

/// `cleanup.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanupPolicy {
    Delete,
    Compact,
    /// `compact,delete`.
    Both,
    /// An empty list (Kafka 4 accepts it): neither delete nor compact, so every
    /// segment is kept until the policy changes.
    Neither,
}

impl CleanupPolicy {
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::Both)
    }
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::Both)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::Both => "compact,delete",
            CleanupPolicy::Neither => "",
        }
    }
    fn parse(s: &str) -> Result<Self, ValueRule> {
        if s.trim().is_empty() {
            return Ok(CleanupPolicy::Neither);
        }
        let (mut delete, mut compact) = (false, false);
        for part in s.split(',').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "delete" => delete = true,
                "compact" => compact = true,
                other => return Err(ValueRule::UnknownCleanupPolicy(other.to_string())),
            }
        }
        match (compact, delete) {
            (true, true) => Ok(CleanupPolicy::Both),
            (true, false) => Ok(CleanupPolicy::Compact),
            (false, true) => Ok(CleanupPolicy::Delete),
            (false, false) => Ok(CleanupPolicy::Neither),
        }
    }
}

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// Every Kafka topic-level log config with Kafka's (4.x) defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub segment_index_bytes: u64,
    pub index_interval_bytes: u64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub cleanup_policy: CleanupPolicy,
    pub max_message_bytes: u64,
    pub message_timestamp_type: TimestampType,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub delete_retention_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub file_delete_delay_ms: i64,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may be.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may be.
    pub message_timestamp_after_max_ms: i64,
    /// `max.compaction.lag.ms`: accepted and reported; the cleaner does not force rolls.
    pub max_compaction_lag_ms: i64,
    /// `compression.type`: accepted and reported; batches are stored as produced.
    pub compression_type: String,
    /// `min.insync.replicas`: owned by the replication layer, kept here so the topic
    /// config is complete.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: owned by the controller, kept for completeness.
    pub unclean_leader_election_enable: bool,
    /// `segment.jitter.ms`: accepted and reported; rolls use `segment.ms` exactly.
    pub segment_jitter_ms: i64,
    /// `preallocate`: accepted and reported; segment files grow as written.
    pub preallocate: bool,
    /// `leader.replication.throttled.replicas`: `*` or `partition:broker,...` (empty =
    /// none). Read by the replication layer's quotas; validated here.
    pub leader_replication_throttled_replicas: String,
    /// `follower.replication.throttled.replicas`, same format.
    pub follower_replication_throttled_replicas: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::Delete,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            delete_retention_ms: 24 * 3_600_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            file_delete_delay_ms: 60_000,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            max_compaction_lag_ms: i64::MAX,
            compression_type: "producer".into(),
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            segment_jitter_ms: 0,
            preallocate: false,
            leader_replication_throttled_replicas: String::new(),
            follower_replication_throttled_replicas: String::new(),
        }
    }
}

/// A config value or key the log layer refuses. Maps to Kafka's INVALID_CONFIG.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown topic config '{key}'")]
    Unknown { key: String },
    #[error("invalid value '{value}' for config '{key}': {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: ValueRule,
    },
}

/// The rule a config value breaks (the `reason` of [`ConfigError::Invalid`]).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ValueRule {
    #[error("not a valid integer")]
    NotAnInteger,
    #[error("not a number")]
    NotANumber,
    #[error("must be at least {0}")]
    AtLeast(i64),
    #[error("must be at most {0}")]
    AtMost(i64),
    /// Parsed, but does not fit the field's type.
    #[error("out of range")]
    OutOfRange,
    #[error("must be between 0 and 1")]
    NotARatio,
    #[error("must be true or false")]
    NotABoolean,
    /// One of a fixed set of names, listed as the message shows them.
    #[error("must be {0}")]
    OneOf(&'static str),
    #[error("unknown cleanup policy '{0}'")]
    UnknownCleanupPolicy(String),
    #[error(
        "must be the wildcard (*) or a list of replicas in the form [partitionId]:[brokerId],[partitionId]:[brokerId],..."
    )]
    ThrottledReplicas,
}

impl LogConfig {
    /// Broker-level defaults from server.properties names. Keys it does not know are
    /// ignored (the broker warns about unknown keys itself).
    pub fn from_broker_props(props: &BTreeMap<String, String>) -> Result<LogConfig, ConfigError> {
        let mut cfg = LogConfig::default();
        // Kafka's precedence: the finest unit wins (ms over minutes over hours).
        let retention = match props.get("log.retention.ms") {
            Some(v) => Some(v.clone()),
            None => match scaled(props, "log.retention.minutes", 60_000)? {
                Some(v) => Some(v),
                None => scaled(props, "log.retention.hours", 3_600_000)?,
            },
        };
        if let Some(v) = retention {
            apply(
                &mut cfg,
                "log.retention.ms",
                topic_setter("retention.ms")?,
                &v,
            )?;
        }
        let roll = match props.get("log.roll.ms") {
            Some(v) => Some(v.clone()),
            None => scaled(props, "log.roll.hours", 3_600_000)?,
        };
        if let Some(v) = roll {
            apply(&mut cfg, "log.roll.ms", topic_setter("segment.ms")?, &v)?;
        }
        let jitter = match props.get("log.roll.jitter.ms") {
            Some(v) => Some(v.clone()),
            None => scaled(props, "log.roll.jitter.hours", 3_600_000)?,
        };
        if let Some(v) = jitter {
            apply(
                &mut cfg,
                "log.roll.jitter.ms",
                topic_setter("segment.jitter.ms")?,
                &v,
            )?;
        }
        for (_, broker_key, setter) in KEYS {
            if matches!(
                *broker_key,
                "log.retention.ms" | "log.roll.ms" | "log.roll.jitter.ms"
            ) {
                continue;
            }
            if let Some(v) = props.get(*broker_key) {
                apply(&mut cfg, broker_key, *setter, v)?;
            }
        }
        Ok(cfg)
    }

    /// Topic-level overrides on top of `self`. Unknown topic config keys are refused
    /// (INVALID_CONFIG), so a typo never silently does nothing.
    pub fn with_topic_overrides(
        &self,
        props: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ConfigError> {
        let mut cfg = self.clone();
        for (key, value) in props {
            apply(&mut cfg, key, topic_setter(key)?, value)?;
        }
        Ok(cfg)
    }

    /// The topic-level config names this type understands, with their current values
    /// as Kafka would print them (for DescribeConfigs).
    pub fn topic_entries(&self) -> Vec<(&'static str, String)> {
        vec![
            ("cleanup.policy", self.cleanup_policy.as_str().to_string()),
            ("compression.type", self.compression_type.clone()),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
            (
                "file.delete.delay.ms",
                self.file_delete_delay_ms.to_string(),
            ),
            ("flush.messages", self.flush_messages.to_string()),
            ("flush.ms", self.flush_ms.to_string()),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            (
                "max.compaction.lag.ms",
                self.max_compaction_lag_ms.to_string(),
            ),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            (
                "message.timestamp.after.max.ms",
                self.message_timestamp_after_max_ms.to_string(),
            ),
            (
                "message.timestamp.before.max.ms",
                self.message_timestamp_before_max_ms.to_string(),
            ),
            (
                "message.timestamp.type",
                self.message_timestamp_type.as_str().to_string(),
            ),
            (
                "min.cleanable.dirty.ratio",
                self.min_cleanable_dirty_ratio.to_string(),
            ),
            (
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
            ),
            ("min.insync.replicas", self.min_insync_replicas.to_string()),
            ("preallocate", self.preallocate.to_string()),
            (
                "leader.replication.throttled.replicas",
                self.leader_replication_throttled_replicas.clone(),
            ),
            (
                "follower.replication.throttled.replicas",
                self.follower_replication_throttled_replicas.clone(),
            ),
            ("retention.bytes", self.retention_bytes.to_string()),
            ("retention.ms", self.retention_ms.to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.index.bytes", self.segment_index_bytes.to_string()),
            ("segment.jitter.ms", self.segment_jitter_ms.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            (
                "unclean.leader.election.enable",
                self.unclean_leader_election_enable.to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn broker_props_follow_kafka_precedence() {
        let c = LogConfig::from_broker_props(&props(&[
            ("log.retention.hours", "2"),
            ("log.retention.minutes", "3"),
            ("log.roll.hours", "1"),
            ("log.segment.bytes", "1048576"),
            ("message.max.bytes", "2000"),
            ("log.cleanup.policy", "compact,delete"),
            ("some.unrelated.key", "x"),
        ]))
        .unwrap();
        assert_eq!(c.retention_ms, 180_000);
        assert_eq!(c.segment_ms, 3_600_000);
        assert_eq!(c.segment_bytes, 1_048_576);
        assert_eq!(c.max_message_bytes, 2000);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Both);
        let c = LogConfig::from_broker_props(&props(&[
            ("log.retention.ms", "-1"),
            ("log.retention.hours", "2"),
        ]))
        .unwrap();
        assert_eq!(c.retention_ms, -1);
    }

    #[test]
    fn topic_overrides_validate_and_refuse_unknown_keys() {
        let base = LogConfig::default();
        let c = base
            .with_topic_overrides(&props(&[
                ("retention.ms", "1000"),
                ("cleanup.policy", "compact"),
                ("message.timestamp.type", "LogAppendTime"),
            ]))
            .unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            base.with_topic_overrides(&props(&[("retention.msx", "1")])),
            Err(ConfigError::Unknown {
                key: "retention.msx".into()
            })
        );
        let reason =
            |key: &str, value: &str| match base.with_topic_overrides(&props(&[(key, value)])) {
                Err(ConfigError::Invalid {
                    key: k,
                    value: v,
                    reason,
                }) if k == key && v == value => reason,
                other => panic!("{key}={value}: {other:?}"),
            };
        let err = base
            .with_topic_overrides(&props(&[("segment.bytes", "abc")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value 'abc' for config 'segment.bytes': not a valid integer"
        );
        assert_eq!(reason("segment.bytes", "abc"), ValueRule::NotAnInteger);
        assert_eq!(reason("segment.bytes", "13"), ValueRule::AtLeast(14));
        assert_eq!(
            reason("min.cleanable.dirty.ratio", "1.5"),
            ValueRule::NotARatio
        );
        assert_eq!(
            reason("cleanup.policy", "bogus"),
            ValueRule::UnknownCleanupPolicy("bogus".into())
        );
        assert_eq!(
            reason("compression.type", "brotli").to_string(),
            "must be one of uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert_eq!(
            reason("message.timestamp.type", "Now").to_string(),
            "must be CreateTime or LogAppendTime"
        );
        assert_eq!(reason("preallocate", "yes"), ValueRule::NotABoolean);
        assert_eq!(
            reason("leader.replication.throttled.replicas", "0-1"),
            ValueRule::ThrottledReplicas
        );
        let neither = base
            .with_topic_overrides(&props(&[("cleanup.policy", "")]))
            .unwrap()
            .cleanup_policy;
        assert_eq!(neither, CleanupPolicy::Neither);
        assert!(!neither.deletes() && !neither.compacts());
        assert_eq!(
            reason("segment.bytes", "4294967296"),
            ValueRule::AtMost(i32::MAX.into())
        );
    }

    #[test]
    fn every_entry_is_an_accepted_override_that_round_trips() {
        let c = LogConfig::default();
        let entries: BTreeMap<String, String> = c
            .topic_entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(entries.len(), KEYS.len());
        assert_eq!(c.with_topic_overrides(&entries).unwrap(), c);
    }
}
