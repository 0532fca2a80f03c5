//! The table of topic config keys (with their broker-level `log.*` names), the parsers
//! and validation rules for their values.

use std::collections::BTreeMap;

use super::{CleanupPolicy, ConfigError, LogConfig, TimestampType, ValueRule};

pub(super) type Setter = fn(&mut LogConfig, &str) -> Result<(), ValueRule>;

/// Topic config name, its broker-level name, and how to set it.
pub(super) const KEYS: &[(&str, &str, Setter)] = &[
    ("segment.bytes", "log.segment.bytes", |c, v| {
        c.segment_bytes = kafka_int(v, 14)?;
        Ok(())
    }),
    ("segment.ms", "log.roll.ms", |c, v| {
        c.segment_ms = int_at_least(v, 1)?;
        Ok(())
    }),
    ("segment.index.bytes", "log.index.size.max.bytes", |c, v| {
        c.segment_index_bytes = kafka_int(v, 4)?;
        Ok(())
    }),
    (
        "index.interval.bytes",
        "log.index.interval.bytes",
        |c, v| {
            c.index_interval_bytes = kafka_int(v, 0)?;
            Ok(())
        },
    ),
    ("retention.ms", "log.retention.ms", |c, v| {
        c.retention_ms = int_at_least(v, -1)?;
        Ok(())
    }),
    ("retention.bytes", "log.retention.bytes", |c, v| {
        c.retention_bytes = int_at_least(v, -1)?;
        Ok(())
    }),
    ("cleanup.policy", "log.cleanup.policy", |c, v| {
        c.cleanup_policy = CleanupPolicy::parse(v)?;
        Ok(())
    }),
    ("max.message.bytes", "message.max.bytes", |c, v| {
        c.max_message_bytes = kafka_int(v, 0)?;
        Ok(())
    }),
    (
        "message.timestamp.type",
        "log.message.timestamp.type",
        |c, v| {
            c.message_timestamp_type = match v {
                "CreateTime" => TimestampType::CreateTime,
                "LogAppendTime" => TimestampType::LogAppendTime,
                _ => return Err(ValueRule::OneOf("CreateTime or LogAppendTime")),
            };
            Ok(())
        },
    ),
    ("flush.messages", "log.flush.interval.messages", |c, v| {
        c.flush_messages = int_at_least(v, 1)?;
        Ok(())
    }),
    ("flush.ms", "log.flush.interval.ms", |c, v| {
        c.flush_ms = int_at_least(v, 0)?;
        Ok(())
    }),
    (
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        |c, v| {
            c.delete_retention_ms = int_at_least(v, 0)?;
            Ok(())
        },
    ),
    (
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
        |c, v| {
            let r: f64 = v.trim().parse().map_err(|_| ValueRule::NotANumber)?;
            if !(0.0..=1.0).contains(&r) {
                return Err(ValueRule::NotARatio);
            }
            c.min_cleanable_dirty_ratio = r;
            Ok(())
        },
    ),
    (
        "min.compaction.lag.ms",
        "log.cleaner.min.compaction.lag.ms",
        |c, v| {
            c.min_compaction_lag_ms = int_at_least(v, 0)?;
            Ok(())
        },
    ),
    (
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        |c, v| {
            c.max_compaction_lag_ms = int_at_least(v, 1)?;
            Ok(())
        },
    ),
    (
        "file.delete.delay.ms",
        "log.segment.delete.delay.ms",
        |c, v| {
            c.file_delete_delay_ms = int_at_least(v, 0)?;
            Ok(())
        },
    ),
    (
        "message.timestamp.before.max.ms",
        "log.message.timestamp.before.max.ms",
        |c, v| {
            c.message_timestamp_before_max_ms = int_at_least(v, 0)?;
            Ok(())
        },
    ),
    (
        "message.timestamp.after.max.ms",
        "log.message.timestamp.after.max.ms",
        |c, v| {
            c.message_timestamp_after_max_ms = int_at_least(v, 0)?;
            Ok(())
        },
    ),
    ("compression.type", "compression.type", |c, v| {
        match v {
            "uncompressed" | "zstd" | "lz4" | "snappy" | "gzip" | "producer" => {}
            _ => {
                return Err(ValueRule::OneOf(
                    "one of uncompressed, zstd, lz4, snappy, gzip, producer",
                ));
            }
        }
        c.compression_type = v.to_string();
        Ok(())
    }),
    ("min.insync.replicas", "min.insync.replicas", |c, v| {
        c.min_insync_replicas = int_at_least(v, 1)?;
        Ok(())
    }),
    (
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        |c, v| {
            c.unclean_leader_election_enable = parse_bool(v)?;
            Ok(())
        },
    ),
    ("segment.jitter.ms", "log.roll.jitter.ms", |c, v| {
        c.segment_jitter_ms = int_at_least(v, 0)?;
        Ok(())
    }),
    ("preallocate", "log.preallocate", |c, v| {
        c.preallocate = parse_bool(v)?;
        Ok(())
    }),
    (
        "leader.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        |c, v| {
            c.leader_replication_throttled_replicas = throttled_replicas(v)?;
            Ok(())
        },
    ),
    (
        "follower.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        |c, v| {
            c.follower_replication_throttled_replicas = throttled_replicas(v)?;
            Ok(())
        },
    ),
];

