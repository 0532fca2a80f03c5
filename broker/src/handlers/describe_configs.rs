//! DescribeConfigs for topics (effective values with their source: topic
//! override, dynamic per-broker or cluster-default config, static broker config
//! or Kafka default), for the broker itself (its own resource or the
//! cluster-wide default) and for groups (Kafka 4's GROUP resource).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use tidewater_storage::LogConfig;

use super::msg;
use crate::broker_server::Broker;
use crate::config::{
    broker_key_for_topic_key, group_config_values, is_dynamic_broker_key, is_group_key,
    is_sensitive_broker_key,
};
use crate::kafka_error::KafkaError;
use crate::metadata::DynamicResource;
use crate::metadata::image_store::dynamic_broker_configs;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// Kafka 4's `ConfigResource.Type.GROUP`.
pub const RESOURCE_GROUP: i8 = 32;

/// Kafka's `ConfigSource` values.
pub mod source {
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
    pub const GROUP_CONFIG: i8 = 8;
}

/// One described config with where its value comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: i8,
    pub read_only: bool,
    /// (name, value, source) from most to least specific, for include_synonyms.
    pub synonyms: Vec<(String, String, i8)>,
}

/// Where a broker-level value for `broker_keys` comes from, most specific first:
/// this broker's dynamic config, the cluster-wide dynamic default, the static
/// `server.properties`, Kafka's default.
fn broker_layers(
    broker: &Broker,
    broker_keys: &[&str],
    default: &str,
) -> Vec<(String, String, i8)> {
    let own = broker
        .metadata()
        .dynamic_configs(&DynamicResource::Broker(broker.config().node_id));
    let cluster = broker
        .metadata()
        .dynamic_configs(&DynamicResource::BrokerDefault);
    let mut out = Vec::new();
    for (layer, src) in [
        (&own, source::DYNAMIC_BROKER_CONFIG),
        (&cluster, source::DYNAMIC_DEFAULT_BROKER_CONFIG),
    ] {
        for k in broker_keys {
            if let Some(v) = layer.get(*k) {
                out.push((k.to_string(), v.clone(), src));
            }
        }
    }
    for k in broker_keys {
        if let Some(v) = broker.config().static_props.get(*k) {
            out.push((k.to_string(), v.clone(), source::STATIC_BROKER_CONFIG));
        }
    }
    if let Some(k) = broker_keys.first() {
        out.push((k.to_string(), default.to_string(), source::DEFAULT_CONFIG));
    }
    out
}

/// The log defaults as of the metadata image the sources are read from. The broker's
/// applied defaults trail the image by one apply, so right after an IncrementalAlterConfigs
/// of a cluster default they would pair the new source with the old value.
fn image_log_defaults(broker: &Broker) -> LogConfig {
    let dynamic = dynamic_broker_configs(&broker.cluster().image(), broker.config().node_id);
    broker
        .config()
        .log_defaults(&dynamic)
        .unwrap_or_else(|_| broker.admin().log_defaults())
}

fn synonym_keys(topic_key: &str) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> =
        crate::config::broker_synonyms_for_topic_key(topic_key).to_vec();
    if keys.is_empty() {
        keys.extend(broker_key_for_topic_key(topic_key));
    }
    keys
}

/// A topic's effective configs given its overrides.
pub fn topic_config_entries(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let defaults: BTreeMap<&str, String> =
        LogConfig::default().topic_entries().into_iter().collect();
    let broker_defaults = image_log_defaults(broker);
    broker_defaults
        .clone()
        .with_topic_overrides(overrides)
        .unwrap_or(broker_defaults)
        .topic_entries()
        .into_iter()
        .map(|(name, value)| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(name) {
                synonyms.push((name.to_string(), v.clone(), source::DYNAMIC_TOPIC_CONFIG));
            }
            let default = defaults.get(name).cloned().unwrap_or_default();
            synonyms.extend(broker_layers(broker, &synonym_keys(name), &default));
            let source = synonyms
                .first()
                .map(|s| s.2)
                .unwrap_or(source::DEFAULT_CONFIG);
            ConfigEntry {
                name: name.to_string(),
                value: as_configured(name, value, &synonyms),
                source,
                read_only: false,
                synonyms,
            }
        })
        .collect()
}

/// A list value as the winning layer spelled it (`delete,compact` stays in that
/// order, as Kafka prints it); other values as the log layer parsed them.
fn as_configured(name: &str, parsed: String, synonyms: &[(String, String, i8)]) -> String {
    if !matches!(name, "cleanup.policy" | "log.cleanup.policy") {
        return parsed;
    }
    match synonyms.first() {
        Some((_, v, s)) if *s != source::DEFAULT_CONFIG => v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        _ => parsed,
    }
}

