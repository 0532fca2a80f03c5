//! Dynamic config validation and IncrementalAlterConfigs decisions.
//!
//! Topic config names are Kafka's (`TopicConfig`); values are checked by kind so a bad
//! value is refused with INVALID_CONFIG instead of surfacing later in the log layer.

use super::{Controller, ControllerError};
use crate::image::MetadataImage;
use crate::records::{ConfigResourceType, MetadataRecord};

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    /// Integer with an inclusive minimum.
    Long(i64),
    /// Ratio in [0, 1].
    Ratio,
    OneOf(&'static [&'static str]),
    /// Comma separated list of the given words.
    ListOf(&'static [&'static str]),
    Text,
}

const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// Kafka's topic-level configs and the kind of value each takes.
const TOPIC_CONFIGS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    ("compression.type", Kind::OneOf(COMPRESSION)),
    ("delete.retention.ms", Kind::Long(0)),
    ("file.delete.delay.ms", Kind::Long(0)),
    ("flush.messages", Kind::Long(1)),
    ("flush.ms", Kind::Long(0)),
    ("follower.replication.throttled.replicas", Kind::Text),
    ("index.interval.bytes", Kind::Long(0)),
    ("leader.replication.throttled.replicas", Kind::Text),
    ("local.retention.bytes", Kind::Long(-2)),
    ("local.retention.ms", Kind::Long(-2)),
    ("max.compaction.lag.ms", Kind::Long(1)),
    ("max.message.bytes", Kind::Long(0)),
    ("message.downconversion.enable", Kind::Bool),
    ("message.timestamp.after.max.ms", Kind::Long(0)),
    ("message.timestamp.before.max.ms", Kind::Long(0)),
    ("message.timestamp.difference.max.ms", Kind::Long(0)),
    ("message.timestamp.type", Kind::OneOf(TIMESTAMP_TYPES)),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Long(0)),
    ("min.insync.replicas", Kind::Long(1)),
    ("preallocate", Kind::Bool),
    ("remote.storage.enable", Kind::Bool),
    ("retention.bytes", Kind::Long(-1)),
    ("retention.ms", Kind::Long(-1)),
    ("segment.bytes", Kind::Long(14)),
    ("segment.index.bytes", Kind::Long(4)),
    ("segment.jitter.ms", Kind::Long(0)),
    ("segment.ms", Kind::Long(1)),
    ("unclean.leader.election.enable", Kind::Bool),
];

/// Broker configs the controller itself interprets; other broker keys pass unchecked.
const BROKER_CONFIGS: &[(&str, Kind)] = &[
    ("unclean.leader.election.enable", Kind::Bool),
    ("min.insync.replicas", Kind::Long(1)),
    ("log.retention.ms", Kind::Long(-1)),
    ("log.retention.bytes", Kind::Long(-1)),
];

/// Whether `key` is a topic config this controller accepts (others are refused with
/// "Unknown topic config name").
pub fn is_topic_config(key: &str) -> bool {
    TOPIC_CONFIGS.iter().any(|(k, _)| *k == key)
}

/// Checks one config value; `None` (delete) is always fine for a known key.
pub(crate) fn validate(
    rtype: ConfigResourceType,
    key: &str,
    value: Option<&str>,
) -> Result<(), ControllerError> {
    let known = match rtype {
        ConfigResourceType::Topic => TOPIC_CONFIGS,
        ConfigResourceType::Broker => BROKER_CONFIGS,
        // The broker validates group configs against its group coordinator settings.
        ConfigResourceType::Group => &[],
    };
    let kind = match (known.iter().find(|(k, _)| *k == key), rtype) {
        (Some((_, kind)), _) => *kind,
        (None, ConfigResourceType::Broker | ConfigResourceType::Group) => Kind::Text,
        (None, ConfigResourceType::Topic) => {
            return Err(ControllerError::InvalidConfig(format!(
                "Unknown topic config name: {key}"
            )));
        }
    };
    let Some(value) = value else { return Ok(()) };
    let ok = match kind {
        Kind::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        Kind::Long(min) => value.trim().parse::<i64>().is_ok_and(|v| v >= min),
        Kind::Ratio => value
            .trim()
            .parse::<f64>()
            .is_ok_and(|v| (0.0..=1.0).contains(&v)),
        Kind::OneOf(words) => words.contains(&value.trim()),
        // An empty list is valid (Kafka 4: `cleanup.policy=""` is neither policy).
        Kind::ListOf(words) => {
            value.trim().is_empty() || value.split(',').all(|w| words.contains(&w.trim()))
        }
        Kind::Text => true,
    };
    if ok {
        Ok(())
    } else {
        Err(ControllerError::InvalidConfig(format!(
            "Invalid value {value} for configuration {key}"
        )))
    }
}

impl Controller {
    /// IncrementalAlterConfigs for one resource: `ops` are (key, Some(value)) to set and
    /// (key, None) to delete. Validates everything before emitting anything.
    pub fn incremental_alter_configs(
        &self,
        image: &MetadataImage,
        rtype: ConfigResourceType,
        resource_name: &str,
        ops: &[(String, Option<String>)],
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        match rtype {
            ConfigResourceType::Topic if image.topic(resource_name).is_none() => {
                return Err(ControllerError::UnknownTopicOrPartition(format!(
                    "Topic {resource_name} does not exist"
                )));
            }
            ConfigResourceType::Broker
                if !resource_name.is_empty() && resource_name.parse::<i32>().is_err() =>
            {
                return Err(ControllerError::InvalidRequest(format!(
                    "Invalid broker resource name {resource_name}: expected a broker id or the empty default"
                )));
            }
            _ => {}
        }
        let mut records = Vec::with_capacity(ops.len());
        for (key, value) in ops {
            validate(rtype, key, value.as_deref())?;
            if image.config(rtype, resource_name, key) != value.as_deref() {
                records.push(MetadataRecord::Config {
                    resource_type: rtype,
                    resource_name: resource_name.to_string(),
                    key: key.clone(),
                    value: value.clone(),
                });
            }
        }
        Ok(records)
    }
}