/// Kafka's `ThrottledReplicaListValidator`: empty, `*`, or `partition:broker` pairs.
fn throttled_replicas(v: &str) -> Result<String, ValueRule> {
    let v = v.trim();
    let ok = v.is_empty()
        || v == "*"
        || v.split(',').all(|item| {
            item.trim().split_once(':').is_some_and(|(p, b)| {
                p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
            })
        });
    if ok {
        Ok(v.to_string())
    } else {
        Err(ValueRule::ThrottledReplicas)
    }
}

pub(super) fn topic_setter(key: &str) -> Result<Setter, ConfigError> {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, s)| *s)
        .ok_or_else(|| ConfigError::Unknown { key: key.into() })
}

fn parse_bool(v: &str) -> Result<bool, ValueRule> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ValueRule::NotABoolean),
    }
}

/// Kafka declares these as INT: positions in `.index` files are 32-bit, so larger
/// values must be refused rather than wrap.
fn kafka_int(v: &str, min: i64) -> Result<u64, ValueRule> {
    let n: u64 = int_at_least(v, min)?;
    if n > i32::MAX as u64 {
        return Err(ValueRule::AtMost(i32::MAX.into()));
    }
    Ok(n)
}

fn int_at_least<T>(v: &str, min: i64) -> Result<T, ValueRule>
where
    T: TryFrom<i64>,
{
    let n: i64 = v.trim().parse().map_err(|_| ValueRule::NotAnInteger)?;
    if n < min {
        return Err(ValueRule::AtLeast(min));
    }
    T::try_from(n).map_err(|_| ValueRule::OutOfRange)
}

pub(super) fn apply(
    cfg: &mut LogConfig,
    key: &str,
    setter: Setter,
    value: &str,
) -> Result<(), ConfigError> {
    setter(cfg, value).map_err(|reason| ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    })
}

/// A broker property given in a coarser unit (`log.retention.hours`) with a multiplier.
pub(super) fn scaled(
    props: &BTreeMap<String, String>,
    key: &str,
    factor: i64,
) -> Result<Option<String>, ConfigError> {
    let Some(v) = props.get(key) else {
        return Ok(None);
    };
    let n: i64 = v.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.to_string(),
        value: v.clone(),
        reason: ValueRule::NotAnInteger,
    })?;
    // -1 means "unlimited" for retention in every unit.
    let ms = if n < 0 { n } else { n.saturating_mul(factor) };
    Ok(Some(ms.to_string()))
}