/// The broker's configs: log defaults under their broker names plus the
/// broker's own settings.
pub fn broker_config_entries(broker: &Broker) -> Vec<ConfigEntry> {
    let defaults: BTreeMap<&str, String> =
        LogConfig::default().topic_entries().into_iter().collect();
    let mut out = Vec::new();
    for (topic_key, value) in broker.admin().log_defaults().topic_entries() {
        let Some(name) = broker_key_for_topic_key(topic_key) else {
            continue;
        };
        let default = defaults.get(topic_key).cloned().unwrap_or_default();
        let synonyms = broker_layers(broker, &synonym_keys(topic_key), &default);
        let source = synonyms
            .first()
            .map(|s| s.2)
            .unwrap_or(source::DEFAULT_CONFIG);
        out.push(ConfigEntry {
            name: name.to_string(),
            value: as_configured(name, value, &synonyms),
            source,
            read_only: !is_dynamic_broker_key(name),
            synonyms,
        });
    }
    let c = &broker.config();
    let listeners = |ls: &[crate::config::Listener]| {
        ls.iter()
            .map(|l| format!("{}://{}", l.name, l.host_port()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let own: Vec<(&'static str, String)> = vec![
        ("node.id", c.node_id.to_string()),
        ("listeners", listeners(&c.listeners)),
        ("advertised.listeners", listeners(&c.advertised_listeners)),
        (
            "log.dirs",
            c.log_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("num.partitions", c.num_partitions.to_string()),
        (
            "default.replication.factor",
            c.default_replication_factor.to_string(),
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics_enable.to_string(),
        ),
        ("delete.topic.enable", c.delete_topic_enable.to_string()),
        (
            "socket.request.max.bytes",
            c.socket_request_max_bytes.to_string(),
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms.to_string(),
        ),
        (
            "group.min.session.timeout.ms",
            c.group_min_session_timeout_ms.to_string(),
        ),
        (
            "group.max.session.timeout.ms",
            c.group_max_session_timeout_ms.to_string(),
        ),
        (
            "offsets.topic.replication.factor",
            c.offsets_topic_replication_factor.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            c.offsets_topic_num_partitions.to_string(),
        ),
        (
            "offsets.retention.minutes",
            c.offsets_retention_minutes.to_string(),
        ),
        (
            "offsets.commit.timeout.ms",
            c.offsets_commit_timeout_ms.to_string(),
        ),
        ("fetch.max.bytes", c.fetch_max_bytes.to_string()),
        (
            "connections.max.idle.ms",
            c.connections_max_idle
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .to_string(),
        ),
        ("tidewater.http.listener", c.http_listener.to_string()),
        (
            "tidewater.topic.naming.policy.enable",
            c.topic_naming_policy_enable.to_string(),
        ),
    ];
    for (name, value) in own {
        let source = if c.static_props.contains_key(name) {
            source::STATIC_BROKER_CONFIG
        } else {
            source::DEFAULT_CONFIG
        };
        out.push(ConfigEntry {
            name: name.to_string(),
            value: value.clone(),
            source,
            read_only: true,
            synonyms: vec![(name.to_string(), value, source)],
        });
    }
    // Dynamic keys this broker stores but does not list above (SASL, SSL, thread
    // pools, ...): reported with their source, as Kafka lists every config.
    let dynamic = broker.metadata().broker_configs();
    for key in dynamic.keys() {
        if out.iter().any(|e| e.name == *key) {
            continue;
        }
        let synonyms = broker_layers(broker, &[key.as_str()], "");
        let synonyms: Vec<_> = synonyms
            .into_iter()
            .filter(|s| s.2 != source::DEFAULT_CONFIG)
            .collect();
        if let Some(first) = synonyms.first() {
            out.push(ConfigEntry {
                name: key.clone(),
                value: first.1.clone(),
                source: first.2,
                read_only: false,
                synonyms,
            });
        }
    }
    out
}

/// The cluster-wide default broker resource (empty name): only its dynamic
/// configs, as Kafka describes it.
fn broker_default_entries(broker: &Broker) -> Vec<ConfigEntry> {
    broker
        .metadata()
        .dynamic_configs(&DynamicResource::BrokerDefault)
        .into_iter()
        .map(|(name, value)| {
            let s = source::DYNAMIC_DEFAULT_BROKER_CONFIG;
            ConfigEntry {
                synonyms: vec![(name.clone(), value.clone(), s)],
                name,
                value,
                source: s,
                read_only: false,
            }
        })
        .collect()
}

/// A group's configs: its own values, else the broker's group defaults.
fn group_entries(broker: &Broker, group: &str) -> Vec<ConfigEntry> {
    let own = broker
        .metadata()
        .dynamic_configs(&DynamicResource::Group(group.to_string()));
    group_config_values(&broker.config().static_props, &own)
        .into_iter()
        .map(|(name, value, set)| {
            let s = if set {
                source::GROUP_CONFIG
            } else {
                source::DEFAULT_CONFIG
            };
            ConfigEntry {
                name: name.to_string(),
                synonyms: vec![(name.to_string(), value.clone(), s)],
                value,
                source: s,
                read_only: false,
            }
        })
        .collect()
}

/// Kafka's `ConfigType` for DescribeConfigs v3+ (0 = unknown).
fn config_type(name: &str) -> i8 {
    if is_group_key(name) {
        return 3;
    }
    match name {
        "cleanup.policy"
        | "log.cleanup.policy"
        | "listeners"
        | "advertised.listeners"
        | "log.dirs" => 7,
        "message.timestamp.type" | "log.message.timestamp.type" | "tidewater.http.listener" => 2,
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => 6,
        n if n.ends_with(".enable") => 1,
        n if n.ends_with(".ms")
            || n.ends_with(".messages")
            || n == "retention.bytes"
            || n == "log.retention.bytes" =>
        {
            5
        }
        n if n.ends_with(".bytes") || n.ends_with(".partitions") || n == "node.id" => 3,
        n if n.ends_with(".factor") => 4,
        _ => 0,
    }
}

fn describe(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, KafkaError> {
    match resource_type {
        RESOURCE_TOPIC => {
            let topic = broker.metadata().topic(name).ok_or_else(|| {
                KafkaError::new(
                    E::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            })?;
            Ok(topic_config_entries(broker, &topic.configs))
        }
        RESOURCE_BROKER if name.is_empty() => Ok(broker_default_entries(broker)),
        RESOURCE_GROUP if name.is_empty() => Err(KafkaError::new(
            E::InvalidRequest,
            "Group name must not be empty.".to_string(),
        )),
        RESOURCE_GROUP => Ok(group_entries(broker, name)),
        RESOURCE_BROKER => {
            if name != broker.config().node_id.to_string() {
                return Err(KafkaError::new(
                    E::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        broker.config().node_id
                    ),
                ));
            }
            Ok(broker_config_entries(broker))
        }
        other => Err(KafkaError::new(
            E::InvalidRequest,
            format!("Resource type {other} is not supported by this broker"),
        )),
    }
}

pub fn handle(
    broker: &Broker,
    ctx: &super::RequestContext,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let mut resp = DescribeConfigsResponse::default();
    for r in req.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = r.resource_type;
        result.resource_name = r.resource_name.clone();
        let described = super::authz::config_resource(
            broker,
            ctx,
            tidewater_quorum::acl::AclOperation::DescribeConfigs,
            r.resource_type,
            r.resource_name.as_str(),
        )
        .and_then(|()| describe(broker, r.resource_type, r.resource_name.as_str()));
        match described {
            Err(e) => {
                result.error_code = e.code();
                result.error_message = msg(e.message);
            }
            Ok(entries) => {
                result.configs = entries
                    .into_iter()
                    .filter(|e| {
                        r.configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                    })
                    .map(|e| {
                        // Password configs never leave the broker (Kafka: null value).
                        let sensitive =
                            r.resource_type == RESOURCE_BROKER && is_sensitive_broker_key(&e.name);
                        let mut c = DescribeConfigsResourceResult::default();
                        if version >= 3 {
                            c.config_type = config_type(&e.name);
                        }
                        c.name = StrBytes::from_string(e.name);
                        c.value = (!sensitive).then(|| StrBytes::from_string(e.value));
                        c.is_sensitive = sensitive;
                        c.read_only = e.read_only;
                        c.config_source = e.source;
                        if req.include_synonyms {
                            c.synonyms = e
                                .synonyms
                                .into_iter()
                                .map(|(n, v, s)| {
                                    let mut syn = DescribeConfigsSynonym::default();
                                    syn.name = StrBytes::from_string(n);
                                    syn.value = (!sensitive).then(|| StrBytes::from_string(v));
                                    syn.source = s;
                                    syn
                                })
                                .collect();
                        }
                        c
                    })
                    .collect();
            }
        }
        resp.results.push(result);
    }
    resp
}

#[cfg(test)]
pub(crate) mod tests;
